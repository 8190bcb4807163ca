"""Writes the JSONL evaluation files for `townhall eval` from the shared public data (maintainers)."""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from townhall.understanding import corpora

SEED = 7
KB_EXAMPLES_PER_ANSWER = 10


def _write(path: Path, rows: Iterable[dict[str, str]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    print(f"{path}: {n} rows")
    return n


def _pairs(texts: Sequence[str], labels: Sequence[str]) -> list[dict[str, str]]:
    return [{"text": t, "label": lab} for t, lab in zip(texts, labels, strict=True) if t.strip()]


def prepare(data: Path, out: Path, *, seed: int = SEED) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # Only the Banking77 draw below is random: another seed is another draw of its examples.
    rng = random.Random(seed)

    sentiment = corpora.tweeteval(data, "sentiment", "val")
    _write(out / "sentiment_tweeteval_val.jsonl", _pairs(sentiment.texts, sentiment.labels))
    offensive = corpora.tweeteval(data, "offensive", "val")
    off_labels = ["offensive" if lab == "offensive" else "not" for lab in offensive.labels]
    _write(out / "offensive_tweeteval_val.jsonl", _pairs(offensive.texts, off_labels))

    # Complaint proxy: airline tweets whose annotators gave a concrete negative reason are
    # complaints; positive and neutral ones are not; vague negatives ("Can't Tell") are left out.
    airline, reasons = corpora.airline_sentiment(data)
    rows = []
    for text, lab, reason in zip(airline.texts, airline.labels, reasons, strict=True):
        if lab == "negative" and reason and reason != "Can't Tell":
            rows.append({"text": text, "label": "complaint"})
        elif lab in ("positive", "neutral"):
            rows.append({"text": text, "label": "not"})
    _write(out / "complaint_airline.jsonl", rows)

    intent = corpora.intent_dev(data)
    _write(out / "intent_dev.jsonl", _pairs(intent.texts, intent.labels))
    complaint = ["complaint" if lab == "complaint" else "not" for lab in intent.labels]
    _write(out / "complaint_intent_dev.jsonl", _pairs(intent.texts, complaint))

    # Banking77 with few examples per answer: 10 questions form the KB, the rest are queries.
    banking = corpora.banking77(data)
    by_answer: dict[str, list[str]] = defaultdict(list)
    for text, lab in zip(banking.texts, banking.labels, strict=True):
        by_answer[lab].append(text)
    kb_rows, queries = [], []
    for answer, texts in sorted(by_answer.items()):
        texts = texts[:]
        rng.shuffle(texts)
        kb_rows += [{"answer_id": answer, "text": t} for t in texts[:KB_EXAMPLES_PER_ANSWER]]
        queries += [{"text": t, "label": answer} for t in texts[KB_EXAMPLES_PER_ANSWER:]]
    rng.shuffle(queries)
    _write(out / "banking77_kb.jsonl", kb_rows)
    _write(out / "banking77_queries.jsonl", queries)

    train = corpora.clinc150(data, "train")
    _write(
        out / "clinc150_kb.jsonl",
        ({"answer_id": lab, "text": t} for t, lab in zip(train.texts, train.labels, strict=True)),
    )
    val = corpora.clinc150(data, "val")
    oos = corpora.clinc150(data, "oos_val")
    _write(
        out / "clinc150_val.jsonl",
        _pairs(val.texts + oos.texts, val.labels + ["oos"] * len(oos.texts)),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the shared/data folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSONL files")
    parser.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help=f"which 10 Banking77 questions per answer form the KB (default {SEED})",
    )
    args = parser.parse_args(argv)
    prepare(args.data, args.out, seed=args.seed)


if __name__ == "__main__":
    main()
