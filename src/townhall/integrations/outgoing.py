"""Domain events for outgoing webhooks, written in the transaction of the change they announce.

The one place events are emitted. Actions call the ``announce_*`` functions after their
change is flushed; each writes a ``webhook_event`` row and one ``webhook_delivery`` per
active subscription that wants that kind of event, in the caller's transaction. So a change
that rolls back announces nothing, and a change that commits is announced even if every
worker is down (``integrations.delivery`` sends it later). No subscriber: nothing is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation, Message
from townhall.core.time import ensure_aware, utcnow
from townhall.governance.models import Department, User
from townhall.integrations.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from townhall.routing.models import Queue, RoutingDecisionRecord
from townhall.routing.queries import active_policy, compiled_policy

# Every event a subscription may ask for, with what it means (shown on /admin/webhooks).
EVENT_TYPES: dict[str, str] = {
    "message.received": "an inbound message was stored and understood",
    "conversation.routed": "the ownership policy routed a conversation to a queue",
    "conversation.rerouted": "a person moved (transferred) a conversation to another queue",
    "conversation.status_changed": "a conversation's status changed",
    "message.replied": "an agent's reply was queued to go out",
}

Payload = dict[str, Any]


def subscribers(session: Session, org_id: int, event_type: str) -> list[int]:
    """Ids of the organisation's active subscriptions that want ``event_type``."""
    rows = session.execute(
        select(WebhookSubscription.id, WebhookSubscription.event_types)
        .where(WebhookSubscription.org_id == org_id, WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)
    ).all()
    # A handful of subscriptions per organisation: filtering the JSON list here is portable.
    return [row.id for row in rows if event_type in (row.event_types or ())]


