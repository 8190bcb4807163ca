"""`townhall eval`: measure the understanding models on a labelled JSONL file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from townhall.understanding.evaluation import (
    OOS,
    TASK_LABELS,
    TASKS,
    EvalInputError,
    Report,
    check_labels,
    read_rows,
    run,
)


def _predictor(task: str, kb_file: Path | None) -> tuple[object, list[str] | None]:
    """The prediction function of a task and, for kb, the label set the KB file defines."""
    if task == "kb":
        from townhall.understanding.kb import KbEntry, KnowledgeBase

        if kb_file is None:
            raise EvalInputError("task kb needs --kb FILE (JSONL rows with answer_id and text)")
        entries = [
            KbEntry(answer_id=r.text, text=r.label)
            for r in read_rows(kb_file, fields=("answer_id", "text"))
        ]
        kb = KnowledgeBase(entries)
        labels = [*sorted({e.answer_id for e in entries}), OOS]

        def predict_kb(texts: list[str]) -> list[str]:
            return [m.answer_id if m else OOS for m in kb.match(texts)]

        return predict_kb, labels

    from townhall.understanding.understander import get_understander

    understander = get_understander()
    # Load the lazily built parts now, so texts/second measures prediction, not start-up.
    understander.understand(["warm up"])

    def predict(texts: list[str]) -> list[str]:
        results = understander.understand(texts)
        if task == "sentiment":
            return [u.sentiment for u in results]
        if task == "offensive":
            return ["offensive" if "offensive" in u.risk_flags else "not" for u in results]
        if task == "complaint":
            return ["complaint" if u.intent == "complaint" else "not" for u in results]
        return [u.intent for u in results]

    return predict, None


def _print_report(report: Report, console: Console) -> None:
    summary = Table(title=f"{report.task}: {report.n} texts")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key, value in report.metrics.items():
        if value is None:
            summary.add_row(key, "n/a")
        else:
            summary.add_row(key, f"{value:.1f}" if key == "texts_per_second" else f"{value:.4f}")
    console.print(summary)
    if report.task == "kb":
        # 150 answers make an unreadable matrix: show where the mass goes instead.
        table = Table(title="kb outcomes (rows: gold)")
        for col in ("gold", "right answer", "wrong answer", "out of scope"):
            table.add_column(col, justify="right")
        for kind in ("in scope", OOS):
            pairs = [
                (g, p)
                for g, p in zip(report.gold, report.predicted, strict=True)
                if (g == OOS) == (kind == OOS)
            ]
            right = sum(1 for g, p in pairs if g == p and g != OOS)
            out = sum(1 for _, p in pairs if p == OOS)
            table.add_row(kind, str(right), str(len(pairs) - right - out), str(out))
        console.print(table)
        return
    labels = [lab for lab in report.labels if lab in set(report.gold) | set(report.predicted)]
    matrix = report.confusion()
    index = {lab: i for i, lab in enumerate(report.labels)}
    table = Table(title="confusion matrix (rows: gold, columns: predicted)")
    table.add_column("gold \\ predicted")
    for lab in labels:
        table.add_column(lab, justify="right")
    for g in labels:
        table.add_row(g, *(str(matrix[index[g]][index[p]]) for p in labels))
    console.print(table)


def eval_command(
    task: Annotated[str, typer.Argument(help=f"one of: {', '.join(TASKS)}")],
    data: Annotated[Path, typer.Option("--data", help="JSONL rows of {text, label}")],
    kb: Annotated[
        Path | None, typer.Option("--kb", help="for task kb: JSONL rows of {answer_id, text}")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Measure the understanding models on a labelled JSONL file."""
    console = Console()
    if task not in TASKS:
        typer.echo(f"unknown task {task!r}; use one of {', '.join(TASKS)}", err=True)
        raise typer.Exit(2)
    for path in (data, kb):
        if path is not None and not path.is_file():
            typer.echo(f"{path}: no such file", err=True)
            raise typer.Exit(2)
    try:
        rows = read_rows(data)
        predict, kb_labels = _predictor(task, kb)
        labels = kb_labels if kb_labels is not None else list(TASK_LABELS[task] or ())
        check_labels(data, rows, labels)
        report = run(task, rows, predict, labels)  # type: ignore[arg-type]
    except EvalInputError as exc:
        # Plain text, not Rich: the line number and field must survive narrow terminals.
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        _print_report(report, console)
