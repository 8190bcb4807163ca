"""`townhall policy`: validate, apply, diff, show and simulate against a real database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import make_org, store
from townhall.cli import app
from townhall.conversations.models import Message
from townhall.core.time import utcnow
from townhall.routing.models import PolicyVersion
from townhall.routing.policy import default_policy_text

runner = CliRunner()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _draft_keeping_other_in_house() -> str:
    text = default_policy_text()
    text = text.replace(
        "  other:\n    owner: Customer Service\n    agency_allowed: true",
        "  other:\n    owner: Customer Service\n    agency_allowed: false",
    )
    text = text.replace("kinds: [complaint, offensive]", "kinds: [complaint, offensive, other]")
    return text.replace("kinds: [support_request, spam, other]", "kinds: [support_request, spam]")


def test_validate_reports_line_and_column_and_exits_1(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.yaml", default_policy_text())
    result = runner.invoke(app, ["policy", "validate", str(good)])
    assert result.exit_code == 0, result.output
    assert "valid policy 'Townhall default'" in result.output
    text = default_policy_text()
    line = text[: text.index("owner: PR")].count("\n") + 1
    bad = _write(tmp_path, "bad.yaml", text.replace("owner: PR", "owner: Press Office", 1))
    result = runner.invoke(app, ["policy", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"bad.yaml:{line}:" in result.output and "Press Office" in result.output
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    assert runner.invoke(app, ["policy", "validate", str(binary)]).exit_code == 2
    missing = runner.invoke(app, ["policy", "validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_apply_show_and_diff(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    make_org(sessions)
    assert runner.invoke(app, ["policy", "show"]).exit_code == 1
    path = _write(tmp_path, "policy.yaml", default_policy_text())
    result = runner.invoke(app, ["policy", "apply", str(path)])
    assert result.exit_code == 0, result.output
    assert "policy version 1" in result.output
    draft = _write(tmp_path, "draft.yaml", _draft_keeping_other_in_house())
    result = runner.invoke(app, ["policy", "diff", str(draft)])
    assert result.exit_code == 0, result.output
    assert "kind other: agency_allowed changed from true to false (now in-house only)" in (
        result.output
    )
    assert "[complaint, offensive, other]" in result.output
    assert "Fewer than two" in runner.invoke(app, ["policy", "diff"]).output
    assert runner.invoke(app, ["policy", "apply", str(draft)]).exit_code == 0
    result = runner.invoke(app, ["policy", "diff"])
    assert "Version 1 → version 2" in result.output
    assert "queue changed from Agency first line to Customer care" in result.output
    result = runner.invoke(app, ["policy", "show"])
    assert result.exit_code == 0
    assert result.stdout == _draft_keeping_other_in_house()
    assert "version 2 (active)" in result.stderr
    assert runner.invoke(app, ["policy", "show", "--version", "1"]).stdout == (
        default_policy_text()
    )
    assert runner.invoke(app, ["policy", "show", "--version", "9"]).exit_code == 1
    with sessions() as session:
        assert len(session.scalars(select(PolicyVersion)).all()) == 2
    assert runner.invoke(app, ["policy", "apply", str(draft), "--org", "nope"]).exit_code == 1


def test_simulate_replays_stored_traffic_under_both_policies(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    org = make_org(sessions)
    now = utcnow()
    rows = []
    for number in range(12):
        at = now - timedelta(days=2, minutes=7 * number)
        rows.append(
            {
                "platform": "x",
                "external_id": f"q{number}",
                "author": {"handle": f"a{number}", "followers": 5},
                "text": "when does the sale start",
                "created_at": at.isoformat(),
            }
        )
        if number % 2:
            rows.append(
                {
                    "platform": "x",
                    "external_id": f"r{number}",
                    "author": {"handle": "brand"},
                    "text": "tomorrow!",
                    "direction": "outbound",
                    "in_reply_to": f"q{number}",
                    "created_at": (at + timedelta(minutes=12)).isoformat(),
                }
            )
    old = now - timedelta(days=90)
    rows.append(
        {
            "platform": "x",
            "external_id": "old",
            "author": {"handle": "old"},
            "text": "too old to replay",
            "created_at": old.isoformat(),
        }
    )
    store(sessions, org.id, *rows)
    with sessions() as session, session.begin():
        session.execute(
            update(Message).where(Message.external_id.in_(["q0", "q1"])).values(intent="complaint")
        )
    draft = _write(tmp_path, "draft.yaml", _draft_keeping_other_in_house())
    result = runner.invoke(app, ["policy", "simulate", str(draft), "--since", "30d", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["conversations"] == 12
    assert report["current"]["label"].startswith("shipped default")
    assert report["current"]["queues"]["Agency first line"]["volume"] == 10
    assert report["current"]["queues"]["Customer care"]["volume"] == 2
    assert report["draft"]["queues"]["Customer care"]["volume"] == 12
    assert report["moved_in_house"] == 10 and report["moved_to_agency"] == 0
    assert report["draft"]["teams"]["Customer Service"]["agents"] == 1
    assert report["draft"]["agency_volume"] == 0
    assert 0 <= report["draft"]["queues"]["Customer care"]["sla_attainment"] <= 1
    assert any("other: 10 now stay in-house" in line for line in report["changes"])
    table = runner.invoke(app, ["policy", "simulate", str(draft), "--since", "2w"])
    assert table.exit_code == 0, table.output
    assert "Per queue" in table.output and "Per team" in table.output
    assert "10 come back in-house" in table.output
    bad_period = runner.invoke(app, ["policy", "simulate", str(draft), "--since", "soon"])
    assert bad_period.exit_code == 2
