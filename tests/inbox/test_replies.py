"""Replies: queued with their outbox row, sent through the connector, retried, approved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall.channels.fake.connector import FakeConnector
from townhall.conversations.models import Conversation, Message
from townhall.core.errors import Forbidden, ValidationFailed
from townhall.core.time import utcnow
from townhall.governance.models import User
from townhall.inbox.actions import do_approve_reply, do_reply, do_set_inbox_settings
from townhall.inbox.models import OutboxItem
from townhall.inbox.outbox import MAX_ATTEMPTS, backoff, deliver_pending

from .conftest import InboxWorld


def _reply(sessions: sessionmaker[Session], world: InboxWorld, who: str, text: str) -> int:
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        return do_reply(session, conversation, text, session.get_one(User, world.users[who].id)).id


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff(50) == timedelta(hours=1)


def test_a_reply_is_queued_sent_and_sets_first_response(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    message_id = _reply(sessions, world, "cs", "Sorry about your bag! DM us your file number.")
    with sessions() as session:
        message = session.get_one(Message, message_id)
        conversation = session.get_one(Conversation, world.conversation_id)
        assert (message.direction, message.delivery_status) == ("outbound", "pending")
        assert message.in_reply_to == "m1"
        assert conversation.first_response_at is not None
        assert conversation.status == "open"
        assert session.scalar(select(OutboxItem.status)) == "pending"
    fake = FakeConnector(platform="x")
    report = deliver_pending(sessions, lambda name: fake)
    assert report.sent == [message_id]
    assert fake.sent[0].text.startswith("Sorry about your bag")
    assert fake.sent[0].in_reply_to == "m1" and fake.sent[0].recipient_handle == "jane"
    with sessions() as session:
        message = session.get_one(Message, message_id)
        assert message.delivery_status == "sent"
        assert message.external_id == "fake-out-1"
    assert deliver_pending(sessions, lambda name: fake).sent == []


def test_a_failed_reply_is_kept_and_retried_with_backoff(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    message_id = _reply(sessions, world, "cs", "We are on it.")
    fake = FakeConnector(platform="x", fail_next=1)
    assert deliver_pending(sessions, lambda name: fake).failed == [message_id]
    with sessions() as session:
        item = session.scalars(select(OutboxItem)).one()
        assert (item.status, item.attempts) == ("failed", 1)
        assert item.last_error == "fake platform unavailable"
        assert item.next_attempt_at is not None
        assert session.get_one(Message, message_id).delivery_status == "failed"
    # Not due yet: nothing happens; once due it goes out.
    assert deliver_pending(sessions, lambda name: fake).sent == []
    later = utcnow() + timedelta(minutes=2)
    assert deliver_pending(sessions, lambda name: fake, now=later).sent == [message_id]
    with sessions() as session:
        item = session.scalars(select(OutboxItem)).one()
        assert (item.status, item.attempts) == ("sent", 2)


def test_a_reply_that_keeps_failing_stops_retrying_but_stays(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    _reply(sessions, world, "cs", "Hello?")
    fake = FakeConnector(platform="x", fail_next=100)
    now = utcnow()
    for _attempt in range(MAX_ATTEMPTS):
        now += timedelta(hours=2)
        deliver_pending(sessions, lambda name: fake, now=now)
    with sessions() as session:
        item = session.scalars(select(OutboxItem)).one()
        assert (item.status, item.attempts, item.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)


def test_agency_replies_wait_for_in_house_approval_when_required(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        session.get_one(Conversation, world.conversation_id).agency_allowed = True
        admin = session.get_one(User, world.users["admin"].id)
        do_set_inbox_settings(session, world.org.id, admin, agency_replies_need_approval=True)
    message_id = _reply(sessions, world, "agency", "Hi! Checking for you.")
    fake = FakeConnector(platform="x")
    assert deliver_pending(sessions, lambda name: fake).sent == []
    with sessions() as session, session.begin():
        message = session.get_one(Message, message_id)
        assert message.delivery_status == "awaiting_approval"
        assert session.get_one(Conversation, world.conversation_id).first_response_at is None
        with pytest.raises(Forbidden):
            do_approve_reply(session, message, session.get_one(User, world.users["cs"].id))
        do_approve_reply(session, message, session.get_one(User, world.users["lead"].id))
        with pytest.raises(ValidationFailed):
            do_approve_reply(session, message, session.get_one(User, world.users["lead"].id))
    assert deliver_pending(sessions, lambda name: fake).sent == [message_id]


def test_agency_cannot_reply_to_in_house_conversation(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with pytest.raises(Forbidden):
        _reply(sessions, world, "agency", "hi")
    with pytest.raises(ValidationFailed, match="empty"):
        _reply(sessions, world, "cs", "  ")
