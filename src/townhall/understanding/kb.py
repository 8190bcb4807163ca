"""Routine-question matching: which knowledge-base answer a message asks for, or none (out of scope)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from townhall.understanding.embeddings import EmbeddingCache, MiniLMEncoder

# Below this score (cosine, 0..1) a message is out of scope: it answers nothing in the KB.
MIN_SCORE = 0.45
# Up to this many entries a linear classifier is fitted on the entries (about a second);
# it picks the answer better than nearest neighbours when each answer has few examples.
CLASSIFIER_MAX_ENTRIES = 5000


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
        self._emb = _embedding_cache().encode(texts) if texts else np.zeros((0, 384))
        self._groups = [np.flatnonzero(self._entry_answer == a) for a in range(len(self._answers))]
        centroids = np.stack([self._emb[g].mean(axis=0) for g in self._groups]) if texts else None
        if centroids is not None:
            centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
        self._centroids = centroids
        self._classifier = None
        if len(self._answers) >= 2 and len(texts) <= classifier_max_entries:
            from sklearn.linear_model import LogisticRegression

            # Weak regularisation: entries are few and clean, written by the admins.
            self._classifier = LogisticRegression(C=100.0, max_iter=300, random_state=0).fit(
                self._emb, self._entry_answer
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
        emb = self._embed_queries(texts)
        scores = self._scores(emb)
        if scores.shape[1] == 0:
            return [None] * len(texts)
        if self._classifier is not None:
            probs = self._classifier.predict_proba(emb)
            best = self._classifier.classes_[probs.argmax(axis=1)]
        else:
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
        sims = emb @ self._emb.T
        nearest = np.stack([sims[:, g].max(axis=1) for g in self._groups], axis=1)
        return np.clip((nearest + emb @ self._centroids.T) / 2, 0.0, 1.0)
