"""``townhall audit``: an interchange file or the stored conversations in, HTML and JSON out."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from advisor.samples import numbers_not_in_json
from factories import item, make_org, store
from townhall.advisor import cli as advisor_cli
from townhall.advisor.sample import audit_items, thread_roots
from townhall.cli import app
from townhall.conversations.models import Message
from townhall.conversations.schemas import InboundItem

START = datetime(2024, 3, 4, 9, tzinfo=UTC)  # a Monday


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
    rows = []
    for n in range(60):
        at = START + timedelta(days=n % 14, hours=n % 8, minutes=n)
        text = "what is the price for 50 seats?" if n % 4 == 0 else "I cannot log in"
        rows.append(row(f"m{n}", text, at))
        rows.append(row(f"r{n}", "still broken", at + timedelta(minutes=5), reply_to=f"m{n}"))
    rows.append(row("x1", "I know where your CEO lives", START + timedelta(hours=3)))
    path = tmp_path / "sample.jsonl"
    # Two bad rows: line 122 lacks nearly everything, line 123 is not JSON.
    lines = [json.dumps(r) for r in rows] + ['{"platform": "x"}', "{not json"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Real customer messages of the kinds the report must tell apart, for the real models.
REAL_TEXTS = [
    "I lost my password and cannot log in to the app, how do I reset it?",
    "My flight was cancelled and nobody at the desk helps. Worst service ever.",
    "We want to buy 300 licences for our company this quarter, who can send a quote?",
    "I'm a reporter at the Daily Planet, can your press office comment on the outage today?",
    "Thank you for the great flight, the crew was lovely!",
    "When is the next webinar about the new release?",
]


@pytest.fixture
def real_file(tmp_path: Path) -> Path:
    rows = []
    for n in range(84):
        at = START + timedelta(days=n % 21, hours=8 + n % 10, minutes=n)
        rows.append(row(f"q{n}", REAL_TEXTS[n % len(REAL_TEXTS)], at))
        if n % 3 == 0:
            follow = "Any news? Still waiting for an answer."
            rows.append(row(f"f{n}", follow, at + timedelta(minutes=30), reply_to=f"q{n}"))
    path = tmp_path / "real.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    """Exit code, output and the error output as plain text (no panel borders or wrapping)."""
    result = CliRunner().invoke(app, ["audit", *args])
    plain = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())
    return result.exit_code, result.stdout, plain


def test_audit_reports_rejected_rows_and_uses_the_good_ones(
    sample_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(advisor_cli, "_understand", fake_understand)
    html, data = tmp_path / "report.html", tmp_path / "report.json"

    code, out, err = invoke(
        str(sample_file),
        "--report",
        str(html),
        "--json",
        str(data),
        "--goals",
        "leads,support_cost",
        "--in-house-cost-per-hour",
        "30",
        "--agency-cost-per-conversation",
        "3",
    )

    assert code == 0, out + err
    assert "rejected line 122, field platform" not in err  # the platform is there
    assert "rejected line 122, field external_id" in err
    assert "rejected line 123" in err and "invalid JSON" in err
    report = json.loads(data.read_text())
    # Replies join their thread: 60 threads plus the threat, not 121 conversations.
    assert report["mix"]["conversations"] == 61
    assert report["mix"]["messages"] == 121
    assert report["goals"] == ["leads", "support_cost"]
    assert report["staffing"]["in_house_cost_per_hour"] == 30
    assert report["model"]["lead"]["subject"] == "Customer Service"
    kinds = {k["intent"]: k["count"] for k in report["mix"]["overall"]}
    assert kinds == {"threat": 1, "sales_lead": 15, "support_request": 45}
    assert any(
        "2 rows of sample.jsonl were rejected (lines 122, 123)" in w for w in report["warnings"]
    )
    assert '<section id="model">' in html.read_text()
    assert "Lead department" in out


def test_audit_with_the_real_models_writes_traceable_html_and_json(
    real_file: Path, tmp_path: Path
) -> None:
    html, data = tmp_path / "report.html", tmp_path / "report.json"

    code, out, err = invoke(str(real_file), "--report", str(html), "--json", str(data))

    assert code == 0, out + err
    report = json.loads(data.read_text())
    page = html.read_text()
    assert report["mix"]["conversations"] == 84
    assert report["mix"]["messages"] == 84 + 28
    assert report["goals"] == ["leads", "support_cost", "perception"]
    kinds = {k["intent"] for k in report["mix"]["overall"]}
    assert {"support_request", "complaint"} <= kinds
    for section in ("summary", "mix", "arrivals", "staffing", "model", "policy"):
        assert f'<section id="{section}">' in page
    assert numbers_not_in_json(page, report) == []


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        ((), "FILE / --from-db"),
        (("{file}", "--from-db"), "FILE / --from-db"),
        (("{missing}",), "FILE"),
        (("{file}", "--goals", "leads,fame"), "--goals"),
        (("{file}", "--goal", "fame"), "--goals"),
        (("{file}", "--in-house-cost-per-hour", "-1"), "--in-house-cost-per-hour"),
        (("{file}", "--agency-cost-per-conversation", "nan"), "--agency-cost-per-conversation"),
        (("{file}", "--target-percent", "100"), "--target-percent"),
        (("{file}", "--shrinkage", "1"), "--shrinkage"),
        (("{file}", "--timezone", "Mars/Olympus"), "--timezone"),
        (("{file}", "--org", "acme"), "--org"),
        (("{file}", "--format", "xml"), "--format"),
        (("{bad}",), "FILE"),
    ],
)
def test_bad_options_and_files_exit_2_and_say_which(
    args: tuple[str, ...], hint: str, sample_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"platform": "x"}\nnot json\n', encoding="utf-8")
    values = {"file": str(sample_file), "missing": str(tmp_path / "nope.jsonl"), "bad": str(bad)}
    filled = [a.format(**values) for a in args]

    code, out, err = invoke(*filled, "--report", str(tmp_path / "r.html"))

    assert code == 2, out + err
    assert hint in err
    assert not (tmp_path / "r.html").exists()


def test_report_option_is_required_and_its_folder_must_exist(
    sample_file: Path, tmp_path: Path
) -> None:
    code, _, err = invoke(str(sample_file))
    assert code == 2 and "--report" in err

    code, _, err = invoke(str(sample_file), "--report", str(tmp_path / "no" / "r.html"))
    assert code == 2 and "no such folder" in err


def test_from_db_uses_stored_understanding_and_understands_the_rest(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org(sessions)
    seen: list[str] = []

    def understand(texts: list[str]) -> list[FakeUnderstanding]:
        seen.extend(texts)
        return fake_understand(texts)

    monkeypatch.setattr(advisor_cli, "_understand", understand)
    rows = [item(f"p{n}", handle=f"u{n}", minute=n, text=f"press question {n}") for n in range(4)]
    rows += [item(f"s{n}", handle=f"v{n}", minute=10 + n, text="I cannot log in") for n in range(6)]
    rows += [item("s0-r", handle="v0", minute=30, reply_to="s0", text="what is the price?")]
    rows += [item("o1", handle="brand", minute=31, reply_to="s1", direction="outbound")]
    store(sessions, org.id, *rows)
    with sessions() as session, session.begin():
        # The understanding step has already classified the press questions.
        session.execute(
            update(Message)
            .where(Message.external_id.like("p%"))
            .values(intent="press_inquiry", sentiment="neutral", language="en", risk_flags=[])
        )
    data = tmp_path / "db.json"

    code, out, err = invoke(
        "--from-db", "--org", "demo", "--report", str(tmp_path / "db.html"), "--json", str(data)
    )

    assert code == 0, out + err
    report = json.loads(data.read_text())
    assert report["organisation"] == "Test Org"
    assert report["mix"]["messages"] == 11  # inbound only
    assert report["mix"]["conversations"] == 10  # the reply joined its conversation
    kinds = {k["intent"]: k["count"] for k in report["mix"]["overall"]}
    # The reply's buying signal outranks the support question it followed.
    assert kinds == {"press_inquiry": 4, "sales_lead": 1, "support_request": 5}
    assert sorted(seen) == sorted(["I cannot log in"] * 6 + ["what is the price?"])
    assert any("7 stored messages had not been understood" in w for w in report["warnings"])


def test_from_db_needs_a_known_organisation_with_conversations(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    report = str(tmp_path / "r.html")
    code, _, err = invoke("--from-db", "--org", "nobody", "--report", report)
    assert code == 2 and "no organisation 'nobody'" in err

    make_org(sessions)
    code, _, err = invoke("--from-db", "--report", report)
    assert code == 1 and "no stored inbound conversations" in err


def test_threads_follow_replies_to_their_root() -> None:
    at = datetime(2024, 3, 4, 9, tzinfo=UTC)

    def inbound(external_id: str, reply_to: str | None) -> InboundItem:
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

    rows = [
        inbound("a", None),
        inbound("b", "a"),
        inbound("c", "b"),
        inbound("d", "gone"),
        inbound("e", "gone"),
    ]
    roots = thread_roots(rows)

    assert [roots[("bluesky", r.external_id)] for r in rows] == ["a", "a", "a", "gone", "gone"]
    items = audit_items(rows, [FakeUnderstanding("en", "odd", "new_label")] * len(rows))
    assert {i.intent for i in items} == {"other"}
    assert {i.sentiment for i in items} == {"neutral"}
