"""Measuring the understanding models on labelled JSONL files: reading rows, metrics, runners."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from townhall.core.taxonomy import INTENTS, SENTIMENTS

TASKS = ("sentiment", "offensive", "complaint", "intent", "kb")
TASK_LABELS: dict[str, tuple[str, ...] | None] = {
    "sentiment": SENTIMENTS,
    "offensive": ("offensive", "not"),
    "complaint": ("complaint", "not"),
    "intent": INTENTS,
    "kb": None,  # answer ids come from the KB file, plus "oos"
}
OOS = "oos"


class EvalInputError(ValueError):
    """A row of an evaluation file is not usable; the message names the line and field."""


@dataclass(frozen=True)
class Row:
    text: str
    label: str


def read_rows(path: Path, *, fields: tuple[str, str] = ("text", "label")) -> list[Row]:
    """Rows of a JSONL file with a non-empty string in each of ``fields``."""
    rows: list[Row] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise EvalInputError(f"{path}:{number}: expected a JSON object")
            values = []
            for name in fields:
                value = obj.get(name)
                if not isinstance(value, str) or not value.strip():
                    raise EvalInputError(
                        f"{path}:{number}: field {name!r} must be a non-empty string"
                    )
                values.append(value)
            rows.append(Row(values[0], values[1]))
    if not rows:
        raise EvalInputError(f"{path}: no rows")
    return rows


def check_labels(path: Path, rows: Sequence[Row], allowed: Sequence[str]) -> None:
    allowed_set = set(allowed)
    number = 0
    with path.open(encoding="utf-8") as fh:
        lines = [i for i, line in enumerate(fh, start=1) if line.strip()]
    for number, row in zip(lines, rows, strict=True):
        if row.label not in allowed_set:
            names = sorted(allowed_set)
            shown = ", ".join(names[:15]) + (
                f", ... ({len(names)} labels)" if len(names) > 15 else ""
            )
            raise EvalInputError(
                f"{path}:{number}: field 'label' is {row.label!r}, expected one of {shown}"
            )


@dataclass
class Report:
    """Metrics of one evaluation run."""

    task: str
    n: int
    labels: list[str]
    gold: list[str]
    predicted: list[str]
    seconds: float
    metrics: dict[str, float | None] = field(default_factory=dict)

    def confusion(self) -> list[list[int]]:
        index = {lab: i for i, lab in enumerate(self.labels)}
        matrix = [[0] * len(self.labels) for _ in self.labels]
        for g, p in zip(self.gold, self.predicted, strict=True):
            matrix[index[g]][index[p]] += 1
        return matrix

    def as_json(self) -> dict[str, object]:
        return {"task": self.task, "n": self.n, **self.metrics}


def per_class(
    gold: Sequence[str], predicted: Sequence[str], label: str
) -> tuple[float, float, float]:
    """Precision, recall and F1 of one label (0 where undefined)."""
    tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
    n_pred = sum(1 for p in predicted if p == label)
    n_gold = sum(1 for g in gold if g == label)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def metrics(
    task: str, gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, float | None]:
    """The task's metrics; macro averages are over the labels present in gold or predictions."""
    n = len(gold)
    present = [lab for lab in labels if lab in set(gold) | set(predicted)]
    out: dict[str, float | None] = {
        "accuracy": sum(g == p for g, p in zip(gold, predicted, strict=True)) / n if n else 0.0
    }
    stats = {lab: per_class(gold, predicted, lab) for lab in present}
    out["macro_f1"] = sum(s[2] for s in stats.values()) / len(stats) if stats else 0.0
    if task == "sentiment":
        # TweetEval's rule: recall averaged over the three classes, whatever their frequency.
        out["macro_recall"] = sum(per_class(gold, predicted, lab)[1] for lab in labels) / len(
            labels
        )
    if task == "complaint":
        out["f1_positive"] = per_class(gold, predicted, "complaint")[2]
    if task == "kb":
        inscope = [(g, p) for g, p in zip(gold, predicted, strict=True) if g != OOS]
        oos = [p for g, p in zip(gold, predicted, strict=True) if g == OOS]
        out["accuracy"] = sum(g == p for g, p in inscope) / len(inscope) if inscope else 0.0
        # None (JSON null) when the file has no out-of-scope rows: 0 would claim a failure.
        out["oos_recall"] = sum(p == OOS for p in oos) / len(oos) if oos else None
        out.pop("macro_f1")
    return {k: None if v is None else round(v, 4) for k, v in out.items()}


def run(
    task: str,
    rows: Sequence[Row],
    predict: Callable[[list[str]], list[str]],
    labels: Sequence[str],
) -> Report:
    """Predict every row, timing it, and compute the task's metrics."""
    texts = [r.text for r in rows]
    gold = [r.label for r in rows]
    started = time.perf_counter()
    predicted = predict(texts)
    seconds = time.perf_counter() - started
    all_labels = list(labels) + sorted(set(predicted) - set(labels))
    report = Report(task, len(rows), all_labels, gold, predicted, seconds)
    report.metrics = metrics(task, gold, predicted, labels)
    report.metrics["texts_per_second"] = round(len(rows) / seconds, 1) if seconds > 0 else 0.0
    return report
