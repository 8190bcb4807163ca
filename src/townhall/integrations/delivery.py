"""Delivers webhook events to their subscribers: signed POSTs, retried with backoff, then dead letters.

Run by workers: ``deliver_webhooks(sessions)``. Like replies (``inbox.outbox``) each due
delivery is claimed in a short transaction with SKIP LOCKED and a lease (``core.retry``),
POSTed outside any transaction, then marked delivered, or failed with the next attempt
scheduled, or dead once it has used up its attempts. A receiver sees every event at least
once; ``X-Townhall-Delivery`` is the same on every retry so it can drop repeats.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from townhall import __version__
from townhall.core.retry import DEFAULT_SCHEDULE, RetrySchedule, claim_due
from townhall.core.signing import signature
from townhall.core.time import ensure_aware, utcnow
from townhall.governance import audit
from townhall.integrations.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

SCHEDULE = DEFAULT_SCHEDULE
TIMEOUT_SECONDS = 10.0
MAX_ERROR_CHARS = 2000
ERROR_BODY_BYTES = 300
RETRIED_STATUSES = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    url: str
    secret: str
    event_type: str
    delivery_key: str
    body: bytes


@dataclass
class WebhookReport:
    delivered: list[int] = field(default_factory=list)  # delivery ids
    failed: list[int] = field(default_factory=list)  # will be retried
    dead: list[int] = field(default_factory=list)  # gave up: now a dead letter


def event_body(event: WebhookEvent) -> bytes:
    """The JSON document a subscriber receives (the same bytes are signed)."""
    document = {
        "id": event.id,
        "type": event.event_type,
        "created_at": ensure_aware(event.created_at).isoformat(),
        "org_id": event.org_id,
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _claim(session: Session, now: datetime, limit: int, schedule: RetrySchedule) -> list[_Job]:
    active = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
    deliveries = claim_due(
        session,
        WebhookDelivery,
        WebhookDelivery.status.in_(RETRIED_STATUSES),
        # A disabled subscription's deliveries wait, and go out if it is enabled again.
        WebhookDelivery.subscription_id.in_(active),
        now=now,
        limit=limit,
        schedule=schedule,
    )
    jobs = []
    for delivery in deliveries:
        event = session.get_one(WebhookEvent, delivery.event_id)
        subscription = session.get_one(WebhookSubscription, delivery.subscription_id)
        jobs.append(
            _Job(
                delivery_id=delivery.id,
                url=subscription.url,
                secret=subscription.secret,
                event_type=event.event_type,
                delivery_key=delivery.delivery_key,
                body=event_body(event),
            )
        )
    return jobs


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None  # None when no response came back
    error: str | None  # None when the receiver accepted the delivery


def _post(client: httpx.Client, job: _Job) -> _Outcome:
    """Send one delivery and say how the receiver answered."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Townhall-Webhooks/{__version__}",
        "X-Townhall-Event": job.event_type,
        "X-Townhall-Timestamp": str(timestamp),
        "X-Townhall-Signature": signature(job.secret, timestamp, job.body),
        "X-Townhall-Delivery": job.delivery_key,
    }
    try:
        # Streamed: only the start of an error body is read, however much the receiver sends.
        with client.stream("POST", job.url, content=job.body, headers=headers) as response:
            if 200 <= response.status_code < 300:
                return _Outcome(response.status_code, None)
            start = next(response.iter_bytes(), b"")[:ERROR_BODY_BYTES]
    except httpx.TimeoutException:
        return _Outcome(None, f"timed out after {client.timeout.read or TIMEOUT_SECONDS:g} s")
    except httpx.HTTPError as exc:
        return _Outcome(None, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # e.g. httpx.InvalidURL: counted as an attempt, never a poison row
        return _Outcome(None, f"{type(exc).__name__}: {exc}")
    # Redirects are not followed: a receiver that moved must be registered again.
    text = start.decode("utf-8", errors="replace").strip()
    return _Outcome(response.status_code, f"HTTP {response.status_code}: {text}".strip(": "))


def _mark(
    session: Session,
    delivery_id: int,
    outcome: _Outcome,
    schedule: RetrySchedule,
    report: WebhookReport,
) -> None:
    delivery = session.get_one(WebhookDelivery, delivery_id)
    now = utcnow()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status = outcome.status_code
    if outcome.error is None:
        delivery.status = DeliveryStatus.DELIVERED.value
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = None
        report.delivered.append(delivery_id)
        return
    delivery.last_error = outcome.error[:MAX_ERROR_CHARS]
    delivery.next_attempt_at = schedule.next_attempt(delivery.attempts, now)
    if delivery.next_attempt_at is not None:
        delivery.status = DeliveryStatus.FAILED.value
        report.failed.append(delivery_id)
        return
    delivery.status = DeliveryStatus.DEAD.value
    report.dead.append(delivery_id)
    session.flush()
    audit.record(
        session,
        org_id=delivery.org_id,
        actor=None,
        actor_label="webhooks",
        action="webhook.dead",
        object_type="webhook_delivery",
        object_id=delivery.id,
        after={"subscription_id": delivery.subscription_id, "attempts": delivery.attempts},
        note=delivery.last_error,
    )


def deliver_webhooks(
    sessions: sessionmaker[Session],
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    limit: int = 50,
    schedule: RetrySchedule = SCHEDULE,
) -> WebhookReport:
    """POST every due delivery once; returns which were delivered, will be retried, or died."""
    started = now or utcnow()
    with sessions() as session, session.begin():
        jobs = _claim(session, started, limit, schedule)
    report = WebhookReport()
    if not jobs:
        return report
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    # Stop well inside the lease: past it another worker may claim (and send) the same rows.
    deadline = time.monotonic() + schedule.lease.total_seconds() / 2
    try:
        for index, job in enumerate(jobs):
            if time.monotonic() > deadline:
                _release(sessions, [j.delivery_id for j in jobs[index:]])
                break
            outcome = _post(http, job)
            with sessions() as session, session.begin():
                _mark(session, job.delivery_id, outcome, schedule, report)
    finally:
        if own_client:
            http.close()
    return report


def _release(sessions: sessionmaker[Session], delivery_ids: list[int]) -> None:
    """Hand back deliveries this pass had no time for, so any worker can take them now."""
    with sessions() as session, session.begin():
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_(delivery_ids),
                WebhookDelivery.status.in_(RETRIED_STATUSES),
            )
            .values(next_attempt_at=utcnow())
        )
