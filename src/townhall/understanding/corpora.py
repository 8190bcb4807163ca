"""Readers for the public labelled data in shared/data (training, evaluation and benchmarks)."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

SENTIMENT_NAMES = ("negative", "neutral", "positive")

# Licence of each folder: only "ship" data may train artefacts that go into the package.
SHIPPABLE = {
    "tweeteval",
    "banking77",
    "clinc150",
    "davidson_hate_offensive",
    "crisislex",
    "sms_spam_collection",
}


@dataclass(frozen=True)
class Labelled:
    """Texts with one label each."""

    texts: list[str]
    labels: list[str]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def tweeteval(data: Path, task: str, split: str) -> Labelled:
    """A TweetEval task split, labels mapped to their names (sentiment, offensive, ...)."""
    folder = data / "tweeteval" / task
    names = {}
    for line in _lines(folder / "mapping.txt"):
        key, name = line.split("\t")
        names[key.strip()] = name.strip()
    texts = [t.strip() for t in _lines(folder / f"{split}_text.txt")]
    labels = [names[x.strip()] for x in _lines(folder / f"{split}_labels.txt")]
    if len(texts) != len(labels):
        raise ValueError(f"{folder}: {len(texts)} texts but {len(labels)} labels")
    return Labelled(texts, labels)


def banking77(data: Path) -> Labelled:
    with (data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return Labelled([r["text"] for r in rows], [r["category"] for r in rows])


def clinc150(data: Path, split: str) -> Labelled:
    """CLINC150 split: train, val, oos_train or oos_val (oos rows are labelled "oos")."""
    raw = json.loads((data / "clinc150" / "train_val.json").read_text(encoding="utf-8"))
    return Labelled([t for t, _ in raw[split]], [lab for _, lab in raw[split]])


def davidson(data: Path) -> Labelled:
    """Davidson et al. tweets labelled hate / offensive / neither."""
    names = {"0": "hate", "1": "offensive", "2": "neither"}
    with (data / "davidson_hate_offensive" / "labeled_data.csv").open(
        encoding="utf-8", newline=""
    ) as fh:
        rows = list(csv.DictReader(fh))
    return Labelled([r["tweet"] for r in rows], [names[r["class"]] for r in rows])


def sms_spam(data: Path) -> Labelled:
    texts, labels = [], []
    for line in _lines(data / "sms_spam_collection" / "SMSSpamCollection"):
        if "\t" in line:
            label, text = line.split("\t", 1)
            texts.append(text)
            labels.append(label)
    return Labelled(texts, labels)


def crisislex(data: Path) -> Labelled:
    """CrisisLex T26 tweets labelled by information type (e.g. "Caution and advice")."""
    texts, labels = [], []
    for path in sorted((data / "crisislex" / "CrisisLexT26").glob("*-tweets_labeled.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row in reader:
                if len(row) >= 5:
                    texts.append(row[1])
                    labels.append(row[3].strip())
    return Labelled(texts, labels)


def airline_sentiment(data: Path) -> tuple[Labelled, list[str]]:
    """Tweets to US airlines (evaluation only): sentiment labels and the negative reason."""
    with (data / "twitter_airline_sentiment" / "Tweets.csv").open(
        encoding="utf-8", newline=""
    ) as fh:
        rows = list(csv.DictReader(fh))
    return (
        Labelled([r["text"] for r in rows], [r["airline_sentiment"] for r in rows]),
        [r["negativereason"] or "" for r in rows],
    )


def intent_dev(data: Path) -> Labelled:
    """The 293 labelled airline tweets of intent_dev (evaluation only)."""
    texts, labels = [], []
    for line in _lines(data / "intent_dev" / "twacs_intent_dev.jsonl"):
        if line.strip():
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(row["label"])
    return Labelled(texts, labels)


_CUST_TURN = re.compile(r"<cust__\s*(.*?)\s*__cust>", re.S)


def twacs_first_messages(data: Path, limit: int | None = None) -> list[str]:
    """First customer messages of the airline threads (benchmarks only), brand as @airline."""
    csv.field_size_limit(10_000_000)
    out: list[str] = []
    with (data / "twacs_airlines" / "airlines_raw.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            match = _CUST_TURN.search(row["first_utterance"])
            text = match.group(1) if match else row["first_utterance"]
            text = text.replace("__company__", "@airline").replace("__cust__", "@customer")
            out.append(" ".join(text.split()))
            if limit is not None and len(out) >= limit:
                break
    return out