def emit(
    session: Session, org_id: int, event_type: str, payloads: Callable[[], Sequence[Payload]]
) -> list[WebhookEvent]:
    """Write events and their deliveries in the caller's transaction (flushes, never commits).

    ``payloads`` is only called when a subscription wants the event, so announcing costs one
    small query when nobody listens.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    wanted_by = subscribers(session, org_id, event_type)
    if not wanted_by:
        return []
    now = utcnow()
    events = [
        WebhookEvent(org_id=org_id, event_type=event_type, payload=payload, created_at=now)
        for payload in payloads()
    ]
    if not events:
        return []
    session.add_all(events)
    session.flush()
    session.add_all(
        WebhookDelivery(
            org_id=org_id,
            event_id=event.id,
            subscription_id=subscription_id,
            delivery_key=uuid.uuid4().hex,
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for event in events
        for subscription_id in wanted_by
    )
    session.flush()
    return events


# -- payloads -------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return ensure_aware(value).isoformat() if value is not None else None


def _conversation(conversation: Conversation) -> Payload:
    # A restricted conversation's subject quotes its first message: see _message.
    return {
        "id": conversation.id,
        "platform": conversation.platform,
        "status": conversation.status,
        "priority": conversation.priority,
        "queue_id": conversation.queue_id,
        "owner_department_id": conversation.owner_department_id,
        "agency_allowed": conversation.agency_allowed,
        "restricted": conversation.restricted,
        "subject": None if conversation.restricted else conversation.subject,
    }


def _message(message: Message, *, restricted: bool) -> Payload:
    """The message as subscribers see it; a restricted one without its words.

    Restricted conversations (employee conduct, threats, whatever the policy marks so) are
    visible only to their owner department inside Townhall. A webhook leaves that boundary,
    so it carries ids and facts, and the subscriber reads the text through the API, which
    checks who is asking.
    """
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "platform": message.platform,
        "external_id": message.external_id,
        "kind": message.kind,
        "direction": message.direction,
        "author_handle": message.author_handle,
        "author_name": message.author_name,
        "text": None if restricted else message.text,
        "redacted": restricted,
        "created_at": _iso(message.created_at),
        "in_reply_to": message.in_reply_to,
        "url": message.url,
    }


def _actor(user: User | None) -> Payload | None:
    return {"id": user.id, "email": user.email, "name": user.name} if user else None


def _names(
    session: Session, model: type[Queue] | type[Department], ids: set[int]
) -> dict[int, str]:
    ids.discard(0)
    if not ids:
        return {}
    return dict(session.execute(select(model.id, model.name).where(model.id.in_(ids))).all())


def _restricted_kinds(session: Session, org_id: int) -> set[str]:
    version = active_policy(session, org_id)
    if version is None:
        return set()
    policy, _ = compiled_policy(version)
    return {name for name, kind in policy.kinds.items() if kind.restricted}


# -- the events -----------------------------------------------------------------------------


def announce_messages_received(session: Session, org_id: int, message_ids: Sequence[int]) -> None:
    """message.received, once per inbound message, when it has been understood."""

    def build() -> list[Payload]:
        rows = session.execute(
            select(Message, Conversation.restricted)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id.in_(message_ids))
            .order_by(Message.id)
            # The understanding was just written with a bulk UPDATE the session did not see.
            .execution_options(populate_existing=True)
        ).all()
        # Announced before routing: a new conversation is not marked restricted yet, so the
        # policy's verdict on the message's kind counts as well.
        restricted_kinds = _restricted_kinds(session, org_id)
        return [
            {
                "message": _message(
                    m, restricted=bool(thread_restricted) or m.intent in restricted_kinds
                ),
                "understanding": {
                    "language": m.language,
                    "sentiment": m.sentiment,
                    "intent": m.intent,
                    "risk_flags": list(m.risk_flags or ()),
                    "urgency": m.urgency,
                },
            }
            for m, thread_restricted in rows
        ]

    if message_ids:
        emit(session, org_id, "message.received", build)


def announce_routed(session: Session, records: Sequence[RoutingDecisionRecord]) -> None:
    """conversation.routed, once per routing decision the policy made."""
    if not records:
        return
    org_id = records[0].org_id

    def build() -> list[Payload]:
        queues = _names(session, Queue, {r.queue_id or 0 for r in records})
        departments = _names(session, Department, {r.owner_department_id or 0 for r in records})
        return [
            {
                "conversation_id": r.conversation_id,
                "message_id": r.message_id,
                "kind": r.kind,
                "priority": r.priority,
                "queue": {"id": r.queue_id, "name": queues.get(r.queue_id or 0)},
                "owner_department": {
                    "id": r.owner_department_id,
                    "name": departments.get(r.owner_department_id or 0),
                },
                "agency_allowed": r.agency_allowed,
                "restricted": r.restricted,
                "explanation": r.explanation,
                "decision_id": r.id,
            }
            for r in records
        ]

    emit(session, org_id, "conversation.routed", build)


def announce_rerouted(
    session: Session,
    conversation: Conversation,
    record: RoutingDecisionRecord,
    from_queue_id: int | None,
    acting_user: User,
) -> None:
    """conversation.rerouted: a person moved (transferred) the conversation to another queue."""

    def build() -> list[Payload]:
        queues = _names(session, Queue, {from_queue_id or 0, record.queue_id or 0})
        return [
            {
                "conversation": _conversation(conversation),
                "from_queue": {"id": from_queue_id, "name": queues.get(from_queue_id or 0)},
                "to_queue": {"id": record.queue_id, "name": queues.get(record.queue_id or 0)},
                "reason": (record.detail or {}).get("reason"),
                "decision_id": record.id,
                "by": _actor(acting_user),
            }
        ]

    emit(session, conversation.org_id, "conversation.rerouted", build)


def announce_status_changed(
    session: Session, conversation: Conversation, before: str, acting_user: User | None
) -> None:
    """conversation.status_changed (nothing when the status did not change)."""
    if before == conversation.status:
        return
    emit(
        session,
        conversation.org_id,
        "conversation.status_changed",
        lambda: [
            {
                "conversation": _conversation(conversation),
                "from": before,
                "to": conversation.status,
                "by": _actor(acting_user),
            }
        ],
    )


def announce_replied(
    session: Session, conversation: Conversation, message: Message, acting_user: User
) -> None:
    """message.replied: a reply was queued (``delivery`` says if it waits for approval)."""
    emit(
        session,
        conversation.org_id,
        "message.replied",
        lambda: [
            {
                "conversation": _conversation(conversation),
                "message": _message(message, restricted=conversation.restricted),
                "delivery": message.delivery_status,
                "by": _actor(acting_user),
            }
        ],
    )
