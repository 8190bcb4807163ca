"""Webhook delivery: signed POSTs to a real local server, backoff, dead letters, one claimer per row."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from inbox.conftest import InboxWorld
from townhall.conversations.models import Conversation
from townhall.core.retry import RetrySchedule
from townhall.core.signing import SignatureInvalid, signature, verify
from townhall.core.time import ensure_aware, utcnow
from townhall.governance.models import AuditEvent, User
from townhall.inbox.actions import do_set_status
from townhall.integrations.delivery import SCHEDULE, _claim, deliver_webhooks
from townhall.integrations.models import WebhookDelivery, WebhookEvent

from .conftest import Receiver, subscribe


def _change_status(sessions: sessionmaker[Session], world: InboxWorld, *statuses: str) -> None:
    for status in statuses:
        with sessions() as session, session.begin():
            conversation = session.get_one(Conversation, world.conversation_id)
            do_set_status(
                session, conversation, status, session.get_one(User, world.users["cs"].id)
            )


def _delivery(sessions: sessionmaker[Session]) -> WebhookDelivery:
    with sessions() as session:
        return session.scalars(select(WebhookDelivery)).one()


def test_a_delivery_is_posted_signed_and_marked_delivered(
    sessions: sessionmaker[Session], world: InboxWorld, receiver: Receiver
) -> None:
    hook = subscribe(sessions, world, receiver.url, ["conversation.status_changed"])
    _change_status(sessions, world, "open")
    report = deliver_webhooks(sessions)
    assert len(report.delivered) == 1 and not report.failed
    (request,) = receiver.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["x-townhall-event"] == "conversation.status_changed"
    assert headers["content-type"] == "application/json"
    # The receiver can check the signature with nothing but the secret it was shown.
    assert signature_matches(
        hook.secret,
        headers["x-townhall-timestamp"],
        request.body,
        headers["x-townhall-signature"],
        now=time.time(),
    )
    assert not signature_matches(
        hook.secret,
        headers["x-townhall-timestamp"],
        request.body + b" ",
        headers["x-townhall-signature"],
        now=time.time(),
    )
    expected = signature(hook.secret, int(headers["x-townhall-timestamp"]), request.body)
    assert headers["x-townhall-signature"] == expected
    document = json.loads(request.body)
    assert document["type"] == "conversation.status_changed"
    assert (document["data"]["from"], document["data"]["to"]) == ("new", "open")
    delivery = _delivery(sessions)
    assert headers["x-townhall-delivery"] == delivery.delivery_key
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 204)
    assert delivery.next_attempt_at is None
    assert deliver_webhooks(sessions).delivered == []  # nothing is sent twice


def test_500s_and_timeouts_are_retried_with_backoff(
    sessions: sessionmaker[Session], world: InboxWorld, receiver: Receiver
) -> None:
    subscribe(sessions, world, receiver.url, ["conversation.status_changed"])
    _change_status(sessions, world, "open")
    receiver.plan = [(500, 0.0), (200, 1.5)]  # a server error, then too slow to answer
    client = httpx.Client(timeout=0.5)
    before = utcnow()
    assert len(deliver_webhooks(sessions, client=client).failed) == 1
    delivery = _delivery(sessions)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 1, 500)
    assert delivery.last_error is not None and delivery.last_error.startswith("HTTP 500")
    first_wait = ensure_aware(delivery.next_attempt_at) - before  # type: ignore[arg-type]
    assert timedelta(seconds=29) < first_wait < timedelta(seconds=32)
    # Not due yet: nothing is sent.
    assert deliver_webhooks(sessions, client=client).failed == []
    assert len(receiver.requests) == 1
    later = utcnow() + timedelta(minutes=1)
    assert len(deliver_webhooks(sessions, client=client, now=later).failed) == 1
    delivery = _delivery(sessions)
    assert delivery.attempts == 2 and delivery.response_status is None
    assert delivery.last_error is not None and "timed out" in delivery.last_error
    second_wait = ensure_aware(delivery.next_attempt_at) - ensure_aware(delivery.last_attempt_at)  # type: ignore[arg-type]
    assert second_wait == SCHEDULE.backoff(2) == timedelta(minutes=1)
    # The receiver recovers: the same delivery (same key) goes through.
    even_later = utcnow() + timedelta(minutes=5)
    assert len(deliver_webhooks(sessions, client=client, now=even_later).delivered) == 1
    keys = {r.headers["X-Townhall-Delivery"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(keys) == 1
    client.close()


def test_a_delivery_that_fails_every_attempt_becomes_a_dead_letter(
    sessions: sessionmaker[Session], world: InboxWorld, receiver: Receiver
) -> None:
    subscribe(sessions, world, receiver.url, ["conversation.status_changed"])
    _change_status(sessions, world, "open")
    receiver.plan = [(503, 0.0)] * 100
    now = utcnow()
    for _attempt in range(SCHEDULE.max_attempts):
        now += timedelta(hours=2)
        deliver_webhooks(sessions, now=now)
    delivery = _delivery(sessions)
    assert (delivery.status, delivery.attempts) == ("dead", SCHEDULE.max_attempts)
    assert delivery.next_attempt_at is None
    # Dead letters are not picked up again by the workers.
    assert deliver_webhooks(sessions, now=now + timedelta(days=1)).failed == []
    assert len(receiver.requests) == SCHEDULE.max_attempts
    with sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "webhook.dead" in actions


def test_a_delivery_claimed_by_a_worker_that_died_goes_out_after_the_lease(
    sessions: sessionmaker[Session], world: InboxWorld, receiver: Receiver
) -> None:
    subscribe(sessions, world, receiver.url, ["conversation.status_changed"])
    _change_status(sessions, world, "open")
    now = utcnow()
    with sessions() as session, session.begin():
        assert len(_claim(session, now, 10, SCHEDULE)) == 1  # ... and the worker crashes
    assert deliver_webhooks(sessions, now=now + timedelta(minutes=1)).delivered == []
    after_lease = now + SCHEDULE.lease + timedelta(seconds=1)
    assert len(deliver_webhooks(sessions, now=after_lease).delivered) == 1


def test_two_claimers_never_take_the_same_delivery(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite has one writer at a time")
    subscribe(sessions, world, "https://receiver.example/hook", ["conversation.status_changed"])
    _change_status(sessions, world, "open", "resolved", "open", "resolved")
    now = utcnow()
    first = sessions()
    second = sessions()
    try:
        first.begin()
        mine = {job.delivery_id for job in _claim(first, now, 2, SCHEDULE)}
        # The first claimer has not committed: its rows are locked, the second skips them.
        second.begin()
        # Without SKIP LOCKED the second claimer would wait here; make that a failure.
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        theirs = {job.delivery_id for job in _claim(second, now, 10, SCHEDULE)}
        assert len(mine) == 2 and len(theirs) == 2
        assert not mine & theirs
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()


def test_concurrent_workers_deliver_each_event_exactly_once(
    sessions: sessionmaker[Session], world: InboxWorld, receiver: Receiver
) -> None:
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("concurrent claims need PostgreSQL")
    subscribe(sessions, world, receiver.url, ["conversation.status_changed"])
    _change_status(sessions, world, *["open", "resolved"] * 10)
    receiver.plan = [(200, 0.02)] * 20  # slow enough that the workers overlap
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            while deliver_webhooks(sessions, limit=3).delivered:
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    keys = [r.headers["X-Townhall-Delivery"] for r in receiver.requests]
    assert len(keys) == 20 and len(set(keys)) == 20
    with sessions() as session:
        statuses = set(session.scalars(select(WebhookDelivery.status)))
        assert statuses == {"delivered"}
        assert session.query(WebhookEvent).count() == 20


def test_a_pass_hands_back_what_it_has_no_time_for_within_its_lease(
    sessions: sessionmaker[Session], world: InboxWorld, receiver: Receiver
) -> None:
    subscribe(sessions, world, receiver.url, ["conversation.status_changed"])
    _change_status(sessions, world, "open", "resolved")
    receiver.plan = [(204, 1.1)]
    # Half of a 2 s lease is over while the first delivery is being answered (1.1 s).
    hurried = RetrySchedule(lease=timedelta(seconds=2))
    report = deliver_webhooks(sessions, schedule=hurried)
    assert len(report.delivered) == 1 and not report.failed
    # Handed back as due now rather than left leased for the rest of the 2 s: the next pass,
    # well inside the lease, sends it.
    assert len(deliver_webhooks(sessions).delivered) == 1
    with sessions() as session:
        assert set(session.scalars(select(WebhookDelivery.attempts))) == {1}


def signature_matches(secret: str, timestamp: str, body: bytes, given: str, *, now: float) -> bool:
    """What a subscriber's check answers (tests/channels/test_signing.py covers the scheme)."""
    try:
        verify(secret, body, timestamp, given, now=now)
    except SignatureInvalid:
        return False
    return True
