"""`townhall ingest` and `townhall init` as a user runs them, including a kill -9 mid-file."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import item, make_org
from townhall.cli import app
from townhall.conversations.models import Conversation, Message


def test_ingest_json_summary_and_errors_file(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    make_org(sessions)
    source = tmp_path / "export.jsonl"
    rows = [
        json.dumps(item("2", reply_to="1", minute=2)),
        json.dumps(item("1", minute=1)),
        json.dumps(item("1", minute=1)),
        json.dumps({**item("3"), "created_at": "yesterday"}),
        json.dumps({**item("4"), "author": {"handle": ""}}),
    ]
    source.write_text("\n".join(rows) + "\n")
    errors = tmp_path / "errors.jsonl"
    result = CliRunner().invoke(
        app, ["ingest", str(source), "--json", "--store-only", "--errors", str(errors)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {k: summary[k] for k in ("ingested", "duplicates", "rejected")} == {
        "ingested": 2,
        "duplicates": 1,
        "rejected": 2,
    }
    reported = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in reported] == [(4, "created_at"), (5, "author.handle")]
    assert "line 4, field created_at" in result.stderr


def test_ingest_csv_with_flattened_author(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    make_org(sessions)
    source = tmp_path / "export.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "platform",
                "external_id",
                "kind",
                "author_handle",
                "author_name",
                "author_followers",
                "text",
                "created_at",
                "in_reply_to",
            ]
        )
        writer.writerow(
            [
                "x",
                "10",
                "mention",
                "Ann",
                "Ann A",
                "5",
                "multi\nline text",
                "2026-11-01T10:00:00+01:00",
                "",
            ]
        )
        writer.writerow(
            ["x", "11", "reply", "bob", "", "lots", "reply", "2026-11-01T10:00:00Z", "10"]
        )
        writer.writerow(["x", "12", "reply", "bob", "", "", "reply", "2026-11-01T10:05:00Z", "10"])
    result = CliRunner().invoke(app, ["ingest", str(source), "--json", "--store-only"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["ingested"], summary["rejected"]) == (2, 1)
    # The multi-line cell keeps line numbers physical: the bad row is on line 4 of the file.
    assert "line 4, field author.followers" in result.stderr
    with sessions() as session:
        message = session.scalars(select(Message).where(Message.external_id == "10")).one()
        assert message.author_handle == "ann" and message.text == "multi\nline text"
        assert session.scalar(select(func.count()).select_from(Conversation)) == 1


def test_ingest_refuses_unknown_format_and_missing_org(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "x.jsonl"
    source.write_text("")
    assert CliRunner().invoke(app, ["ingest", str(source), "--format", "xml"]).exit_code == 2
    result = CliRunner().invoke(app, ["ingest", str(source)])
    assert result.exit_code == 1 and "townhall init" in result.stderr


def test_init_creates_organisation_and_admin(engine: Engine) -> None:
    result = CliRunner().invoke(
        app,
        [
            "init",
            "--org-name",
            "Acme",
            "--admin-email",
            "boss@acme.example",
            "--admin-password",
            "a-long-password",
            "--agency",
            "Outsourcer",
        ],
    )
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(
        app,
        [
            "init",
            "--org-name",
            "Acme",
            "--admin-email",
            "boss@acme.example",
            "--admin-password",
            "a-long-password",
        ],
    )
    assert again.exit_code == 1 and "already exists" in again.stderr
    short = CliRunner().invoke(
        app,
        [
            "init",
            "--org-slug",
            "other",
            "--org-name",
            "O",
            "--admin-email",
            "a@o.example",
            "--admin-password",
            "short",
        ],
    )
    assert short.exit_code == 2 and "at least 10 characters" in short.stderr


def _big_export(path: Path, conversations: int) -> list[dict[str, object]]:
    rng = random.Random(3)
    rows: list[dict[str, object]] = []
    for index in range(conversations):
        root = f"root-{index}"
        rows.append(item(root, handle=f"user{index % 997}", minute=index % 60))
        if rng.random() < 0.5:
            rows.append(
                item(
                    f"reply-{index}", reply_to=root, handle="brand", direction="outbound", minute=59
                )
            )
    rng.shuffle(rows)  # replies often arrive before their parents
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_kill_during_ingest_then_rerun_equals_one_clean_run(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    make_org(sessions)
    source = tmp_path / "big.jsonl"
    rows = _big_export(source, 30_000)
    env = {**os.environ, "TOWNHALL_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    command = [
        sys.executable,
        "-m",
        "townhall.cli",
        "ingest",
        str(source),
        "--json",
        "--store-only",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and process.poll() is None:
        with sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Message)) or 0
        if stored >= 2000:
            break
        time.sleep(0.05)
    assert process.poll() is None, "ingest finished before it could be killed; make the file bigger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    with sessions() as session:
        partial = session.scalar(select(func.count()).select_from(Message)) or 0
    assert 0 < partial < len(rows)
    rerun = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["ingested"] + summary["duplicates"] == len(rows)
    assert summary["duplicates"] == partial
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == len(rows)
        assert session.scalar(select(func.count(func.distinct(Message.conversation_id)))) == 30_000
        assert session.scalar(select(func.count()).select_from(Conversation)) == 30_000
        assert session.scalar(select(func.sum(Conversation.message_count))) == len(rows)
        mismatched = session.scalar(
            select(func.count())
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Message.external_id.like("reply-%"),
                Conversation.thread_key != func.replace(Message.external_id, "reply-", "root-"),
            )
        )
        assert mismatched == 0


def test_ingest_understands_and_routes_by_default(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    make_org(sessions)
    source = tmp_path / "export.jsonl"
    source.write_text(
        json.dumps(
            item(
                "p1",
                text="I'm a reporter at the Daily Ledger, who can I speak to in your press office?",
            )
        )
        + "\n"
        + json.dumps(
            item(
                "p2",
                handle="bob",
                text="you lost my bag AGAIN and nobody answers the phone. Useless.",
            )
        )
        + "\n"
    )
    result = CliRunner().invoke(app, ["ingest", str(source), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["routed"] == 2
    with sessions() as session:
        intents = dict(session.execute(select(Message.external_id, Message.intent)).all())
        assert intents == {"p1": "press_inquiry", "p2": "complaint"}
        assert (
            session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.queue_id.is_(None))
            )
            == 0
        )
