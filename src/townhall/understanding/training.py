"""Rebuilds the shipped understanding artefacts from the shippable public data (seeded, offline)."""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from townhall.core.taxonomy import INTENTS
from townhall.understanding import corpora
from townhall.understanding.embeddings import (
    ARTEFACTS,
    STATIC_FILE,
    MiniLMEncoder,
    StaticEncoder,
    load_tokenizer,
)
from townhall.understanding.features import (
    CHAR_FEATURES,
    WORD_FEATURES,
    Featuriser,
    LinearHead,
    fit_idf,
)
from townhall.understanding.seeds import SEED_EXAMPLES

HEADS_FILE = ARTEFACTS / "heads.npz"
SEED = 13
STATIC_DIMS = 256
# Per intent class, how many rows of each transfer corpus to use (balanced against the seeds).
TRANSFER_ROWS = 1500
SEED_WEIGHT = 8.0
# General tweets only stand in for the kinds (a happy tweet is not praise of a brand), so each
# counts half a seed example's weight: the hand-written kinds set the boundaries, the corpora
# add vocabulary.
TRANSFER_WEIGHT = 0.5
OFFENSIVE_C = 0.7

# Banking questions that already voice dissatisfaction are complaints by the guide, not the
# neutral support requests we borrow them for.
_DISSATISFIED = re.compile(
    r"\b(still|yet|again|wrong|twice|haven'?t|hasn'?t|didn'?t|not working|declined|refused"
    r"|stolen|why (is|was|did|has|have)|never|ridiculous|unacceptable)\b",
    re.I,
)


def _log(msg: str) -> None:
    print(f"[training] {msg}", file=sys.stderr, flush=True)


def distil_static(texts: Sequence[str], out: Path = STATIC_FILE) -> None:
    """Distil static token vectors from MiniLM (as model2vec does) and save them int8-quantised.

    Each vocabulary token is run through MiniLM alone; the vectors are reduced by PCA and
    weighted by how rare the token is in the shippable corpora (SIF), so frequent tokens
    ("the", "@") do not dominate the mean of a sentence.
    """
    from sklearn.decomposition import PCA

    encoder = MiniLMEncoder(batch_size=1024)
    tok = load_tokenizer(padding=False)
    vocab = tok.get_vocab_size()
    raw = np.zeros((vocab, MiniLMEncoder.dim), dtype=np.float32)
    for start in range(0, vocab, 1024):
        ids = np.array([[101, i, 102] for i in range(start, min(vocab, start + 1024))])
        raw[start : start + len(ids)] = encoder.encode_tokens(ids, np.ones_like(ids))
    counts: Counter[int] = Counter()
    for enc in tok.encode_batch(list(texts), add_special_tokens=False):
        counts.update(enc.ids)
    total = sum(counts.values())
    freq = np.array([counts.get(i, 0) / total for i in range(vocab)])
    weights = 1e-3 / (1e-3 + freq)
    vectors = PCA(STATIC_DIMS, random_state=SEED).fit_transform(raw).astype(np.float32)
    scales = np.abs(vectors).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    quantised = np.round(vectors / scales[:, None]).astype(np.int8)
    np.savez_compressed(
        out,
        vectors=quantised,
        scales=scales.astype(np.float32),
        weights=weights.astype(np.float32),
    )


def _fit(
    x: sp.csr_matrix,
    y: Sequence[str],
    *,
    c: float,
    weights: np.ndarray | None = None,
    balanced: bool = True,
) -> LinearHead:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=c, max_iter=400, class_weight="balanced" if balanced else None, random_state=SEED
    )
    model.fit(x, np.asarray(y), sample_weight=weights)
    return LinearHead(
        classes=tuple(str(c) for c in model.classes_),
        coef=np.asarray(model.coef_, dtype=np.float32),
        intercept=np.asarray(model.intercept_, dtype=np.float64),
    )


def _nb_scale(x: sp.csr_matrix, y: Sequence[str], positive: str, n_grams: int) -> np.ndarray:
    """Naive-Bayes log-count ratios of the n-gram columns (NB-SVM, Wang & Manning 2012).

    Offensive language hinges on a few words; weighting n-grams by how much more often they
    occur in offensive posts gave the linear model about 2 points of macro-F1.
    """
    present = (x[:, :n_grams] > 0).astype(np.float64)
    is_pos = np.asarray(y) == positive
    pos = np.asarray(present[is_pos].sum(axis=0)).ravel() + 1.0
    neg = np.asarray(present[~is_pos].sum(axis=0)).ravel() + 1.0
    ratio = np.log((pos / pos.sum()) / (neg / neg.sum()))
    return np.concatenate([ratio, np.ones(x.shape[1] - n_grams)])


def _sample(items: Sequence[str], n: int, rng: random.Random) -> list[str]:
    items = list(items)
    return items if len(items) <= n else rng.sample(items, n)


