"""Routine-question matching: which knowledge-base answer a message asks for, or none (out of scope)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from townhall.understanding.embeddings import EmbeddingCache, MiniLMEncoder, TokenStates
from townhall.understanding.features import char_hasher, fit_idf, tfidf

# Below this score (cosine, 0..1) a message is out of scope: it answers nothing in the KB.
MIN_SCORE = 0.45
# Up to this many entries a linear classifier is fitted on the entries (about a second);
# it picks the answer better than nearest neighbours when each answer has few examples.
CLASSIFIER_MAX_ENTRIES = 5000
# How the pick weighs the classifier's log-probability, the answers' similarity scores
# (MiniLM), their spelling overlap with the message (character n-grams) and three views of
# MiniLM's token states: the tokens weighted by how rare they are in the KB (idf), in a
# space where the spread between one answer's examples counts less (within-answer
# whitening), each dimension's strongest token (max pooling), and how well each of the
# message's tokens finds its match in an example (token match, see _TokenViews). Which
# signals tell a KB's answers apart depends on the KB: on Banking77 (77 close banking
# answers) the token views do, on CLINC150 (150 answers across domains) the classifier and
# the spelling do, and one fixed set of weights cost one or the other (heavier token views:
# +0.2 points on Banking77, -0.7 on CLINC150 with 10 questions per answer). So each KB
# learns its own weights when it is built, by cross-validation on its own entries (see
# _cross_validated_weights): +0.2 points on thirteen 10-shot draws of Banking77 and +0.4 on
# seven of CLINC150, against these fixed weights. The fixed ones, chosen on both together,
# are kept for KBs too small to learn from (fewer than WEIGHTS_MIN_HELD_OUT entries whose
# answer has another example).
PICK_CLASSIFIER_WEIGHT = 2.0
PICK_SIMILARITY_WEIGHT = 5.0
PICK_LEXICAL_WEIGHT = 5.0
PICK_KEYWORD_WEIGHT = 10.0
PICK_STRONGEST_TOKEN_WEIGHT = 10.0
# Token matching (late interaction) came after the fixed weights were chosen: small KBs,
# which keep them, go without it. Learned, it adds 0.3 points on Banking77 (six 10-shot
# draws, 0.850 -> 0.853, every draw up) and leaves CLINC150's 10-shot draws as they were
# (three draws, 0.897 both ways), where the weights learned give it little.
PICK_TOKEN_MATCH_WEIGHT = 0.0
PICK_WEIGHTS = np.array(
    [
        PICK_CLASSIFIER_WEIGHT,
        PICK_SIMILARITY_WEIGHT,
        PICK_LEXICAL_WEIGHT,
        PICK_KEYWORD_WEIGHT,
        PICK_STRONGEST_TOKEN_WEIGHT,
        PICK_TOKEN_MATCH_WEIGHT,
    ]
)
# The weights are fitted on entries held out of five folds (each answer's examples spread
# over the folds, so every fold keeps at least one example of every answer). Five weights
# need a few hundred held-out entries, not all of a large KB's: only as many folds are
# built as hold out WEIGHTS_HELD_OUT entries, which bounds the extra build time (five small
# pickers for 770 entries, about 1 s more; two for a 5000-entry KB, about 4 s more).
WEIGHTS_FOLDS = 5
WEIGHTS_HELD_OUT = 1000
WEIGHTS_MIN_HELD_OUT = 100
# A weak Gaussian prior on the weights: when the held-out entries are all picked right the
# likelihood alone would grow the weights without bound.
WEIGHTS_L2 = 1e-5
# Token matching costs a product of two token matrices per example, so it compares a message
# only with the examples of its closest answers by sentence similarity; the right answer is
# among the 20 closest for 99.2% of Banking77 questions (10 examples per answer). With it a
# 770-entry KB builds in about 2 s more, a 5,000-entry one in 5 s more (cross-validation
# matches 1,000 held-out entries); a message takes 1-4 ms more.
TOKEN_MATCH_CANDIDATES = 20
LEXICAL_FEATURES = 2**18
# Shrinks the within-answer covariance towards a sphere: ten examples per answer give a
# noisy estimate in 384 dimensions.
WHITENING_SHRINKAGE = 0.6


@dataclass(frozen=True)
class KbEntry:
    """One example question (or the answer text itself) for a knowledge-base answer."""

    answer_id: str
    text: str


@dataclass(frozen=True)
class KbMatch:
    """The best answer for a message and how well it matches (0..1)."""

    answer_id: str
    score: float


_cache_lock = threading.Lock()


@lru_cache(maxsize=1)
def _embedding_cache() -> EmbeddingCache:
    # One MiniLM session and one cache per process: KBs are rebuilt whenever admins edit them.
    with _cache_lock:
        path = os.environ.get("TOWNHALL_EMBEDDING_CACHE")
        return EmbeddingCache(MiniLMEncoder(), path=Path(path) if path else None)


class KnowledgeBase:
    """Matches messages to the answers of an admin-maintained knowledge base.

    An answer's score is the mean of the message's similarity to the answer's closest
    example and to the centroid of its examples (MiniLM embeddings); the best score decides
    whether the message is in scope at all.
    """

    def __init__(
        self,
        entries: Sequence[KbEntry],
        *,
        min_score: float = MIN_SCORE,
        classifier_max_entries: int = CLASSIFIER_MAX_ENTRIES,
    ) -> None:
        self.entries = list(entries)
        self.min_score = min_score
        self._answers = sorted({e.answer_id for e in self.entries})
        index = {a: i for i, a in enumerate(self._answers)}
        self._entry_answer = np.array([index[e.answer_id] for e in self.entries], dtype=np.int64)
        texts = [e.text for e in self.entries]
        with_picker = len(self._answers) >= 2 and len(texts) <= classifier_max_entries
        # Token states first: the same MiniLM run fills the sentence vectors' cache as well.
        states = _embedding_cache().token_states(texts) if with_picker else []
        self._emb = _embedding_cache().encode(texts) if texts else np.zeros((0, 384))
        self._groups = [np.flatnonzero(self._entry_answer == a) for a in range(len(self._answers))]
        self._centroids = _centroids(self._emb, self._groups) if texts else None
        self._picker = (
            _Picker(texts, self._emb, states, self._entry_answer, self._groups)
            if with_picker
            else None
        )

    @property
    def answer_ids(self) -> list[str]:
        """The answers, in the column order of :meth:`scores`."""
        return list(self._answers)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Similarity (0..1) of every answer (columns sorted by answer_id) for each text."""
        return self._scores(self._embed_queries(texts))

    def match(self, texts: Sequence[str]) -> list[KbMatch | None]:
        """The best answer per text, or None when nothing in the KB is close enough."""
        if not texts:
            return []
        if self._picker is not None:
            emb, states = _embedding_cache().encoder.encode_with_states(list(texts))
            scores = self._scores(emb)
            best = self._picker.pick(texts, emb, states, scores)
        else:
            emb = self._embed_queries(texts)
            scores = self._scores(emb)
            if scores.shape[1] == 0:
                return [None] * len(texts)
            best = scores.argmax(axis=1)
        out: list[KbMatch | None] = []
        for row, answer in zip(scores, best, strict=True):
            # In scope is decided on similarity, whichever answer the classifier picked.
            if row.max() < self.min_score:
                out.append(None)
            else:
                out.append(KbMatch(self._answers[int(answer)], round(float(row[int(answer)]), 4)))
        return out

    def _embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        # Messages are seldom repeated: embed them directly rather than filling the cache.
        if not texts or not self._answers:
            return np.zeros((len(texts), 384), dtype=np.float32)
        return _embedding_cache().encoder.encode(list(texts))

    def _scores(self, emb: np.ndarray) -> np.ndarray:
        n_answers = len(self._answers)
        if not len(emb) or not n_answers or self._centroids is None:
            return np.zeros((len(emb), n_answers))
        return _similarity_scores(emb, self._emb, self._centroids, self._groups)


