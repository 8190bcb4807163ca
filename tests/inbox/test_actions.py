"""Inbox actions on both databases: status, assignment, transfer, notes, corrections."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import item, store
from townhall.conversations.models import Conversation, Message
from townhall.core.errors import Forbidden, ValidationFailed
from townhall.governance.audit import verify
from townhall.governance.models import AuditEvent, User
from townhall.inbox.actions import (
    do_add_note,
    do_assign,
    do_claim,
    do_correct_understanding,
    do_set_status,
    do_transfer,
)
from townhall.inbox.models import Assignment, Notification, UnderstandingCorrection
from townhall.inbox.queries import correction_rate
from townhall.routing.actions import route_pending
from townhall.routing.models import Queue
from townhall.understanding import Understander

from .conftest import InboxWorld


def _audit_actions(session: Session, org_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditEvent.action).where(AuditEvent.org_id == org_id).order_by(AuditEvent.id)
        )
    )


def test_status_moves_along_the_state_machine_with_audit(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        cs = session.get_one(User, world.users["cs"].id)
        do_set_status(session, conversation, "open", cs)
        do_set_status(session, conversation, "resolved", cs)
        assert conversation.resolved_at is not None
        with pytest.raises(ValidationFailed, match="cannot become pending_customer"):
            do_set_status(session, conversation, "pending_customer", cs)
        do_set_status(session, conversation, "closed", cs)
    # The customer writes again: ingest reopens it.
    store(sessions, world.org.id, item("m1-2", reply_to="m1", minute=5))
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        assert conversation.status == "open"
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "conversation.status")
        ).all()
        assert [(e.before, e.after) for e in events][-1] == (
            {"status": "resolved"},
            {"status": "closed"},
        )
        assert verify(session, world.org.id) == []


def test_executives_cannot_change_anything(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        executive = session.get_one(User, world.users["exec"].id)
        with pytest.raises(Forbidden):
            do_set_status(session, conversation, "open", executive)
        with pytest.raises(Forbidden):
            do_add_note(session, conversation, executive, "hello")


def test_assignment_respects_agency_scope_restriction_and_capacity(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        cs = session.get_one(User, world.users["cs"].id)
        agency = session.get_one(User, world.users["agency"].id)
        hr = session.get_one(User, world.users["hr"].id)
        lead = session.get_one(User, world.users["lead"].id)
        with pytest.raises(ValidationFailed, match="in-house only"):
            do_assign(session, conversation, agency, lead)
        with pytest.raises(ValidationFailed, match="in-house only"):
            do_claim(session, conversation, agency)
        do_claim(session, conversation, cs)
        assert conversation.assigned_user_id == cs.id
        with pytest.raises(ValidationFailed, match="already assigned"):
            do_assign(session, conversation, cs, lead)
        # Restricted: only the owner department may receive it.
        conversation.restricted = True
        with pytest.raises(ValidationFailed, match="restricted"):
            do_assign(session, conversation, hr, lead)
        conversation.restricted = False
        conversation.agency_allowed = True
        with pytest.raises(Forbidden, match="claim"):
            do_assign(session, conversation, cs, agency)
        do_claim(session, conversation, agency)
        # Capacity counts conversations that still need work.
        lead.capacity = 0
        with pytest.raises(ValidationFailed, match="at capacity"):
            do_assign(session, conversation, lead, cs)
        history = session.scalars(
            select(Assignment)
            .where(Assignment.conversation_id == conversation.id)
            .order_by(Assignment.id)
        ).all()
        assert [(a.user_id, a.ended_at is None) for a in history] == [
            (cs.id, False),
            (agency.id, True),
        ]
        assert _audit_actions(session, world.org.id)[-2:] == [
            "conversation.claim",
            "conversation.claim",
        ]


def test_transfer_moves_queue_and_drops_an_assignee_of_another_department(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        cs = session.get_one(User, world.users["cs"].id)
        do_claim(session, conversation, cs)
        legal = session.get_one(Queue, world.queues["Legal"])
        do_transfer(session, conversation, legal, cs, "needs a lawyer")
        assert conversation.queue_id == legal.id
        assert conversation.owner_department_id == legal.department_id
        assert conversation.assigned_user_id is None
        assert _audit_actions(session, world.org.id)[-2:] == [
            "conversation.reroute",
            "conversation.unassign",
        ]
        with pytest.raises(ValidationFailed, match="already in"):
            do_transfer(session, conversation, legal, cs, "")


def test_notes_mention_departments_and_people_and_notify_who_may_see(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        cs = session.get_one(User, world.users["cs"].id)
        note = do_add_note(
            session,
            conversation,
            cs,
            "@legal please check; cc @lead and @customer-service, not @nobody (mail a@b.example)",
        )
        assert note.mentions == ["legal", "lead", "customer-service"]
        notified = set(
            session.scalars(select(Notification.user_id).where(Notification.note_id == note.id))
        )
        # Legal's reviewer and the CS lead; never the author; the CS agent is the author.
        assert notified == {world.users["legal"].id, world.users["lead"].id}
        # A mention of someone who may not see the conversation notifies nobody.
        other = do_add_note(session, conversation, cs, "@agency can you take this?")
        assert other.mentions == ["agency"]
        assert (
            session.scalars(select(Notification).where(Notification.note_id == other.id)).all()
            == []
        )
        with pytest.raises(ValidationFailed, match="empty"):
            do_add_note(session, conversation, cs, "   ")


def test_a_correction_is_stored_applied_and_learnt(
    sessions: sessionmaker[Session], world: InboxWorld, understander: Understander
) -> None:
    text = "Your app keeps crashing when I try to check in, fix it"
    store(sessions, world.org.id, item("c1", handle="carl", text=text))
    before = understander.understand([text + "!"])[0].intent
    target = "sales_lead" if before != "sales_lead" else "press_inquiry"
    with sessions() as session, session.begin():
        message = session.scalars(select(Message).where(Message.external_id == "c1")).one()
        session.execute(
            update(Message)
            .where(Message.org_id == world.org.id)
            .values(intent=before, sentiment="negative", understood_at=message.created_at)
        )
        session.refresh(message)
        cs = session.get_one(User, world.users["cs"].id)
        correction = do_correct_understanding(session, message, "intent", target, cs)
        assert (correction.old, correction.new) == (before, target)
        assert message.intent == target
        with pytest.raises(ValidationFailed, match="not a sentiment label"):
            do_correct_understanding(session, message, "sentiment", "angry", cs)
        with pytest.raises(ValidationFailed, match="already"):
            do_correct_understanding(session, message, "intent", target, cs)
    # Learnt once committed: similar text now gets the corrected label.
    assert understander.understand([text + "!"])[0].intent == target
    with sessions() as session:
        assert session.scalar(select(UnderstandingCorrection.field)) == "intent"
        rate = correction_rate(session, world.org.id)
        assert (rate.corrected, rate.understood) == (1, 3)
        assert rate.rate == pytest.approx(1 / 3)


def test_a_rolled_back_correction_is_not_learnt(
    sessions: sessionmaker[Session], world: InboxWorld, understander: Understander
) -> None:
    text = "Totally unrelated words about zebras and kites at the seaside"
    store(sessions, world.org.id, item("z1", handle="zed", text=text))
    before = understander.understand([text])[0].sentiment
    target = "positive" if before != "positive" else "negative"
    with sessions() as session:
        message = session.scalars(select(Message).where(Message.external_id == "z1")).one()
        cs = session.get_one(User, world.users["cs"].id)
        do_correct_understanding(session, message, "sentiment", target, cs)
        session.rollback()
    assert understander.understand([text])[0].sentiment == before


def test_two_people_assigning_at_once_never_exceed_capacity(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    """Both requests count the agent's load; the organisation lock makes the second wait."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; concurrent requests are PostgreSQL's case")
    store(sessions, world.org.id, item("m3", handle="carol", text="My bag never arrived either"))
    with sessions() as session, session.begin():
        route_pending(session, world.org.id)
        other = session.scalars(select(Conversation).where(Conversation.thread_key == "m3")).one()
        other_id = other.id
        session.execute(update(User).where(User.id == world.users["cs"].id).values(capacity=1))
    first_assigned = threading.Event()
    outcomes: dict[str, str] = {}

    def assign(conversation_id: int, name: str, hold: bool) -> None:
        try:
            with sessions() as session, session.begin():
                conversation = session.get_one(Conversation, conversation_id)
                cs = session.get_one(User, world.users["cs"].id)
                lead = session.get_one(User, world.users["lead"].id)
                do_assign(session, conversation, cs, lead)
                if hold:  # keep the transaction open while the other request runs
                    first_assigned.set()
                    time.sleep(1.0)
            outcomes[name] = "assigned"
        except ValidationFailed as exc:
            outcomes[name] = str(exc)

    first = threading.Thread(target=assign, args=(world.conversation_id, "first", True))
    first.start()
    assert first_assigned.wait(10)
    second = threading.Thread(target=assign, args=(other_id, "second", False))
    second.start()
    first.join(20)
    second.join(20)
    assert outcomes["first"] == "assigned"
    assert "at capacity" in outcomes["second"]
    with sessions() as session:
        open_count = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.user_id == world.users["cs"].id, Assignment.ended_at.is_(None))
        )
    assert open_count == 1
