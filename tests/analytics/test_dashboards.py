"""Executive dashboards: the figures from plain rows, and the page on real data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from inbox.conftest import make_world
from townhall.analytics.dashboards import (
    ConversationFact,
    InboundFact,
    ReplyFact,
    build_dashboard,
    load_facts,
    sla_met,
)
from townhall.conversations.models import Conversation
from townhall.core.time import utcnow
from townhall.inbox.actions import do_reply
from townhall.web import create_app
from web.conftest import login

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
END = START + timedelta(days=14)


def fact(
    day: int,
    department: str,
    *,
    agency: bool = False,
    waited: float | None = 30,
    target: float = 60,
    resolved_hours: float | None = None,
    kind: str = "support_request",
) -> ConversationFact:
    started = START + timedelta(days=day, hours=9)
    return ConversationFact(
        id=day,
        started_at=started,
        department=department,
        kind=kind,
        by_agency=agency,
        first_response_at=started + timedelta(minutes=waited) if waited is not None else None,
        first_response_due_at=started + timedelta(minutes=target),
        resolved_at=started + timedelta(hours=resolved_hours) if resolved_hours else None,
    )


def test_figures_from_plain_rows() -> None:
    conversations = [
        fact(0, "Customer Service", waited=30, resolved_hours=2),
        fact(1, "Customer Service", agency=True, waited=90, resolved_hours=4),
        fact(8, "Marketing", waited=None, kind="feedback_praise"),  # overdue by END
        fact(20, "Marketing"),  # outside the period
    ]
    replies = [
        ReplyFact(START + timedelta(days=0, hours=10), "in-house", "Customer Service"),
        ReplyFact(START + timedelta(days=1, hours=11), "agency", "Customer Service"),
        ReplyFact(START + timedelta(days=9), "automatic", "Marketing"),
    ]
    inbound = [
        InboundFact(START + timedelta(days=1), "negative"),
        InboundFact(START + timedelta(days=2), "positive"),
        InboundFact(START + timedelta(days=9), "neutral"),
        InboundFact(START + timedelta(days=9), None),
    ]
    board = build_dashboard(conversations, replies, inbound, start=START, end=END, bucket_days=7)
    assert board.periods == ["02 Nov", "09 Nov"]
    assert board.volume_by_department == [
        ("Customer Service", [2.0, 0.0]),
        ("Marketing", [0.0, 1.0]),
    ]
    assert dict(board.volume_by_kind) == {
        "support_request": [2.0, 0.0],
        "feedback_praise": [0.0, 1.0],
    }
    assert board.total_conversations == 3 and board.total_replies == 3
    assert board.automatic_replies == 1
    sides = {r.name: r for r in board.sides}
    assert (sides["in-house"].conversations, sides["in-house"].replies) == (2, 1)
    assert (sides["agency"].conversations, sides["agency"].replies) == (1, 1)
    assert sides["agency"].median_resolution_hours == 4.0
    assert board.agency_share == 33.3
    # Week 1: one on time, one late; week 2: the unanswered one is overdue.
    assert board.sla_by_period == [50.0, 0.0]
    assert board.sla_attainment == 33.3
    assert board.sla_by_department == [("Customer Service", 50.0, 2), ("Marketing", 0.0, 1)]
    assert board.response_by_period[0] == ("median", [60.0, None])
    assert dict(board.sentiment_by_period)["negative"] == [50.0, 0.0]
    assert dict(board.sentiment_by_period)["neutral"] == [0.0, 100.0]


def test_an_unanswered_conversation_within_its_target_is_not_counted_yet() -> None:
    pending = fact(0, "Sales", waited=None, target=60)
    assert sla_met(pending, pending.started_at + timedelta(minutes=30)) is None
    assert sla_met(pending, pending.started_at + timedelta(minutes=61)) is False


def test_the_page_for_executives_and_who_else(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    world = make_world(sessions)
    with sessions() as session, session.begin():
        now = utcnow()
        for conversation in session.scalars(select(Conversation)):
            conversation.first_message_at = now - timedelta(days=2)
        conversation = session.get(Conversation, world.conversation_id)
        assert conversation is not None
        do_reply(session, conversation, "On it.", world.users["cs"])
    with sessions() as session:
        conversations, replies, _ = load_facts(
            session, world.org.id, utcnow() - timedelta(days=7), utcnow() + timedelta(minutes=1)
        )
        assert len(conversations) == 2 and [r.side for r in replies] == ["in-house"]
    client = TestClient(create_app(), follow_redirects=False)
    login(client, "exec@demo.example")
    page = client.get("/dashboards")
    assert page.status_code == 200
    assert 'data-testid="kpi-conversations">2<' in page.text
    assert page.text.count("<svg") >= 5 and "Customer Service" in page.text
    assert client.get("/dashboards?days=7").status_code == 200
    assert client.get("/dashboards?days=3").status_code == 422
    assert client.get("/dashboards?days=x").status_code == 422
    for email, status in (
        ("cs@demo.example", 403),
        ("agency@demo.example", 403),
        ("lead@demo.example", 200),
    ):
        client.cookies.clear()
        login(client, email)
        assert client.get("/dashboards").status_code == status, email
