"""Automatic answers: only where the policy allows, confident, safe, once per message."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import item, store
from inbox.conftest import InboxWorld
from townhall.conversations.models import Conversation, Message
from townhall.core.time import utcnow
from townhall.governance import audit
from townhall.governance.models import AuditEvent
from townhall.inbox.actions import do_reply
from townhall.inbox.auto_answer import AUTO_ANSWER_MIN_SCORE, auto_answer_pending
from townhall.inbox.models import OutboxItem
from townhall.knowledge.models import AutoAnswer
from townhall.pipeline import process_pending
from townhall.routing.actions import route_pending
from web.conftest import login


def arrive(
    sessions: sessionmaker[Session],
    org_id: int,
    external_id: str,
    text: str,
    *,
    intent: str = "support_request",
    risk_flags: list[str] | None = None,
    **extra: Any,
) -> int:
    """Store an inbound message as the understanding would leave it, and route it."""
    store(sessions, org_id, item(external_id, text=text, handle=f"h{external_id}", **extra))
    with sessions() as session, session.begin():
        message = session.scalars(select(Message).where(Message.external_id == external_id)).one()
        message.intent, message.language, message.sentiment = intent, "en", "neutral"
        message.risk_flags = risk_flags or []
        message.understood_at = utcnow()
        route_pending(session, org_id, [message.conversation_id])
        return message.conversation_id


def answered(sessions: sessionmaker[Session], org_id: int, ids: list[int]) -> int:
    with sessions() as session, session.begin():
        return auto_answer_pending(session, org_id, ids)


def test_a_routine_question_is_answered_once_and_marked(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld, answers: dict[str, int]
) -> None:
    cid = arrive(sessions, world.org.id, "q1", "@SkywardAir is there wifi on flight SK12?")
    assert answered(sessions, world.org.id, [cid]) == 1
    # Re-runs (and the pipeline seeing the conversation again) never answer twice.
    assert answered(sessions, world.org.id, [cid, cid]) == 0
    with sessions() as session:
        conversation = session.get(Conversation, cid)
        assert conversation is not None
        assert conversation.status == "pending_customer"
        assert conversation.first_response_at is not None
        reply = session.scalars(
            select(Message).where(Message.conversation_id == cid, Message.direction == "outbound")
        ).one()
        assert reply.automatic and reply.author_user_id is None
        assert reply.delivery_status == "pending" and reply.in_reply_to == "q1"
        assert reply.text.startswith("All our A320neo aircraft have Wi-Fi")
        assert session.scalars(select(OutboxItem).where(OutboxItem.message_id == reply.id)).one()
        record = session.scalars(select(AutoAnswer)).one()
        assert record.kb_answer_id == answers["Wi-Fi on board"]
        assert record.score >= AUTO_ANSWER_MIN_SCORE
        inbound = session.get(Message, record.inbound_message_id)
        assert inbound is not None and inbound.kb_answer_id == str(answers["Wi-Fi on board"])
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "conversation.auto_answer")
        ).one()
        assert event.actor_label == "townhall (automatic answer)"
        assert event.after is not None and event.after["kb_answer_title"] == "Wi-Fi on board"
        assert audit.verify(session, world.org.id) == []
    login(client, "cs@demo.example")
    page = client.get(f"/conversations/{cid}")
    assert page.text.count('data-testid="automatic"') == 1


def test_the_customer_writing_back_gets_a_person(
    sessions: sessionmaker[Session], world: InboxWorld, answers: dict[str, int]
) -> None:
    cid = arrive(sessions, world.org.id, "q1", "is there wifi on the flight?")
    assert answered(sessions, world.org.id, [cid]) == 1
    arrive(sessions, world.org.id, "q2", "do you have internet on board?", reply_to="q1", minute=5)
    assert answered(sessions, world.org.id, [cid]) == 0


@pytest.mark.parametrize(
    ("why", "text", "options"),
    [
        (
            "the policy does not allow it for complaints",
            "is there wifi on the flight?",
            {"intent": "complaint"},
        ),
        ("risk flagged", "is there wifi on the flight?", {"risk_flags": ["phishing"]}),
        ("not confident", "tell me about your sustainability strategy", {}),
    ],
)
def test_no_automatic_answer(
    sessions: sessionmaker[Session],
    world: InboxWorld,
    answers: dict[str, int],
    why: str,
    text: str,
    options: dict[str, Any],
) -> None:
    cid = arrive(sessions, world.org.id, "q1", text, **options)
    assert answered(sessions, world.org.id, [cid]) == 0, why
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AutoAnswer)) == 0


def test_restricted_answered_by_a_person_or_moved_by_hand_is_left_alone(
    sessions: sessionmaker[Session], world: InboxWorld, answers: dict[str, int]
) -> None:
    restricted = arrive(sessions, world.org.id, "q1", "is there wifi on the flight?")
    replied = arrive(sessions, world.org.id, "q2", "can I bring my dog on the plane?")
    with sessions() as session, session.begin():
        conversation = session.get(Conversation, restricted)
        assert conversation is not None
        conversation.restricted = True
        other = session.get(Conversation, replied)
        assert other is not None
        do_reply(session, other, "Yes, up to 8 kg.", world.users["cs"])
    assert answered(sessions, world.org.id, [restricted, replied]) == 0
    # A conversation of another organisation is never touched, whatever ids are passed.
    assert answered(sessions, world.org.id + 1, [restricted, replied]) == 0


def test_without_a_knowledge_base_nothing_happens(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    cid = arrive(sessions, world.org.id, "q1", "is there wifi on the flight?")
    assert answered(sessions, world.org.id, [cid]) == 0


def test_the_pipeline_answers_right_after_routing(
    sessions: sessionmaker[Session], world: InboxWorld, answers: dict[str, int]
) -> None:
    """The real understander: a routine question is understood, routed and answered."""
    store(
        sessions,
        world.org.id,
        item("w1", handle="wendy", text="@SkywardAir can I bring my dog on the plane?"),
    )
    summary = process_pending(sessions, world.org.id)
    assert summary.auto_answered == 1
    assert process_pending(sessions, world.org.id).auto_answered == 0
    with sessions() as session:
        reply = session.scalars(select(Message).where(Message.automatic.is_(True))).one()
        assert reply.text.startswith("Cats and dogs")
