"""Choose the automatic-answer threshold on CLINC150 validation data (not a timed benchmark).

A knowledge base like an admin writes one (a few example questions per answer: 10 per
CLINC150 intent, taken from its train split) is asked every validation question plus the
out-of-scope validation set. For each candidate threshold it prints how many questions would
be answered automatically (coverage) and how many of those answers would be right
(precision; an out-of-scope question answered at all counts as wrong).

    PYTHONPATH=src .venv/bin/python bench/kb_threshold.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path

from townhall.understanding import corpora
from townhall.understanding.kb import KbEntry, KnowledgeBase

EXAMPLES_PER_ANSWER = 10
THRESHOLDS = (0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.72, 0.75, 0.78, 0.8, 0.85, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    rng = random.Random(7)
    train = corpora.clinc150(args.data, "train")
    by_answer: dict[str, list[str]] = defaultdict(list)
    for text, label in zip(train.texts, train.labels, strict=True):
        by_answer[label].append(text)
    entries = []
    for answer, texts in sorted(by_answer.items()):
        rng.shuffle(texts)
        entries += [KbEntry(answer, t) for t in texts[:EXAMPLES_PER_ANSWER]]
    kb = KnowledgeBase(entries)
    val = corpora.clinc150(args.data, "val")
    oos = corpora.clinc150(args.data, "oos_val")
    texts = val.texts + oos.texts
    gold = val.labels + ["oos"] * len(oos.texts)
    # Scores of every answer; the automatic answer takes the best one as it would in Townhall.
    matches = kb.match(texts)
    print(f"{len(texts)} questions ({len(oos.texts)} out of scope), {len(by_answer)} answers")
    print("threshold  answered  coverage  precision  wrong")
    for threshold in THRESHOLDS:
        answered = [
            (m, g) for m, g in zip(matches, gold, strict=True) if m and m.score >= threshold
        ]
        right = sum(1 for m, g in answered if m.answer_id == g)
        precision = right / len(answered) if answered else 1.0
        print(
            f"{threshold:9.2f}  {len(answered):8d}  {len(answered) / len(texts):8.3f}"
            f"  {precision:9.4f}  {len(answered) - right:5d}"
        )


if __name__ == "__main__":
    main()
