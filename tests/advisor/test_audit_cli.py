"""``audit_command``: an interchange file in, the HTML and JSON report out (models faked)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from townhall.advisor import cli as advisor_cli
from townhall.advisor.sample import audit_items, thread_roots
from townhall.conversations.schemas import InboundItem


@dataclass(frozen=True)
class FakeUnderstanding:
    language: str
    sentiment: str
    intent: str
    risk_flags: tuple[str, ...] = ()


def fake_understand(texts: list[str]) -> list[FakeUnderstanding]:
    result = []
    for text in texts:
        if "price" in text:
            result.append(FakeUnderstanding("en", "positive", "sales_lead"))
        elif "CEO" in text:
            result.append(FakeUnderstanding("en", "negative", "complaint", ("threat",)))
        else:
            result.append(FakeUnderstanding("en", "neutral", "support_request"))
    return result


def row(
    external_id: str, text: str, at: datetime, reply_to: str | None = None
) -> dict[str, object]:
    return {
        "platform": "mastodon",
        "external_id": external_id,
        "author": {"handle": f"@user{external_id}"},
        "text": text,
        "created_at": at.isoformat().replace("+00:00", "Z"),
        "in_reply_to": reply_to,
        "kind": "reply" if reply_to else "mention",
    }


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    start = datetime(2024, 3, 4, 9, tzinfo=UTC)
    rows = []
    for n in range(60):
        at = start + timedelta(days=n % 14, hours=n % 8, minutes=n)
        text = "what is the price for 50 seats?" if n % 4 == 0 else "I cannot log in"
        rows.append(row(f"m{n}", text, at))
        rows.append(row(f"r{n}", "still broken", at + timedelta(minutes=5), reply_to=f"m{n}"))
    rows.append(row("x1", "I know where your CEO lives", start + timedelta(hours=3)))
    path = tmp_path / "sample.jsonl"
    lines = [json.dumps(r) for r in rows] + ['{"platform": "x"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_audit_command_writes_html_and_json(
    sample_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(advisor_cli, "_understand", fake_understand)
    app = typer.Typer()
    app.command("audit")(advisor_cli.audit_command)
    app.command("staffing")(advisor_cli.staffing_command)
    html, data = tmp_path / "report.html", tmp_path / "report.json"

    result = CliRunner().invoke(
        app,
        [
            "audit",
            str(sample_file),
            "--in-house-cost-per-hour",
            "30",
            "--agency-cost-per-conversation",
            "3",
            "--goal",
            "leads",
            "--goal",
            "support_cost",
            "--html",
            str(html),
            "--json",
            str(data),
        ],
    )

    assert result.exit_code == 0, result.output
    report = json.loads(data.read_text())
    # Replies join their thread: 60 threads plus the threat, not 121 conversations.
    assert report["mix"]["conversations"] == 61
    assert report["mix"]["messages"] == 121
    assert report["model"]["lead"]["subject"] == "Customer Service"
    kinds = {k["intent"]: k["count"] for k in report["mix"]["overall"]}
    assert kinds == {"threat": 1, "sales_lead": 15, "support_request": 45}
    assert '<section id="model">' in html.read_text()
    assert "Lead department" in result.stdout


def test_audit_command_rejects_unknown_goals(sample_file: Path) -> None:
    app = typer.Typer()
    app.command("audit")(advisor_cli.audit_command)
    app.command("staffing")(advisor_cli.staffing_command)

    result = CliRunner().invoke(
        app,
        [
            "audit",
            str(sample_file),
            "--in-house-cost-per-hour",
            "30",
            "--agency-cost-per-conversation",
            "3",
            "--goal",
            "fame",
        ],
    )

    assert result.exit_code == 2
    assert "--goal" in result.output


def test_threads_follow_replies_to_their_root() -> None:
    at = datetime(2024, 3, 4, 9, tzinfo=UTC)

    def item(external_id: str, reply_to: str | None) -> InboundItem:
        return InboundItem.model_validate(
            {
                "platform": "bluesky",
                "external_id": external_id,
                "author": {"handle": "a"},
                "text": "hi",
                "created_at": at,
                "in_reply_to": reply_to,
            }
        )

    rows = [item("a", None), item("b", "a"), item("c", "b"), item("d", "gone"), item("e", "gone")]
    roots = thread_roots(rows)

    assert [roots[("bluesky", r.external_id)] for r in rows] == ["a", "a", "a", "gone", "gone"]
    items = audit_items(rows, [FakeUnderstanding("en", "odd", "new_label")] * len(rows))
    assert {i.intent for i in items} == {"other"}
    assert {i.sentiment for i in items} == {"neutral"}
