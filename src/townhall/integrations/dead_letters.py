"""Dead letters: work that left (or entered) Townhall, failed every attempt and waits for a person.

One view over several sources. Each source lists its dead items and knows how to retry
(queue again) and discard (mark, keep for the record) one; both are audited by the source's
own actions. To add a source, write a class with the four methods of ``DeadLetterSource``
and add an instance to ``SOURCES`` at the bottom of this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from townhall.conversations.models import Message
from townhall.core.errors import NotFound
from townhall.governance.models import User
from townhall.inbox.actions import do_discard_reply, do_retry_reply
from townhall.inbox.models import OutboxItem, OutboxStatus
from townhall.integrations.actions import check_admin, do_discard_delivery, do_retry_delivery
from townhall.integrations.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from townhall.integrations.queries import access_delivery

PAGE_SIZE = 100
PREVIEW_CHARS = 120


@dataclass(frozen=True)
class DeadLetter:
    id: int  # the source's own id for the item, used in the retry/discard URLs
    what: str
    error: str | None
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    link: str | None = None  # where to see it in context
    note: str | None = None  # anything a person should know before retrying


class DeadLetterSource(Protocol):
    name: str  # in URLs: /admin/dead-letters/{name}/{id}/retry
    label: str  # the section's heading

    def count(self, session: Session, org_id: int) -> int: ...

    def items(self, session: Session, org_id: int, limit: int) -> list[DeadLetter]: ...

    def retry(self, session: Session, item_id: int, acting_user: User) -> None: ...

    def discard(self, session: Session, item_id: int, acting_user: User) -> None: ...


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


class FailedReplies:
    """Replies the outbox gave up on (out of attempts, or a failure not worth retrying)."""

    name = "replies"
    label = "Replies that could not be sent"

    @staticmethod
    def _dead(org_id: int) -> tuple[ColumnElement[bool], ...]:
        return (
            OutboxItem.org_id == org_id,
            OutboxItem.status == OutboxStatus.FAILED.value,
            OutboxItem.next_attempt_at.is_(None),
        )

    def count(self, session: Session, org_id: int) -> int:
        return session.scalar(select(func.count()).where(*self._dead(org_id))) or 0

    def items(self, session: Session, org_id: int, limit: int) -> list[DeadLetter]:
        rows = session.execute(
            select(OutboxItem, Message.text, Message.platform)
            .join(Message, Message.id == OutboxItem.message_id)
            .where(*self._dead(org_id))
            .order_by(OutboxItem.created_at.desc(), OutboxItem.id.desc())
            .limit(limit)
        ).all()
        return [
            DeadLetter(
                id=item.message_id,
                what=f"Reply on {platform}: “{_preview(text)}”",
                error=item.last_error,
                attempts=item.attempts,
                created_at=item.created_at,
                last_attempt_at=item.last_attempt_at,
                link=f"/conversations/{item.conversation_id}",
            )
            for item, text, platform in rows
        ]

    def _message(self, session: Session, item_id: int, acting_user: User) -> Message:
        message = session.get(Message, item_id)
        if message is None or message.org_id != acting_user.org_id:
            raise NotFound("reply")
        return message

    def retry(self, session: Session, item_id: int, acting_user: User) -> None:
        do_retry_reply(session, self._message(session, item_id, acting_user), acting_user)

    def discard(self, session: Session, item_id: int, acting_user: User) -> None:
        do_discard_reply(session, self._message(session, item_id, acting_user), acting_user)


class DeadWebhookDeliveries:
    """Webhook deliveries that failed every attempt."""

    name = "webhooks"
    label = "Webhook deliveries that failed"

    def count(self, session: Session, org_id: int) -> int:
        return (
            session.scalar(
                select(func.count()).where(
                    WebhookDelivery.org_id == org_id,
                    WebhookDelivery.status == DeliveryStatus.DEAD.value,
                )
            )
            or 0
        )

    def items(self, session: Session, org_id: int, limit: int) -> list[DeadLetter]:
        rows = session.execute(
            select(WebhookDelivery, WebhookEvent.event_type, WebhookSubscription)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(
                WebhookDelivery.org_id == org_id,
                WebhookDelivery.status == DeliveryStatus.DEAD.value,
            )
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        ).all()
        return [
            DeadLetter(
                id=delivery.id,
                what=f"{event_type} → {subscription.url}",
                error=delivery.last_error,
                attempts=delivery.attempts,
                created_at=delivery.created_at,
                last_attempt_at=delivery.last_attempt_at,
                link="/admin/webhooks",
                note=None
                if subscription.active
                else "the subscription is disabled: a retry waits until it is enabled",
            )
            for delivery, event_type, subscription in rows
        ]

    def retry(self, session: Session, item_id: int, acting_user: User) -> None:
        do_retry_delivery(session, access_delivery(session, acting_user, item_id), acting_user)

    def discard(self, session: Session, item_id: int, acting_user: User) -> None:
        do_discard_delivery(session, access_delivery(session, acting_user, item_id), acting_user)


@dataclass(frozen=True)
class DeadLetterSection:
    source: DeadLetterSource
    total: int
    items: list[DeadLetter]


def dead_letters(session: Session, user: User) -> list[DeadLetterSection]:
    """Every source's dead letters for the user's organisation, newest first, for an admin."""
    check_admin(user)
    return [
        DeadLetterSection(
            source=source,
            total=source.count(session, user.org_id),
            items=source.items(session, user.org_id, PAGE_SIZE),
        )
        for source in SOURCES.values()
    ]


def access_source(user: User, name: str) -> DeadLetterSource:
    check_admin(user)
    source = SOURCES.get(name)
    if source is None:
        raise NotFound("dead-letter source")
    return source


# The sources, in the order the page shows them. A new one (e.g. inbound events that failed
# to parse) is one more instance here.
SOURCES: dict[str, DeadLetterSource] = {
    source.name: source for source in (FailedReplies(), DeadWebhookDeliveries())
}
