"""Text features shared by training and prediction: normalisation, hashed n-grams, lexicon scores."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from townhall.understanding.embeddings import StaticEncoder

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
_NUMBER = re.compile(r"\d+")


def normalise(text: str) -> str:
    """Lower-case and replace what varies but carries no meaning (links, handles, long runs)."""
    text = _URL.sub(" http ", text.lower())
    text = _MENTION.sub("@user", text)
    text = _NUMBER.sub("0", text)
    return _REPEAT.sub(r"\1\1\1", text)


# Hashing keeps no vocabulary, so the artefacts hold only weights and training is reproducible.
def word_hasher(n_features: int) -> HashingVectorizer:
    return HashingVectorizer(
        n_features=n_features,
        ngram_range=(1, 2),
        alternate_sign=False,
        norm=None,
        preprocessor=normalise,
        token_pattern=r"(?u)[\w'#@]+|[!?]",
    )


def char_hasher(n_features: int) -> HashingVectorizer:
    return HashingVectorizer(
        n_features=n_features,
        analyzer="char_wb",
        ngram_range=(2, 5),
        alternate_sign=False,
        norm=None,
        preprocessor=normalise,
    )


def tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf times idf, rows scaled to unit length (as sklearn's TfidfTransformer)."""
    counts = counts.tocsr().astype(np.float32)
    counts.data = 1.0 + np.log(counts.data)
    weighted = counts @ sp.diags(idf.astype(np.float32))
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ weighted)


def fit_idf(counts: sp.csr_matrix) -> np.ndarray:
    df = np.bincount(counts.tocsr().indices, minlength=counts.shape[1])
    n = counts.shape[0]
    return np.asarray(np.log((1 + n) / (1 + df)) + 1.0, dtype=np.float32)


class Lexicon:
    """VADER lexicon scores (neg, neu, pos, compound) as four dense features."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for i, text in enumerate(texts):
            s = self._vader.polarity_scores(text)
            out[i] = (s["neg"], s["neu"], s["pos"], s["compound"])
        return out


class Profanity:
    """How offensive a text reads to alt-profanity-check, as four dense features.

    Its linear model learnt from about 200,000 Wikipedia talk comments and tweets rated for
    toxicity, far more insults than TweetEval's 12,000 offensive-labelled tweets hold. Besides
    its probability, the head reads the model's strongest word and the sum of its toxic words:
    one strong insult in a long friendly tweet moves the probability little (5-fold
    cross-validation on TweetEval offensive train: 0.759 with the probability, 0.764 with all).
    """

    def __init__(self) -> None:
        from profanity_check import profanity_check as upstream

        self._vectorizer = upstream.vectorizer
        self._model = upstream.model
        # The linear SVM's word weights, averaged over its calibration folds.
        self._word_weights = np.mean(
            [c.estimator.coef_[0] for c in upstream.model.calibrated_classifiers_], axis=0
        ).astype(np.float32)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 4), dtype=np.float32)
        x = self._vectorizer.transform(list(texts))
        p = np.clip(self._model.predict_proba(x)[:, 1].astype(np.float64), 1e-4, 1 - 1e-4)
        present = (x > 0).astype(np.float32)
        toxic_words = sp.csr_matrix(present @ sp.diags(np.maximum(self._word_weights, 0.0)))
        strongest = toxic_words.max(axis=1).toarray().ravel()
        total = np.asarray(toxic_words.sum(axis=1)).ravel()
        # Scaled to about the probability's range (the weights of single words reach ~11).
        return np.stack([p, np.log(p / (1 - p)) / 5, strongest / 3, total / 9], axis=1).astype(
            np.float32
        )


@dataclass
class LinearHead:
    """A multinomial (or binary) linear classifier stored as plain arrays in an .npz file."""

    classes: tuple[str, ...]
    coef: np.ndarray  # (n_classes or 1, n_features)
    intercept: np.ndarray

    def proba(self, x: sp.csr_matrix | np.ndarray) -> np.ndarray:
        scores = np.asarray(x @ self.coef.T, dtype=np.float64) + self.intercept
        if self.coef.shape[0] == 1:
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_classes": np.array(self.classes),
            f"{prefix}_coef": self.coef.astype(np.float16),
            f"{prefix}_intercept": self.intercept.astype(np.float32),
        }

    @classmethod
    def from_arrays(
        cls, data: dict[str, np.ndarray] | np.lib.npyio.NpzFile, prefix: str
    ) -> LinearHead:
        return cls(
            classes=tuple(str(c) for c in data[f"{prefix}_classes"]),
            coef=np.asarray(data[f"{prefix}_coef"], dtype=np.float32),
            intercept=np.asarray(data[f"{prefix}_intercept"], dtype=np.float64),
        )


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


WORD_FEATURES = 2**18
CHAR_FEATURES = 2**18


class Featuriser:
    """Turns texts into the one feature matrix every head reads: n-grams, embeddings, lexicon."""

    def __init__(self, word_idf: np.ndarray, char_idf: np.ndarray, static: StaticEncoder) -> None:
        self.word_idf = word_idf
        self.char_idf = char_idf
        self.static = static
        self.lexicon = Lexicon()
        self.profanity = Profanity()
        self._words = word_hasher(len(word_idf))
        self._chars = char_hasher(len(char_idf))

    @property
    def n_features(self) -> int:
        return len(self.word_idf) + len(self.char_idf) + self.static.dim + 4

    def counts(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        return self._words.transform(texts), self._chars.transform(texts)

    def transform(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """The feature matrix and the static embeddings (reused for similarity look-ups)."""
        words, chars = self.counts(texts)
        emb = self.static.encode(texts)
        lex = self.lexicon.scores(texts)
        x = sp.hstack(
            [
                tfidf(words, self.word_idf),
                tfidf(chars, self.char_idf),
                sp.csr_matrix(emb),
                sp.csr_matrix(lex),
            ],
            format="csr",
        )
        return x, emb

    def with_profanity(self, x: sp.csr_matrix, texts: Sequence[str]) -> sp.csr_matrix:
        """The offensive head's input: the shared features and the profanity score.

        Only that head reads the score: it gained about a point of macro-F1 from it, while the
        sentiment and intent heads lost a little when they had it too (docs/understanding.md).
        """
        return sp.hstack([x, sp.csr_matrix(self.profanity.scores(texts))], format="csr")
