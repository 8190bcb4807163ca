"""Sends queued replies through their channel's connector; a failed reply is kept and retried.

Run by a worker: ``deliver_pending(sessions)``. Each due reply is first claimed in a short
transaction (its next attempt moves a lease into the future, so a second worker skips it),
then sent outside any transaction, then marked sent or failed with exponential backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall.channels.base import Connector, OutboundReply, SendFailed, SendResult
from townhall.channels.registry import get_connector
from townhall.conversations.models import Conversation, Message
from townhall.core.retry import DEFAULT_SCHEDULE, claim_due
from townhall.core.time import utcnow
from townhall.governance import audit
from townhall.inbox.actions import channel_account_for
from townhall.inbox.models import OutboxItem, OutboxStatus

SCHEDULE = DEFAULT_SCHEDULE
# After this many failed attempts a reply stops retrying on its own; it stays failed and
# visible (a dead letter), and a person can queue it again (inbox.actions.do_retry_reply).
MAX_ATTEMPTS = SCHEDULE.max_attempts
backoff = SCHEDULE.backoff
DEFAULT_CONNECTOR = "fake"


@dataclass(frozen=True)
class _Claimed:
    outbox_id: int
    connector: str
    reply: OutboundReply


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)  # message ids
    failed: list[int] = field(default_factory=list)


def _claim(session: Session, now: datetime, limit: int) -> list[_Claimed]:
    due = claim_due(
        session,
        OutboxItem,
        OutboxItem.status.in_([OutboxStatus.PENDING.value, OutboxStatus.FAILED.value]),
        now=now,
        limit=limit,
        schedule=SCHEDULE,
    )
    claimed: list[_Claimed] = []
    for item in due:
        message = session.get(Message, item.message_id)
        conversation = session.get(Conversation, item.conversation_id)
        if message is None or conversation is None:
            continue
        account = channel_account_for(session, conversation)
        recipient = None
        if message.in_reply_to:
            recipient = session.scalar(
                select(Message.author_handle).where(
                    Message.org_id == message.org_id,
                    Message.platform == message.platform,
                    Message.external_id == message.in_reply_to,
                )
            )
        claimed.append(
            _Claimed(
                outbox_id=item.id,
                connector=account.connector if account else DEFAULT_CONNECTOR,
                reply=OutboundReply(
                    platform=message.platform,
                    account_handle=message.author_handle,
                    text=message.text,
                    in_reply_to=message.in_reply_to,
                    direct=message.kind == "direct_message",
                    recipient_handle=recipient,
                ),
            )
        )
    return claimed


def _mark_sent(session: Session, outbox_id: int, result: SendResult) -> int:
    item = session.get_one(OutboxItem, outbox_id)
    message = session.get_one(Message, item.message_id)
    now = utcnow()
    item.attempts += 1
    item.status = OutboxStatus.SENT.value
    item.sent_at = item.last_attempt_at = now
    item.next_attempt_at = None
    item.last_error = None
    message.external_id = result.external_id
    message.url = result.url
    message.delivery_status = OutboxStatus.SENT.value
    session.flush()
    audit.record(
        session,
        org_id=item.org_id,
        actor=None,
        actor_label="outbox",
        action="reply.sent",
        object_type="message",
        object_id=message.id,
        after={"external_id": result.external_id, "attempts": item.attempts},
    )
    return message.id


def _mark_failed(session: Session, outbox_id: int, reason: str, *, retryable: bool) -> int:
    item = session.get_one(OutboxItem, outbox_id)
    message = session.get_one(Message, item.message_id)
    now = utcnow()
    item.attempts += 1
    item.status = OutboxStatus.FAILED.value
    item.last_error = reason[:2000]
    item.last_attempt_at = now
    item.next_attempt_at = SCHEDULE.next_attempt(item.attempts, now, retryable=retryable)
    message.delivery_status = OutboxStatus.FAILED.value
    session.flush()
    audit.record(
        session,
        org_id=item.org_id,
        actor=None,
        actor_label="outbox",
        action="reply.failed",
        object_type="message",
        object_id=message.id,
        after={
            "attempts": item.attempts,
            "retry_at": item.next_attempt_at.isoformat() if item.next_attempt_at else None,
        },
        note=item.last_error,
    )
    return message.id


def deliver_pending(
    sessions: sessionmaker[Session],
    connector_for: Callable[[str], Connector] = get_connector,
    *,
    now: datetime | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Send every due reply once; returns which messages went out and which failed."""
    with sessions() as session, session.begin():
        claimed = _claim(session, now or utcnow(), limit)
    report = DeliveryReport()
    for job in claimed:
        try:
            result = connector_for(job.connector).send_reply(job.reply)
        except SendFailed as exc:
            with sessions() as session, session.begin():
                report.failed.append(
                    _mark_failed(session, job.outbox_id, str(exc), retryable=exc.retryable)
                )
        except Exception as exc:  # a broken connector must not lose the reply either
            with sessions() as session, session.begin():
                report.failed.append(
                    _mark_failed(
                        session, job.outbox_id, f"{type(exc).__name__}: {exc}", retryable=True
                    )
                )
        else:
            with sessions() as session, session.begin():
                report.sent.append(_mark_sent(session, job.outbox_id, result))
    return report
