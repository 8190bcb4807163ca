"""The demo organisation: every kind of conversation, weeks of traffic, idempotent loading."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Conversation, Message
from townhall.core.taxonomy import INTENTS
from townhall.core.time import ensure_aware
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


def test_demo_history_is_worked_by_people_allowed_to_work_it(
    sessions: sessionmaker[Session],
) -> None:
    load_demo(sessions, conversations=400, end=END)
    with sessions() as session:
        users = {u.id: u for u in session.scalars(select(User))}
        replies = list(
            session.execute(
                select(Message.author_user_id, Conversation)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.direction == "outbound")
            )
        )
        conversations = list(session.scalars(select(Conversation)))
    # Every imported reply has an author, the conversation's assignee, allowed to take it.
    assert replies and all(author is not None for author, _ in replies)
    for author_id, conversation in replies:
        author = users[author_id or 0]
        assert conversation.assigned_user_id == author.id
        if author.agency_id is not None:
            assert conversation.agency_allowed and not conversation.restricted
        elif conversation.restricted:
            assert author.department_id == conversation.owner_department_id
    by_agency = sum(users[a or 0].agency_id is not None for a, _ in replies)
    assert 0 < by_agency < len(replies)  # the split the dashboards are about
    statuses = Counter(c.status for c in conversations)
    assert statuses["resolved"] > statuses["new"] > 0
    for conversation in conversations:
        if conversation.status == "resolved":
            assert conversation.resolved_at is not None
            assert conversation.resolved_at >= conversation.first_message_at
        if conversation.first_response_at is not None:
            assert conversation.first_response_at >= conversation.first_message_at
    answered = {c.id for _, c in replies}
    assert all(c.first_response_at is not None for c in conversations if c.id in answered)
    # Old work is done; what is still new includes the last day's traffic.
    recent = [
        c for c in conversations if END - ensure_aware(c.first_message_at) < timedelta(hours=12)
    ]
    assert recent and any(c.status in ("new", "open", "pending_customer") for c in recent)