def _similarity_scores(
    emb: np.ndarray, entries: np.ndarray, centroids: np.ndarray, groups: Sequence[np.ndarray]
) -> np.ndarray:
    """MiniLM similarity (0..1) of each message to each answer."""
    return np.clip(_answer_scores(emb @ entries.T, emb @ centroids.T, groups), 0.0, 1.0)


def _top_answers(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices of each row's ``k`` best-scoring answers (all of them when fewer)."""
    if scores.shape[1] <= k:
        return np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def _centroids(entries: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    return _unit_rows(np.stack([entries[g].mean(axis=0) for g in groups]))


def _answer_scores(
    entry_sims: np.ndarray, centroid_sims: np.ndarray, groups: Sequence[np.ndarray]
) -> np.ndarray:
    """Per answer: the mean of the similarity to its closest example and to its centroid."""
    nearest = np.stack([entry_sims[:, g].max(axis=1) for g in groups], axis=1)
    return np.asarray((nearest + centroid_sims) / 2)


class _Picker:
    """Picks the answer in small KBs, from every signal the KB's pick weights weigh.

    The classifier learns from every entry at once; similarity, spelling and the token
    views add what a linear model over ten examples per answer misses.
    """

    def __init__(
        self,
        texts: Sequence[str],
        emb: np.ndarray,
        states: Sequence[TokenStates],
        entry_answer: np.ndarray,
        groups: Sequence[np.ndarray],
    ) -> None:
        self._signals = _Signals(texts, emb, states, entry_answer, groups)
        # Classifier, similarity, spelling, keywords, strongest token, token match: as
        # PICK_WEIGHTS.
        self.weights = _cross_validated_weights(texts, emb, states, entry_answer)

    def pick(
        self,
        texts: Sequence[str],
        emb: np.ndarray,
        states: Sequence[TokenStates],
        scores: np.ndarray,
    ) -> np.ndarray:
        """The chosen answer's index per text (``scores``: the MiniLM similarity scores)."""
        signals = self._signals.stack(texts, emb, states, scores)
        return np.asarray(np.tensordot(self.weights, signals, axes=1).argmax(axis=1))


class _Signals:
    """What the pick weighs, per message and answer, from one set of entries.

    Answers are the indices 0..n-1 of ``groups``; every answer has at least one entry.
    """

    def __init__(
        self,
        texts: Sequence[str],
        emb: np.ndarray,
        states: Sequence[TokenStates],
        entry_answer: np.ndarray,
        groups: Sequence[np.ndarray],
    ) -> None:
        from sklearn.linear_model import LogisticRegression

        # Weak regularisation: entries are few and clean, written by the admins.
        self._classifier = LogisticRegression(C=100.0, max_iter=300, random_state=0).fit(
            emb, entry_answer
        )
        self._emb = emb
        self._centroids = _centroids(emb, groups)
        self._groups = groups
        self._lexical = _Lexical(texts, groups)
        self._token_views = _TokenViews(states, entry_answer, groups)

    def stack(
        self,
        texts: Sequence[str],
        emb: np.ndarray,
        states: Sequence[TokenStates],
        similarity: np.ndarray | None = None,
    ) -> np.ndarray:
        """The signals, shaped (signal, text, answer), in the order of PICK_WEIGHTS."""
        if similarity is None:
            similarity = _similarity_scores(emb, self._emb, self._centroids, self._groups)
        keywords, strongest, token_match = self._token_views.scores(
            states, _top_answers(similarity, TOKEN_MATCH_CANDIDATES)
        )
        # The classifier's classes are the answer indices in order: every answer has an entry.
        classifier = np.log(self._classifier.predict_proba(emb) + 1e-9)
        lexical = self._lexical.scores(texts)
        return np.stack([classifier, similarity, lexical, keywords, strongest, token_match])


def _cross_validated_weights(
    texts: Sequence[str],
    emb: np.ndarray,
    states: Sequence[TokenStates],
    entry_answer: np.ndarray,
) -> np.ndarray:
    """The pick weights that best pick held-out entries' own answers (else PICK_WEIGHTS).

    Each fold's entries are left out of a picker built on the others, which then scores
    them; the weights maximise the likelihood of the right answers under a softmax of the
    weighted signals (a conditional logit: a learned combination of the signals), which is
    smoother, so steadier on a few hundred entries, than counting right picks.
    """
    rng = np.random.default_rng(0)
    n_answers = int(entry_answer.max()) + 1
    # Answer by answer, the examples in random order are dealt to the folds in turn: an
    # answer's examples land in different folds and the folds differ in size by one at most.
    dealt = []
    for answer in range(n_answers):
        members = np.flatnonzero(entry_answer == answer)
        if len(members) >= 2:  # its only example held out, the answer would be missing
            dealt.append(rng.permutation(members))
    fold = np.full(len(texts), -1)
    if dealt:
        order = np.concatenate(dealt)
        fold[order] = np.arange(len(order)) % WEIGHTS_FOLDS
    candidates = int((fold >= 0).sum())
    if candidates < WEIGHTS_MIN_HELD_OUT:
        return PICK_WEIGHTS.copy()
    wanted = int(np.ceil(WEIGHTS_HELD_OUT * WEIGHTS_FOLDS / candidates))
    folds = min(WEIGHTS_FOLDS, candidates, wanted)  # every fold built holds out an entry
    signals, right = [], []
    for f in range(folds):
        kept, held_out = np.flatnonzero(fold != f).tolist(), np.flatnonzero(fold == f).tolist()
        kept_answer = entry_answer[kept]
        groups = [np.flatnonzero(kept_answer == a) for a in range(n_answers)]
        fold_signals = _Signals(
            [texts[i] for i in kept], emb[kept], [states[i] for i in kept], kept_answer, groups
        )
        signals.append(
            fold_signals.stack(
                [texts[i] for i in held_out], emb[held_out], [states[i] for i in held_out]
            )
        )
        right.append(entry_answer[held_out])
    return _fit_weights(np.concatenate(signals, axis=1), np.concatenate(right))


def _fit_weights(signals: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Non-negative weights maximising the mean log-likelihood of the right answers.

    ``signals`` is shaped (signal, entry, answer); ``right`` is each entry's answer index.
    """
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    rows = np.arange(len(right))
    observed = signals[:, rows, right]

    def loss(weights: np.ndarray) -> tuple[float, np.ndarray]:
        pick = np.tensordot(weights, signals, axes=1)
        normaliser = logsumexp(pick, axis=1)
        probability = np.exp(pick - normaliser[:, None])
        expected = np.einsum("sea,ea->se", signals, probability)
        value = -(pick[rows, right] - normaliser).mean() + WEIGHTS_L2 * weights @ weights
        gradient = -(observed - expected).mean(axis=1) + 2 * WEIGHTS_L2 * weights
        return float(value), gradient

    start = PICK_WEIGHTS / PICK_WEIGHTS.sum()
    fitted = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(start)).x
    if not np.isfinite(fitted).all() or fitted.sum() <= 0:
        return PICK_WEIGHTS.copy()
    return np.asarray(fitted)


class _Lexical:
    """Character n-gram TF-IDF similarity of a message to each answer's examples (0..1).

    Like the MiniLM score: the mean of the similarity to the closest example and to the
    centroid of the answer's examples; the idf comes from the KB's own entries.
    """

    def __init__(self, texts: Sequence[str], groups: Sequence[np.ndarray]) -> None:
        self._hasher = char_hasher(LEXICAL_FEATURES)
        counts = self._hasher.transform(texts)
        self._idf = fit_idf(counts)
        self._entries = tfidf(counts, self._idf)
        self._groups = groups
        # Kept sparse: dense centroids over 2**18 n-gram buckets took most of a build, and
        # the weights' cross-validation builds this five more times.
        answers = np.concatenate([np.full(len(g), a) for a, g in enumerate(groups)])
        members = np.concatenate(groups)
        sizes = np.array([len(g) for g in groups], dtype=np.float64)
        mean = sp.csr_matrix(
            (1.0 / sizes[answers], (answers, members)), shape=(len(groups), len(texts))
        )
        centroids = sp.csr_matrix(mean @ self._entries)
        norms = np.sqrt(np.asarray(centroids.multiply(centroids).sum(axis=1)).ravel())
        self._centroids = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-9)) @ centroids)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        x = tfidf(self._hasher.transform(texts), self._idf)
        return _answer_scores(
            (x @ self._entries.T).toarray(), (x @ self._centroids.T).toarray(), self._groups
        )


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return np.asarray(matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9))


class _TokenViews:
    """Three views of MiniLM's token states, scored per answer.

    Keywords: the token states weighted by idf (from the KB's own entries), so the
    words that tell answers apart outweigh "how", "my" and "card", then whitened by the
    spread between examples of the same answer. Strongest token: each dimension's maximum
    over the tokens. These two are scored like the sentence embeddings. Token match (late
    interaction, as ColBERT's MaxSim): each of the message's tokens finds its closest token
    in an example, and the idf-weighted mean of those similarities is the example's score;
    an answer scores as its closest example. It sees which words of a message an example
    has, where pooled vectors blur them.
    """

    def __init__(
        self, entries: Sequence[TokenStates], entry_answer: np.ndarray, groups: Sequence[np.ndarray]
    ) -> None:
        self._groups = groups
        document_frequency: dict[int, int] = {}
        for entry in entries:
            for token in set(entry.ids.tolist()):
                document_frequency[token] = document_frequency.get(token, 0) + 1
        n = len(entries)
        self._idf = {
            t: float(np.log((1 + n) / (1 + df)) + 1.0) for t, df in document_frequency.items()
        }
        # Tokens no entry has are as rare as can be in this KB.
        self._unseen_idf = float(np.log(1 + n) + 1.0)
        keywords = self._keywords(entries)
        means = np.stack([keywords[g].mean(axis=0) for g in groups])
        spread = np.atleast_2d(np.cov((keywords - means[entry_answer]).T))
        sphere = np.trace(spread) / len(spread)
        if sphere <= 1e-12:  # one example per answer: nothing to whiten by
            self._whitening = np.eye(len(spread))
        else:
            spread = (1 - WHITENING_SHRINKAGE) * spread + WHITENING_SHRINKAGE * sphere * np.eye(
                len(spread)
            )
            values, vectors = np.linalg.eigh(spread)
            self._whitening = vectors / np.sqrt(values)
        self._keyword_entries = _unit_rows(keywords @ self._whitening)
        self._keyword_centroids = _centroids(self._keyword_entries, groups)
        self._strongest_entries = self._strongest(entries)
        self._strongest_centroids = _centroids(self._strongest_entries, groups)
        # Each answer's example tokens in one matrix (unit rows), and where each example
        # starts in it; an answer whose examples have no tokens has none.
        self._answer_tokens: list[tuple[np.ndarray, np.ndarray] | None] = []
        for group in groups:
            examples = [entries[i].states for i in group if len(entries[i].ids)]
            self._answer_tokens.append(
                (
                    _unit_rows(np.vstack(examples)).astype(np.float32),
                    np.cumsum([0] + [len(e) for e in examples])[:-1],
                )
                if examples
                else None
            )

    def scores(
        self, texts: Sequence[TokenStates], candidates: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per text and answer: the keyword, strongest-token and token-match scores.

        Token match is scored for each text's ``candidates`` (answer indices) only; the
        other answers get the lowest of those scores, so it ranks them below the candidates
        without a penalty that would outweigh the other signals.
        """
        keywords = _unit_rows(self._keywords(texts) @ self._whitening)
        strongest = self._strongest(texts)
        return (
            _answer_scores(
                keywords @ self._keyword_entries.T,
                keywords @ self._keyword_centroids.T,
                self._groups,
            ),
            _answer_scores(
                strongest @ self._strongest_entries.T,
                strongest @ self._strongest_centroids.T,
                self._groups,
            ),
            self._token_match(texts, candidates),
        )

    def _token_match(self, texts: Sequence[TokenStates], candidates: np.ndarray) -> np.ndarray:
        out = np.zeros((len(texts), len(self._groups)), dtype=np.float32)
        for row, text in enumerate(texts):
            if not len(text.ids):
                continue
            scored = []
            idf = np.array([self._idf.get(t, self._unseen_idf) for t in text.ids.tolist()])
            idf /= idf.sum()
            tokens = _unit_rows(text.states).astype(np.float32)
            for answer in candidates[row]:
                example_tokens = self._answer_tokens[answer]
                if example_tokens is None:
                    continue
                matrix, starts = example_tokens
                # Per message token, its closest token within each example.
                closest = np.maximum.reduceat(tokens @ matrix.T, starts, axis=1)
                out[row, answer] = (idf @ closest).max()
                scored.append(answer)
            if scored:
                others = np.setdiff1d(np.arange(len(self._groups)), scored)
                out[row, others] = out[row, scored].min()
        return out

    def _keywords(self, texts: Sequence[TokenStates]) -> np.ndarray:
        out = np.zeros((len(texts), 384))
        for row, text in enumerate(texts):
            if len(text.ids):
                idf = np.array([self._idf.get(t, self._unseen_idf) for t in text.ids.tolist()])
                out[row] = (idf[:, None] * text.states).sum(axis=0)
        return _unit_rows(out)

    @staticmethod
    def _strongest(texts: Sequence[TokenStates]) -> np.ndarray:
        out = np.zeros((len(texts), 384))
        for row, text in enumerate(texts):
            if len(text.ids):
                out[row] = text.states.max(axis=0)
        return _unit_rows(out)
