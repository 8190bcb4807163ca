"""Domain events are written in the transaction of the change they announce, for subscribers only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import item, store
from inbox.conftest import InboxWorld
from townhall import understanding
from townhall.conversations.models import Conversation
from townhall.governance.models import User
from townhall.inbox.actions import do_reply, do_set_status, do_transfer
from townhall.integrations.actions import do_set_subscription_active
from townhall.integrations.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from townhall.pipeline import process_pending
from townhall.routing.actions import route_pending
from townhall.routing.models import Queue
from townhall.understanding import Understanding

from .conftest import subscribe


def _events(sessions: sessionmaker[Session]) -> list[tuple[str, dict]]:
    with sessions() as session:
        return [
            (e.event_type, e.payload)
            for e in session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))
        ]


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


class _Boom(Exception):
    pass


def test_a_change_that_rolls_back_announces_nothing(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    subscribe(sessions, world, "https://receiver.example/hook")

    def change_then_fail() -> None:
        with sessions() as session, session.begin():
            conversation = session.get_one(Conversation, world.conversation_id)
            cs = session.get_one(User, world.users["cs"].id)
            do_reply(session, conversation, "We are looking into it.", cs)
            do_set_status(session, conversation, "resolved", cs)
            # The events were written in this transaction, next to the change ...
            assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 3
            raise _Boom

    with pytest.raises(_Boom):
        change_then_fail()
    # ... and went with it.
    assert _count(sessions, WebhookEvent) == 0
    assert _count(sessions, WebhookDelivery) == 0
    with sessions() as session:
        assert session.get_one(Conversation, world.conversation_id).status == "new"


def test_committed_changes_are_announced_to_each_subscriber_that_wants_them(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    everything = subscribe(sessions, world, "https://crm.example/hook")
    subscribe(sessions, world, "https://bi.example/hook", ["conversation.status_changed"])
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        cs = session.get_one(User, world.users["cs"].id)
        message = do_reply(session, conversation, "On it!", cs)
        do_set_status(session, conversation, "resolved", cs)
    events = _events(sessions)
    assert [t for t, _ in events] == [
        "message.replied",
        "conversation.status_changed",  # new → open, by the reply
        "conversation.status_changed",  # open → resolved
    ]
    replied = events[0][1]
    assert replied["message"]["id"] == message.id
    assert replied["message"]["text"] == "On it!"
    assert replied["delivery"] == "pending"
    assert replied["by"]["email"] == "cs@demo.example"
    assert [(p["from"], p["to"]) for _, p in events[1:]] == [("new", "open"), ("open", "resolved")]
    with sessions() as session:
        deliveries = session.execute(
            select(WebhookDelivery.subscription_id, func.count())
            .group_by(WebhookDelivery.subscription_id)
            .order_by(WebhookDelivery.subscription_id)
        ).all()
    # The first subscriber gets all three; the second only the two status changes.
    assert [tuple(row) for row in deliveries] == [
        (everything.subscription_id, 3),
        (everything.subscription_id + 1, 2),
    ]


def test_nothing_is_written_without_an_active_subscriber(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    hook = subscribe(sessions, world, "https://crm.example/hook")
    with sessions() as session, session.begin():
        admin = session.get_one(User, world.users["admin"].id)
        subscription = session.get_one(WebhookSubscription, hook.subscription_id)
        do_set_subscription_active(session, subscription, False, admin)
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        do_set_status(session, conversation, "open", session.get_one(User, world.users["cs"].id))
    assert _count(sessions, WebhookEvent) == 0


def test_routing_and_transfers_are_announced(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    subscribe(sessions, world, "https://crm.example/hook")
    store(sessions, world.org.id, item("m9", handle="zoe", text="I lost my password"))
    with sessions() as session, session.begin():
        assert route_pending(session, world.org.id) == 1
    ((kind, routed),) = _events(sessions)
    assert kind == "conversation.routed"
    assert routed["queue"]["name"] in world.queues
    assert routed["explanation"]
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, routed["conversation_id"])
        target = session.scalars(
            select(Queue).where(Queue.org_id == world.org.id, Queue.id != conversation.queue_id)
        ).first()
        assert target is not None
        do_transfer(
            session, conversation, target, session.get_one(User, world.users["admin"].id), "VIP"
        )
    kind, moved = _events(sessions)[-1]
    assert kind == "conversation.rerouted"
    assert moved["from_queue"]["id"] == routed["queue"]["id"]
    assert (moved["to_queue"]["name"], moved["reason"]) == (target.name, "VIP")


class _QuickUnderstander:
    """Stands in for the shipped models (this test is about the announcement, not the models)."""

    def understand(self, texts: list[str]) -> list[Understanding]:
        return [
            Understanding("en", "negative", -0.5, "complaint", 0.9, ("delay",), "high")
            for _ in texts
        ]

    def learn(self, _corrections: object) -> None:
        pass


def test_each_inbound_message_is_announced_once_when_understood(
    sessions: sessionmaker[Session], world: InboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(understanding, "get_understander", _QuickUnderstander)
    subscribe(sessions, world, "https://crm.example/hook", ["message.received"])
    store(sessions, world.org.id, item("m7", handle="ann", text="Is flight SK12 delayed?"))
    process_pending(sessions, world.org.id)
    process_pending(sessions, world.org.id)  # nothing new: nothing announced twice
    events = _events(sessions)
    assert {t for t, _ in events} == {"message.received"}
    # The world's two messages were stored but not understood before; now all three are.
    assert sorted(p["message"]["text"] for _, p in events) == [
        "Is flight SK12 delayed?",
        "My bag never arrived, please help",
        "When is your next webinar?",
    ]
    assert events[0][1]["understanding"] == {
        "language": "en",
        "sentiment": "negative",
        "intent": "complaint",
        "risk_flags": ["delay"],
        "urgency": "high",
    }


class _ConductUnderstander(_QuickUnderstander):
    """Reads a message about a named employee as employee conduct (a restricted kind)."""

    def understand(self, texts: list[str]) -> list[Understanding]:
        return [
            Understanding("en", "negative", -0.5, "employee_conduct", 0.9, (), "high")
            if "gate agent" in text
            else Understanding("en", "neutral", 0.0, "support_request", 0.9, (), "normal")
            for text in texts
        ]


def test_restricted_words_never_leave_in_a_webhook(
    sessions: sessionmaker[Session], world: InboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restricted conversations stay inside Townhall: subscribers get ids and facts only."""
    monkeypatch.setattr(understanding, "get_understander", _ConductUnderstander)
    subscribe(sessions, world, "https://crm.example/hook")
    secret = "The gate agent Mark shouted at my mother"
    store(sessions, world.org.id, item("m9", handle="zed", text=secret))
    process_pending(sessions, world.org.id)
    with sessions() as session, session.begin():
        conversation = session.scalars(
            select(Conversation).where(Conversation.thread_key == "m9")
        ).one()
        assert conversation.restricted  # the policy's verdict on employee conduct
        lead = session.get_one(User, world.users["admin"].id)
        do_reply(session, conversation, "Mark's manager will call you today.", lead)
    received = {
        p["message"]["external_id"]: p["message"]
        for t, p in _events(sessions)
        if t == "message.received"
    }
    # Announced before routing decided anything: the kind alone redacts it.
    assert received["m9"]["text"] is None and received["m9"]["redacted"] is True
    # An unrestricted message in the same batch keeps its words.
    assert received["m1"]["text"] and received["m1"]["redacted"] is False
    payloads = [p for _, p in _events(sessions)]
    assert all("Mark" not in str(p) for p in payloads), payloads
    replied = [p for t, p in _events(sessions) if t == "message.replied"]
    assert replied and replied[0]["message"]["redacted"] is True
