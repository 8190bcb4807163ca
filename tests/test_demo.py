"""The demo organisation: every kind of conversation, weeks of traffic, idempotent loading."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Conversation, Message
from townhall.core.taxonomy import INTENTS
from townhall.demo.generator import generate
from townhall.demo.load import load_demo
from townhall.governance.models import Role, User

END = datetime(2026, 11, 20, tzinfo=UTC)


def test_generator_is_seeded_and_covers_every_kind_over_weeks() -> None:
    rows = generate(conversations=3000, end=END)
    assert rows == generate(conversations=3000, end=END)
    texts = " ".join(r["text"] for r in rows)
    for marker in (
        "refund",
        "reporter",
        "phishing",
        "Protest",
        "leaked",
        "group booking",
        "Android app",
        "#SkywardSummer",
    ):
        assert marker in texts
    times = sorted(datetime.fromisoformat(r["created_at"]) for r in rows)
    assert times[-1] - times[0] > timedelta(days=28)
    assert len({r["platform"] for r in rows}) == 6
    assert Counter(r["direction"] for r in rows)["outbound"] > 500
    assert len(INTENTS) == 13


def test_load_demo_creates_every_role_and_is_idempotent(sessions: sessionmaker[Session]) -> None:
    first = load_demo(sessions, conversations=60, end=END)
    again = load_demo(sessions, conversations=60, end=END)
    assert first.created and not again.created
    assert again.summary.ingested == 0 and again.summary.duplicates == first.summary.ingested
    with sessions() as session:
        roles = set(session.scalars(select(User.role)))
        assert roles == {r.value for r in Role}
        assert session.scalar(select(func.count()).select_from(Message)) == first.summary.ingested
        assert session.scalar(select(func.count()).select_from(Conversation)) >= 55
