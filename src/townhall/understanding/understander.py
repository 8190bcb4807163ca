"""The Understander: language, sentiment, intent, risk flags and urgency for batches of messages."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from townhall.core.taxonomy import INTENTS, RISK_FLAGS, SENTIMENTS, URGENCIES
from townhall.understanding.embeddings import ARTEFACTS, STATIC_FILE, StaticEncoder
from townhall.understanding.features import Featuriser, LinearHead, load_npz
from townhall.understanding.language import detect_languages
from townhall.understanding.risk import kind_signals, pattern_flags, sounds_urgent
from townhall.understanding.seeds import SEED_EXAMPLES

HEADS_FILE = ARTEFACTS / "heads.npz"
# Features are built in chunks so a 20k batch does not hold one giant sparse matrix.
CHUNK = 1024
# The offensive head is trained with balanced classes, so 0.5 is its break-even point.
OFFENSIVE_THRESHOLD = 0.5
# Cosine similarity (static embeddings) above which an agent's correction is reused.
CORRECTION_SIMILARITY = 0.8
# Pattern-matched risk kinds outrank the model: the labelling guide gives them priority.
_PATTERN_INTENTS = {
    "threat": "threat",
    "impersonation_phishing": "impersonation_phishing",
    "protest": "protest",
    "confidential_disclosure": "employee_conduct",
}
# The kinds most traffic belongs to; any other kind needs clear evidence (its probability
# at least RARE_MIN) because a false alarm sends a message to the wrong department.
_COMMON_INTENTS = {"complaint", "support_request", "feedback_praise", "other"}
RARE_MIN = 0.5
# Spam is dropped unseen, so it needs the most evidence of all.
SPAM_MIN = 0.9
# The guide: dissatisfaction makes a complaint even when the message also asks or chats.
_DISSATISFACTION_OVERRIDES = {
    "support_request",
    "feedback_praise",
    "other",
    "campaign_reply",
    "spam",
}
# "other" is learnt from general tweets, which make up far more of that training data than
# off-topic chatter makes up of what people send a brand: halve it to match real traffic.
_TRAFFIC_PRIOR = {"other": 0.5}
_LOW_URGENCY_INTENTS = {"feedback_praise", "campaign_reply", "spam", "other"}
_HIGH_URGENCY_INTENTS = {"press_inquiry", "employee_conduct", "protest", "impersonation_phishing"}
_HIGH_URGENCY_FLAGS = {
    "impersonation_phishing",
    "protest",
    "legal_threat",
    "confidential_disclosure",
}


@dataclass(frozen=True)
class Understanding:
    """What one inbound message is: language, sentiment, kind of conversation, risks, urgency."""

    language: str | None
    sentiment: str
    sentiment_score: float
    intent: str
    intent_confidence: float
    risk_flags: tuple[str, ...]
    urgency: str


@dataclass(frozen=True)
class Correction:
    """An agent's fix of one field ("intent" or "sentiment") of a message's understanding."""

    text: str
    field: str
    label: str


class _Models:
    """The shipped artefacts, loaded once per process and shared by every Understander."""

    def __init__(self, heads_file: Path, static_file: Path) -> None:
        arrays = load_npz(heads_file)
        self.featuriser = Featuriser(
            arrays["word_idf"], arrays["char_idf"], StaticEncoder(static_file)
        )
        self.sentiment = LinearHead.from_arrays(arrays, "sentiment")
        self.offensive = LinearHead.from_arrays(arrays, "offensive")
        self.intent = LinearHead.from_arrays(arrays, "intent")


@lru_cache(maxsize=4)
def _models(heads_file: Path = HEADS_FILE, static_file: Path = STATIC_FILE) -> _Models:
    return _Models(heads_file, static_file)


class _Memory:
    """Corrections remembered as embeddings; the closest one wins when it is similar enough."""

    def __init__(self) -> None:
        self.vectors = np.zeros((0, 1), dtype=np.float32)
        self.labels: list[str] = []

    def add(self, vectors: np.ndarray, labels: Sequence[str]) -> None:
        self.vectors = vectors if not self.labels else np.vstack([self.vectors, vectors])
        self.labels = [*self.labels, *labels]

    def lookup(self, emb: np.ndarray, threshold: float) -> list[tuple[str, float] | None]:
        if not self.labels:
            return [None] * len(emb)
        sims = emb @ self.vectors.T
        best = sims.argmax(axis=1)
        return [
            (self.labels[b], float(sims[i, b])) if sims[i, b] >= threshold else None
            for i, b in enumerate(best)
        ]


class Understander:
    """Understands messages with the shipped models, an organisation's intents and its corrections.

    ``intents`` replaces the default kinds of conversation (order = priority, as in the
    guide); ``extra_examples`` adds example messages per intent, which is how a new intent
    the shipped model has never seen is taught.
    """

    def __init__(
        self,
        intents: Sequence[str] | None = None,
        extra_examples: Mapping[str, Sequence[str]] | None = None,
        *,
        correction_similarity: float = CORRECTION_SIMILARITY,
    ) -> None:
        self._models = _models()
        self.intents: tuple[str, ...] = tuple(intents) if intents else INTENTS
        if len(set(self.intents)) != len(self.intents) or not self.intents:
            raise ValueError("intents must be a non-empty list of distinct labels")
        extra = {k: list(v) for k, v in (extra_examples or {}).items()}
        unknown = set(extra) - set(self.intents)
        if unknown:
            raise ValueError(f"examples given for intents not in the taxonomy: {sorted(unknown)}")
        missing = [i for i in self.intents if i not in INTENTS and not extra.get(i)]
        if missing:
            raise ValueError(f"new intents need example messages: {missing}")
        self._correction_similarity = correction_similarity
        self._memory = {"intent": _Memory(), "sentiment": _Memory()}
        self._lock = threading.Lock()
        self._head_columns = [
            self._models.intent.classes.index(i) if i in self._models.intent.classes else -1
            for i in self.intents
        ]
        # The example bank (seeds + the organisation's examples) only steers predictions when
        # the organisation changed the taxonomy or added examples; otherwise the head decides.
        self._custom = self.intents != INTENTS or bool(extra)
        bank_texts: list[str] = []
        bank_labels: list[int] = []  # column in self.intents
        if self._custom:
            for col, intent in enumerate(self.intents):
                examples = [*SEED_EXAMPLES.get(intent, ()), *extra.get(intent, [])]
                bank_texts += examples
                bank_labels += [col] * len(examples)
        self._example_head: LinearHead | None = None
        if self._custom and len(set(bank_labels)) >= 2:
            self._example_head = _fit_examples(
                self._models.featuriser.transform(bank_texts)[0], bank_labels, len(self.intents)
            )

    # -- public API ---------------------------------------------------------------------

    def understand(self, texts: Sequence[str]) -> list[Understanding]:
        """One Understanding per text, in order."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        out: list[Understanding] = []
        languages = detect_languages(texts)
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            out += self._understand_chunk(chunk, languages[start : start + CHUNK])
        return out

    def learn(self, corrections: Sequence[Correction]) -> None:
        """Remember agents' corrections; similar texts get the corrected label from now on."""
        by_field: dict[str, list[Correction]] = {"intent": [], "sentiment": []}
        for c in corrections:
            if c.field not in by_field:
                raise ValueError(f"cannot learn field {c.field!r}: use 'intent' or 'sentiment'")
            allowed = self.intents if c.field == "intent" else SENTIMENTS
            if c.label not in allowed:
                raise ValueError(f"{c.label!r} is not a {c.field} label ({', '.join(allowed)})")
            by_field[c.field].append(c)
        for field, items in by_field.items():
            if items:
                vectors = self._models.featuriser.static.encode([c.text for c in items])
                with self._lock:
                    self._memory[field].add(vectors, [c.label for c in items])

    def intent_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of each of ``self.intents`` per text (rows sum to 1), before rules."""
        x, emb = self._models.featuriser.transform(list(texts))
        return self._intent_proba(x, emb)

    # -- internals ------------------------------------------------------------------------

    def _intent_proba(self, x: sp.csr_matrix, emb: np.ndarray) -> np.ndarray:
        head = self._models.intent.proba(x)
        probs = np.zeros((len(emb), len(self.intents)))
        for col, head_col in enumerate(self._head_columns):
            if head_col >= 0:
                probs[:, col] = head[:, head_col]
        probs *= np.array([_TRAFFIC_PRIOR.get(i, 1.0) for i in self.intents])[None, :]
        total = probs.sum(axis=1, keepdims=True)
        probs = np.divide(probs, total, out=np.zeros_like(probs), where=total > 0)
        if self._example_head is None:
            return probs
        examples = self._example_head.proba(x)
        known = np.array([c >= 0 for c in self._head_columns])
        # Intents the shipped head never saw rely on their examples alone, at full weight:
        # the organisation added them on purpose and described them by example.
        mixed = np.where(known[None, :], 0.5 * probs + 0.5 * examples, examples)
        return np.asarray(mixed / mixed.sum(axis=1, keepdims=True))

    def _understand_chunk(
        self, texts: Sequence[str], languages: Sequence[str | None]
    ) -> list[Understanding]:
        models = self._models
        x, emb = models.featuriser.transform(texts)
        sent = models.sentiment.proba(x)
        cls = models.sentiment.classes
        neg, pos = sent[:, cls.index("negative")], sent[:, cls.index("positive")]
        offensive = models.offensive.proba(models.featuriser.with_profanity(x, texts))[
            :, models.offensive.classes.index("offensive")
        ]
        intents = self._intent_proba(x, emb)
        with self._lock:
            intent_fix = self._memory["intent"].lookup(emb, self._correction_similarity)
            sentiment_fix = self._memory["sentiment"].lookup(emb, self._correction_similarity)
        out = []
        for i, text in enumerate(texts):
            flags = pattern_flags(text)
            if offensive[i] >= OFFENSIVE_THRESHOLD:
                flags.add("offensive")
            sentiment = cls[int(sent[i].argmax())]
            intent, confidence = self._decide_intent(
                intents[i], flags, kind_signals(text), sentiment
            )
            fixed_intent = intent_fix[i]
            if fixed_intent is not None:
                intent, confidence = fixed_intent
            if intent in RISK_FLAGS:
                flags.add(intent)
            score = float(pos[i] - neg[i])
            fixed_sentiment = sentiment_fix[i]
            if fixed_sentiment is not None:
                sentiment = fixed_sentiment[0]
                score = {"negative": min(score, -0.5), "positive": max(score, 0.5)}.get(
                    sentiment, 0.0
                )
            ordered = tuple(f for f in RISK_FLAGS if f in flags)
            out.append(
                Understanding(
                    language=languages[i],
                    sentiment=sentiment,
                    sentiment_score=round(max(-1.0, min(1.0, score)), 4),
                    intent=intent,
                    intent_confidence=round(float(confidence), 4),
                    risk_flags=ordered,
                    urgency=_urgency(intent, set(ordered), text),
                )
            )
        return out

    def _decide_intent(
        self, probs: np.ndarray, flags: set[str], signals: set[str], sentiment: str
    ) -> tuple[str, float]:
        for flag, intent in _PATTERN_INTENTS.items():
            if flag in flags and intent in self.intents:
                return intent, max(0.9, float(probs[self.intents.index(intent)]))
        gated = probs.copy()
        for col, intent in enumerate(self.intents):
            if intent in _COMMON_INTENTS or intent not in INTENTS:
                continue
            if gated[col] < (SPAM_MIN if intent == "spam" else RARE_MIN):
                gated[col] = 0.0
        if not gated.any():
            gated = probs
        best = self.intents[int(gated.argmax())]
        if (
            sentiment == "negative"
            and best in _DISSATISFACTION_OVERRIDES
            and "complaint" in self.intents
        ):
            best = "complaint"
        # An unmistakable press or sales phrasing wins over any kind the guide ranks lower.
        for intent in self.intents[: self.intents.index(best)]:
            if intent in signals:
                return intent, max(0.9, float(probs[self.intents.index(intent)]))
        col = self.intents.index(best)
        return best, float(probs[col])


def _urgency(intent: str, flags: set[str], text: str) -> str:
    if flags & {"threat", "self_harm"}:
        return URGENCIES[3]
    if flags & _HIGH_URGENCY_FLAGS or intent in _HIGH_URGENCY_INTENTS:
        return URGENCIES[2]
    if intent in _LOW_URGENCY_INTENTS:
        return URGENCIES[0]
    if sounds_urgent(text):
        return URGENCIES[2]
    return URGENCIES[1]


def _fit_examples(x: sp.csr_matrix, labels: Sequence[int], n_intents: int) -> LinearHead:
    """A small classifier over an organisation's example messages (fitted in well under a second)."""
    from sklearn.linear_model import LogisticRegression

    # Balanced weights: five examples of a new intent must count as much as thirty seeds.
    model = LogisticRegression(C=10.0, max_iter=300, class_weight="balanced", random_state=0)
    model.fit(x, np.asarray(labels))
    coef = np.zeros((n_intents, x.shape[1]), dtype=np.float32)
    intercept = np.full(n_intents, -1e4)
    fitted = [int(c) for c in model.classes_]
    if len(fitted) == 2:
        # sklearn stores one row for two classes; expand to a symmetric pair.
        coef[fitted[1]], intercept[fitted[1]] = model.coef_[0] / 2, model.intercept_[0] / 2
        coef[fitted[0]], intercept[fitted[0]] = -model.coef_[0] / 2, -model.intercept_[0] / 2
    else:
        for row, col in enumerate(fitted):
            coef[col], intercept[col] = model.coef_[row], model.intercept_[row]
    return LinearHead(tuple(str(i) for i in range(n_intents)), coef, intercept)


@lru_cache(maxsize=1)
def get_understander() -> Understander:
    """The process-wide Understander with the default taxonomy and the shipped models."""
    return Understander()
