"""The knowledge base: in-scope questions match their answer, out-of-scope ones match nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from townhall.understanding import KbEntry, KbMatch, KnowledgeBase
from townhall.understanding import kb as kb_module
from townhall.understanding.embeddings import EmbeddingCache, TokenStates
from townhall.understanding.kb import (
    PICK_WEIGHTS,
    _embedding_cache,
    _fit_weights,
    _Lexical,
    _TokenViews,
)

pytestmark = pytest.mark.xdist_group("understanding")

ENTRIES = [
    KbEntry("reset_password", "I forgot my password"),
    KbEntry("reset_password", "how do I reset my password"),
    KbEntry("reset_password", "can't log in, need a new password"),
    KbEntry("webinar_date", "when is your next webinar"),
    KbEntry("webinar_date", "what date is the online seminar"),
    KbEntry("webinar_date", "is there a webinar this month"),
    KbEntry("baggage_allowance", "how many bags can I check in"),
    KbEntry("baggage_allowance", "what is the luggage allowance"),
    KbEntry("baggage_allowance", "how heavy can my suitcase be"),
]


# Questions the ENTRIES answer, each worded otherwise than any of their examples.
IN_SCOPE = {
    "I lost my password, please help": "reset_password",
    "When does the next webinar take place?": "webinar_date",
    "What's the weight limit for checked luggage?": "baggage_allowance",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase(ENTRIES)


def test_in_scope_questions_match(kb: KnowledgeBase) -> None:
    matches = kb.match(list(IN_SCOPE))
    assert [m.answer_id if m else None for m in matches] == list(IN_SCOPE.values())
    assert all(isinstance(m, KbMatch) and 0 < m.score <= 1 for m in matches)


def test_out_of_scope_is_rejected(kb: KnowledgeBase) -> None:
    assert kb.match(["what a beautiful sunset over the ocean tonight"]) == [None]


def test_empty_inputs() -> None:
    assert KnowledgeBase([]).match(["anything"]) == [None]
    assert KnowledgeBase(ENTRIES[:3]).match([]) == []
    # A single answer still works (no classifier can be trained on one class).
    (m,) = KnowledgeBase(ENTRIES[:3]).match(["forgot my password"])
    assert m is not None
    assert m.answer_id == "reset_password"


def test_large_kb_uses_nearest_neighbours() -> None:
    kb = KnowledgeBase(ENTRIES, classifier_max_entries=0)
    (m,) = kb.match(["how many suitcases may I check in?"])
    assert m is not None
    assert m.answer_id == "baggage_allowance"


def test_embedding_cache_persists(tmp_path: Path) -> None:
    encoder = _embedding_cache().encoder
    path = tmp_path / "cache.npz"
    first = EmbeddingCache(encoder, path=path)
    vectors = first.encode(["how do I reset my password", "opening hours"])
    assert path.is_file()
    second = EmbeddingCache(encoder, path=path)
    assert len(second) == 2
    np.testing.assert_allclose(second.encode(["opening hours"])[0], vectors[1], atol=1e-3)


def test_lexical_similarity_prefers_the_answer_spelled_alike() -> None:
    lexical = _Lexical(["reset my password", "opening hours"], [np.array([0]), np.array([1])])
    scores = lexical.scores(["password reset please", "what are your opening hours"])
    assert scores.argmax(axis=1).tolist() == [0, 1]
    assert ((scores >= 0) & (scores <= 1 + 1e-6)).all()


def test_token_states_persist_apart_from_vectors(tmp_path: Path) -> None:
    encoder = _embedding_cache().encoder
    path = tmp_path / "cache.npz"
    (states,) = EmbeddingCache(encoder, path=path).token_states(["how do I reset my password"])
    # [CLS] and [SEP] are left out: one state per word piece of the text.
    assert len(states.ids) == len(states.states) == 6
    assert (tmp_path / "cache.tokens.npz").is_file()
    again = EmbeddingCache(encoder, path=path)
    (reread,) = again.token_states(["how do I reset my password"])
    np.testing.assert_array_equal(reread.ids, states.ids)
    np.testing.assert_allclose(reread.states, states.states, atol=1e-2)
    # The sentence vector came from the same run, so it is remembered too.
    assert len(again) == 1


def test_token_views_pick_the_answer_sharing_the_rare_words() -> None:
    encoder = _embedding_cache().encoder
    texts = ["my card payment was declined", "my transfer was declined", "", "card arrived?"]
    _, states = encoder.encode_with_states(texts)
    assert len(states[2].ids) == 0  # nothing to pool: scores 0, no error
    answers = np.array([0, 1, 1, 0])
    groups = [np.array([0, 3]), np.array([1, 2])]
    views = _TokenViews(states, answers, groups)
    _, queries = encoder.encode_with_states(
        ["why was my transfer declined", "card payment declined"]
    )
    keywords, strongest, token_match = views.scores(queries, np.array([[0, 1], [0, 1]]))
    assert keywords.argmax(axis=1).tolist() == [1, 0]
    assert strongest.shape == (2, 2)
    # "transfer" and "card payment" each have their exact tokens in one answer's example.
    assert token_match.argmax(axis=1).tolist() == [1, 0]
    assert (token_match <= 1.0 + 1e-6).all()
    # Only the candidate answers are token-matched; the others get the lowest candidate's
    # score, which here is the one candidate's own.
    _, _, only_second = views.scores(queries, np.array([[1], [1]]))
    np.testing.assert_allclose(only_second[:, 1], token_match[:, 1])
    np.testing.assert_allclose(only_second[:, 0], token_match[:, 1])


def test_token_views_with_one_example_per_answer() -> None:
    # No spread within answers to whiten by: the keyword view falls back to plain cosine.
    encoder = _embedding_cache().encoder
    _, states = encoder.encode_with_states(["opening hours", "lost luggage"])
    views = _TokenViews(states, np.array([0, 1]), [np.array([0]), np.array([1])])
    _, queries = encoder.encode_with_states(["when do you open", "my bag is lost"])
    keywords, strongest, token_match = views.scores(queries, np.array([[0, 1], [0, 1]]))
    assert np.isfinite(keywords).all()
    assert keywords.argmax(axis=1).tolist() == [0, 1]
    assert strongest.argmax(axis=1).tolist() == [0, 1]
    assert token_match.argmax(axis=1).tolist() == [0, 1]


def test_token_states_are_bounded_apart_from_vectors() -> None:
    class Counting:
        dim = 384

        def __init__(self) -> None:
            self.runs = 0

        def encode_with_states(self, texts: list[str]) -> tuple[np.ndarray, list[TokenStates]]:
            self.runs += 1
            return _embedding_cache().encoder.encode_with_states(texts)

    counting = Counting()
    cache = EmbeddingCache(counting, max_token_texts=1)  # type: ignore[arg-type]
    cache.token_states(["opening hours"])
    cache.token_states(["opening hours"])
    assert counting.runs == 1
    cache.token_states(["lost luggage"])  # over the bound: the first text is dropped
    cache.token_states(["opening hours"])
    assert counting.runs == 3
    assert len(cache) == 2  # the sentence vectors are kept


def test_fitted_weights_favour_the_signal_that_tells_answers_apart() -> None:
    rng = np.random.default_rng(1)
    right = rng.integers(0, 4, size=300)
    signals = rng.normal(size=(len(PICK_WEIGHTS), 300, 4))
    signals[3, np.arange(300), right] += 2.0  # only the keyword view knows the answer
    weights = _fit_weights(signals, right)
    assert (weights >= 0).all()
    assert weights.argmax() == 3
    assert weights[3] > 5 * np.delete(weights, 3).max()


def test_small_kb_keeps_the_default_pick_weights(kb: KnowledgeBase) -> None:
    # Nine entries: too few held-out examples to learn five weights from.
    assert kb._picker is not None
    np.testing.assert_array_equal(kb._picker.weights, PICK_WEIGHTS)


def test_pick_weights_come_from_cross_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    fitted: list[tuple[np.ndarray, np.ndarray]] = []

    def spy(signals: np.ndarray, right: np.ndarray) -> np.ndarray:
        fitted.append((signals, right))
        return _fit_weights(signals, right)

    monkeypatch.setattr(kb_module, "WEIGHTS_MIN_HELD_OUT", 1)
    monkeypatch.setattr(kb_module, "_fit_weights", spy)
    lone = KbEntry("opening_hours", "when are you open")  # one example: never held out
    kb = KnowledgeBase([*ENTRIES, lone])
    ((signals, right),) = fitted
    # Every entry whose answer has another example was held out once, scored by a picker
    # built without it, on all four answers.
    assert signals.shape == (len(PICK_WEIGHTS), len(ENTRIES), 4)
    assert sorted(right.tolist()) == sorted(kb.answer_ids.index(e.answer_id) for e in ENTRIES)
    assert kb._picker is not None
    weights = kb._picker.weights
    assert np.isfinite(weights).all() and (weights >= 0).all()
    assert not np.array_equal(weights, PICK_WEIGHTS)
    matches = kb.match(list(IN_SCOPE))
    assert [m.answer_id if m else None for m in matches] == list(IN_SCOPE.values())


def test_large_kbs_hold_out_only_enough_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    held_out: list[int] = []

    def spy(signals: np.ndarray, right: np.ndarray) -> np.ndarray:
        held_out.append(len(right))
        return _fit_weights(signals, right)

    monkeypatch.setattr(kb_module, "WEIGHTS_MIN_HELD_OUT", 1)
    monkeypatch.setattr(kb_module, "WEIGHTS_HELD_OUT", 3)
    monkeypatch.setattr(kb_module, "_fit_weights", spy)
    KnowledgeBase(ENTRIES)
    # Two of the five folds are built (3 of 9 entries wanted); the nine are dealt 2, 2, 2, 2, 1.
    assert held_out == [4]