def intent_training_set(data: Path, rng: random.Random) -> tuple[list[str], list[str], np.ndarray]:
    """Seed examples plus transfer rows from the shippable corpora, with sample weights."""
    texts: list[str] = []
    labels: list[str] = []
    weights: list[float] = []

    def add(rows: Sequence[str], label: str, weight: float) -> None:
        texts.extend(rows)
        labels.extend([label] * len(rows))
        weights.extend([weight] * len(rows))

    for label, examples in SEED_EXAMPLES.items():
        add(examples, label, SEED_WEIGHT)
        # Inbound messages mostly start by naming the brand: seeds written without a handle
        # are learnt that way too, so a leading "@user" is no hint of the transfer corpora.
        add([f"@user {t}" for t in examples if not t.startswith("@")], label, SEED_WEIGHT)
    sentiment = corpora.tweeteval(data, "sentiment", "train")
    by_sentiment: dict[str, list[str]] = {}
    for text, lab in zip(sentiment.texts, sentiment.labels, strict=True):
        by_sentiment.setdefault(lab, []).append(text)
    # General negative tweets stand in for dissatisfaction, positive for praise, neutral for
    # the chatter and news a brand is mentioned in.
    add(_sample(by_sentiment["negative"], TRANSFER_ROWS, rng), "complaint", TRANSFER_WEIGHT)
    add(_sample(by_sentiment["positive"], TRANSFER_ROWS, rng), "feedback_praise", TRANSFER_WEIGHT)
    add(_sample(by_sentiment["neutral"], TRANSFER_ROWS, rng), "other", TRANSFER_WEIGHT)
    crisis = corpora.crisislex(data)
    add(_sample(crisis.texts, TRANSFER_ROWS // 3, rng), "other", TRANSFER_WEIGHT)
    questions = [t for t in corpora.banking77(data).texts if not _DISSATISFIED.search(t)]
    questions += corpora.clinc150(data, "train").texts
    add(_sample(questions, TRANSFER_ROWS, rng), "support_request", TRANSFER_WEIGHT)
    sms = corpora.sms_spam(data)
    spam = [t for t, lab in zip(sms.texts, sms.labels, strict=True) if lab == "spam"]
    add(spam, "spam", TRANSFER_WEIGHT)
    return texts, labels, np.array(weights)


def train(data: Path, *, distil: bool = True) -> None:
    rng = random.Random(SEED)
    np.random.seed(SEED)
    started = time.time()
    sentiment = corpora.tweeteval(data, "sentiment", "train")
    offensive = corpora.tweeteval(data, "offensive", "train")
    if distil or not STATIC_FILE.exists():
        _log("distilling static embeddings from MiniLM")
        corpus = (
            sentiment.texts
            + offensive.texts
            + corpora.banking77(data).texts
            + corpora.clinc150(data, "train").texts
        )
        distil_static(corpus)
    static = StaticEncoder()
    intent_texts, intent_labels, intent_weights = intent_training_set(data, rng)

    _log("fitting idf")
    hashing = Featuriser(
        np.ones(WORD_FEATURES, np.float32), np.ones(CHAR_FEATURES, np.float32), static
    )
    idf_corpus = sentiment.texts + offensive.texts + intent_texts
    words, chars = hashing.counts(idf_corpus)
    feats = Featuriser(fit_idf(words), fit_idf(chars), static)

    _log("sentiment head")
    x, _ = feats.transform(sentiment.texts)
    heads = {"sentiment": _fit(x, sentiment.labels, c=1.0)}
    _log("offensive head")
    x = feats.with_profanity(feats.transform(offensive.texts)[0], offensive.texts)
    n_grams = len(feats.word_idf) + len(feats.char_idf)
    scale = _nb_scale(x, offensive.labels, "offensive", n_grams)
    # C from 5-fold cross-validation on the train split (0.2-4): 0.7 and 1.0 scored 0.764, 0.5 0.762.
    head = _fit(sp.csr_matrix(x @ sp.diags(scale)), offensive.labels, c=OFFENSIVE_C)
    # Scaling features then fitting equals fitting then scaling the weights: fold it in.
    head.coef = head.coef * scale[None, :].astype(np.float32)
    heads["offensive"] = head
    _log("intent head")
    x, _ = feats.transform(intent_texts)
    unknown = set(intent_labels) - set(INTENTS)
    if unknown:
        raise ValueError(f"seed labels outside the taxonomy: {sorted(unknown)}")
    heads["intent"] = _fit(x, intent_labels, c=2.0, weights=intent_weights)

    arrays: dict[str, np.ndarray] = {"word_idf": feats.word_idf, "char_idf": feats.char_idf}
    for name, head in heads.items():
        arrays.update(head.arrays(name))
    np.savez_compressed(HEADS_FILE, **arrays)  # type: ignore[arg-type]
    _log(f"wrote {HEADS_FILE} in {time.time() - started:.0f}s")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the shared/data folder")
    parser.add_argument(
        "--keep-static", action="store_true", help="reuse the static embeddings already built"
    )
    args = parser.parse_args(argv)
    if not (args.data / "tweeteval").is_dir():
        parser.error(f"{args.data} does not hold the shared data (no tweeteval/ folder)")
    train(args.data, distil=not args.keep_static)


if __name__ == "__main__":
    main()
