"""`townhall eval`: metrics against hand-computed numbers, and line-numbered input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from townhall.understanding import cli as eval_cli
from townhall.understanding import prepare_eval
from townhall.understanding.evaluation import (
    EvalInputError,
    Row,
    check_labels,
    metrics,
    read_rows,
    run,
)

pytestmark = pytest.mark.xdist_group("understanding")


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
        encoding="utf-8",
    )
    return path


def test_sentiment_metrics_by_hand() -> None:
    gold = ["negative", "negative", "neutral", "neutral", "positive", "positive"]
    pred = ["negative", "neutral", "neutral", "neutral", "positive", "negative"]
    m = metrics("sentiment", gold, pred, ["negative", "neutral", "positive"])
    # recalls: negative 1/2, neutral 2/2, positive 1/2 -> 2/3
    assert m["macro_recall"] == pytest.approx(0.6667, abs=1e-4)
    # precisions: negative 1/2, neutral 2/3, positive 1/1
    # F1: negative 0.5, neutral 0.8, positive 2/3 -> mean 0.65556
    assert m["macro_f1"] == pytest.approx(0.6556, abs=1e-4)
    assert m["accuracy"] == pytest.approx(4 / 6, abs=1e-4)


def test_complaint_and_kb_metrics_by_hand() -> None:
    gold = ["complaint", "complaint", "not", "not"]
    pred = ["complaint", "not", "complaint", "not"]
    m = metrics("complaint", gold, pred, ["complaint", "not"])
    assert m["f1_positive"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx(0.5)
    m = metrics("kb", ["a", "b", "b", "oos", "oos"], ["a", "a", "b", "oos", "b"], ["a", "b", "oos"])
    assert m["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["oos_recall"] == pytest.approx(0.5)
    # No out-of-scope rows: the recall is undefined, not zero.
    assert metrics("kb", ["a"], ["a"], ["a", "oos"])["oos_recall"] is None


def test_run_reports_speed_and_confusion() -> None:
    rows = [Row("x", "offensive"), Row("y", "not"), Row("z", "not")]
    report = run("offensive", rows, lambda texts: ["not"] * len(texts), ["offensive", "not"])
    assert report.confusion() == [[0, 1], [0, 2]]
    assert report.metrics["texts_per_second"] > 0
    # F1: offensive 0, not 0.8 -> 0.4
    assert report.as_json()["macro_f1"] == pytest.approx(0.4)


def test_bad_rows_name_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", [{"text": "fine", "label": "not"}, "", '{"text": 3}'])
    with pytest.raises(EvalInputError, match=r"bad.jsonl:3: field 'text'"):
        read_rows(path)
    path = _write(tmp_path / "bad2.jsonl", [{"text": "a", "label": "not"}, "{oops"])
    with pytest.raises(EvalInputError, match=r"bad2.jsonl:2: not valid JSON"):
        read_rows(path)
    path = _write(tmp_path / "bad3.jsonl", [{"text": "a", "label": "not"}, {"text": "b"}])
    with pytest.raises(EvalInputError, match=r"bad3.jsonl:2: field 'label'"):
        read_rows(path)
    path = _write(
        tmp_path / "bad4.jsonl", [{"text": "a", "label": "not"}, "", {"text": "b", "label": "meh"}]
    )
    with pytest.raises(EvalInputError, match=r"bad4.jsonl:3: field 'label' is 'meh'"):
        check_labels(path, read_rows(path), ["offensive", "not"])


def test_cli_json_with_hand_computed_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _write(
        tmp_path / "s.jsonl",
        [
            {"text": "good", "label": "positive"},
            {"text": "bad", "label": "negative"},
            {"text": "meh", "label": "neutral"},
            {"text": "fine", "label": "positive"},
        ],
    )
    answers = {"good": "positive", "bad": "negative", "meh": "negative", "fine": "neutral"}

    def fake_predictor(task: str, kb: Path | None) -> tuple[object, None]:
        return (lambda texts: [answers[t] for t in texts]), None

    monkeypatch.setattr(eval_cli, "_predictor", fake_predictor)
    from townhall.cli import app

    result = CliRunner().invoke(app, ["eval", "sentiment", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["task"] == "sentiment"
    assert out["n"] == 4
    # recalls: negative 1, neutral 0, positive 1/2 -> 0.5; accuracy 2/4
    assert out["macro_recall"] == pytest.approx(0.5)
    assert out["accuracy"] == pytest.approx(0.5)
    assert out["texts_per_second"] > 0
    result = CliRunner().invoke(app, ["eval", "sentiment", "--data", str(data)])
    assert result.exit_code == 0
    assert "confusion matrix" in result.stdout


def test_cli_bad_row_exits_with_line_number(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "bad.jsonl", [{"text": "a", "label": "positive"}, {"label": "neutral"}]
    )
    from townhall.cli import app

    result = CliRunner().invoke(app, ["eval", "sentiment", "--data", str(data)])
    assert result.exit_code == 2
    assert "bad.jsonl:2: field 'text'" in result.output.replace("\n", "")


def test_cli_kb_end_to_end(tmp_path: Path) -> None:
    kb = _write(
        tmp_path / "kb.jsonl",
        [
            {"answer_id": "password", "text": "how do I reset my password"},
            {"answer_id": "password", "text": "forgot my password"},
            {"answer_id": "hours", "text": "what are your opening hours"},
            {"answer_id": "hours", "text": "when do you open on sunday"},
        ],
    )
    data = _write(
        tmp_path / "q.jsonl",
        [
            {"text": "I can't remember my password", "label": "password"},
            {"text": "what time do you open?", "label": "hours"},
            {"text": "the cat is sleeping on the sofa", "label": "oos"},
        ],
    )
    from townhall.cli import app

    result = CliRunner().invoke(app, ["eval", "kb", "--data", str(data), "--kb", str(kb), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["accuracy"] == pytest.approx(1.0)
    assert out["oos_recall"] == pytest.approx(1.0)


def test_prepare_eval_draws_the_banking77_kb_by_seed(shared_data: Path, tmp_path: Path) -> None:
    def draw(seed: int) -> tuple[list[str], list[str]]:
        out = tmp_path / str(seed)
        prepare_eval.main(["--data", str(shared_data), "--out", str(out), "--seed", str(seed)])
        kb = [json.loads(line) for line in (out / "banking77_kb.jsonl").open()]
        queries = [json.loads(line) for line in (out / "banking77_queries.jsonl").open()]
        assert {r["text"] for r in kb}.isdisjoint(r["text"] for r in queries)
        return sorted(r["text"] for r in kb), sorted(r["text"] for r in queries)

    first = draw(1)
    assert len(first[0]) == 77 * prepare_eval.KB_EXAMPLES_PER_ANSWER
    assert draw(1) == first  # the same seed, the same draw
    assert draw(2)[0] != first[0]
