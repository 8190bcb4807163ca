"""The inbound pipeline: ingest stored webhook events, understand new messages, route new conversations.

Each stage is one function over a session: it claims a batch of pending rows, does the work
and marks it done in the caller's transaction, so a crash repeats at most one uncommitted
batch and never loses one. Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number
of workers can run the same stage at once without doing anything twice; on SQLite, a single
writer at a time, the same statements are simply serial. ``process_pending`` runs the stages
until nothing is left (the CLI, the demo and the embedded default); workers run the same
stages through ``townhall.jobs``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from townhall.channels.base import Connector
from townhall.channels.inbound import DeliveryRejected, parse_delivery
from townhall.channels.models import ChannelAccount, InboundEvent, InboundEventStatus
from townhall.channels.registry import get_connector
from townhall.conversations.ingest import store_items
from townhall.conversations.models import Conversation, Message
from townhall.conversations.schemas import InboundItem
from townhall.core.time import utcnow
from townhall.integrations import outgoing

log = logging.getLogger("townhall.pipeline")

BATCH_SIZE = 1000  # the default for process_pending callers that pass nothing
EVENT_BATCH_SIZE = 300
UNDERSTAND_BATCH_SIZE = 250
ROUTE_BATCH_SIZE = 500
# An event whose batch keeps failing for reasons outside the event is given up after this.
MAX_EVENT_ATTEMPTS = 5
# pg_advisory_xact_lock keys (class, organisation). 7421 is the audit log's (governance.audit).
INGEST_LOCK = 7422
AUDIT_LOCK = 7421

_MESSAGES = cast(Table, Message.__table__)
_SET_UNDERSTANDING = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("b_id"))
    .values(
        language=bindparam("b_language"),
        sentiment=bindparam("b_sentiment"),
        sentiment_score=bindparam("b_sentiment_score"),
        intent=bindparam("b_intent"),
        intent_confidence=bindparam("b_intent_confidence"),
        risk_flags=bindparam("b_risk_flags"),
        urgency=bindparam("b_urgency"),
        understood_at=bindparam("b_understood_at"),
    )
)
_EVENTS = cast(Table, InboundEvent.__table__)
_MARK_EVENT = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=_EVENTS.c.attempts + 1,
        last_error=bindparam("b_error"),
        processed_at=bindparam("b_at"),
    )
)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --------------------------------------------------------------------------- ingest events


@dataclass
class EventBatch:
    """What one ingest batch did; ``claimed`` is filled as soon as rows are claimed."""

    claimed: list[int] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    ingested: int = 0  # messages stored (not counting items that were already there)
    busy: bool = False  # another worker holds this organisation's ingest lock


def ingest_events(
    session: Session,
    org_id: int,
    *,
    limit: int = EVENT_BATCH_SIZE,
    batch: EventBatch | None = None,
    connector_for: Callable[[str], Connector] = get_connector,
) -> EventBatch:
    """Turn up to ``limit`` pending webhook events of one organisation into messages.

    Threading and contact merging read and write per-organisation state, so ingest is
    serialised per organisation (a transaction-scoped advisory lock on PostgreSQL); a worker
    that finds the lock taken returns at once with ``busy`` and does other stages instead.
    Events are marked processed in the same transaction that stores their messages. An event
    that can never become messages is marked failed with its reason, never retried.
    """
    batch = batch or EventBatch()
    if _is_postgres(session):
        locked = session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:class, :org)"),
            {"class": INGEST_LOCK, "org": org_id},
        )
        if not locked:
            batch.busy = True
            return batch
    rows = session.execute(
        select(InboundEvent.id, InboundEvent.channel_account_id, InboundEvent.body)
        .where(
            InboundEvent.org_id == org_id,
            InboundEvent.status == InboundEventStatus.PENDING.value,
        )
        .order_by(InboundEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return batch
    batch.claimed.extend(row.id for row in rows)
    accounts = {
        account.id: account
        for account in session.execute(
            select(ChannelAccount.id, ChannelAccount.platform, ChannelAccount.connector).where(
                ChannelAccount.id.in_({row.channel_account_id for row in rows})
            )
        )
    }
    parsed: list[tuple[int, list[InboundItem]]] = []
    failed: dict[int, str] = {}
    for row in rows:
        account = accounts[row.channel_account_id]
        try:
            parsed.append(
                (
                    row.id,
                    parse_delivery(connector_for(account.connector), account.platform, row.body),
                )
            )
        except DeliveryRejected as exc:
            failed[row.id] = str(exc)
        except Exception as exc:  # e.g. the connector is no longer installed
            failed[row.id] = f"{type(exc).__name__}: {exc}"
    batch.ingested += _store_events(session, org_id, parsed, failed)
    now = utcnow()
    marks: list[dict[str, Any]] = [
        {
            "b_id": event_id,
            "b_status": InboundEventStatus.FAILED.value
            if event_id in failed
            else InboundEventStatus.PROCESSED.value,
            "b_error": failed.get(event_id, "")[:2000] or None,
            "b_at": now,
        }
        for event_id in batch.claimed
    ]
    session.execute(_MARK_EVENT, marks)
    batch.failed += len(failed)
    batch.processed += len(batch.claimed) - len(failed)
    for event_id, reason in failed.items():
        log.warning("inbound event failed", extra={"event_id": event_id, "reason": reason})
    return batch


def _store_events(
    session: Session,
    org_id: int,
    parsed: list[tuple[int, list[InboundItem]]],
    failed: dict[int, str],
) -> int:
    """Store every parsed event's items in one call; if that fails, event by event.

    Storing the whole batch at once is what makes ingest fast; the fallback finds the one
    event that cannot be stored, so it alone becomes a dead letter and the rest go through.
    """
    items = [item for _event_id, event_items in parsed for item in event_items]
    if not items:
        return 0
    try:
        with session.begin_nested():
            return store_items(session, org_id, items).ingested
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        log.warning("storing a batch of events failed; storing them one by one", exc_info=True)
    except Exception:
        log.warning("storing a batch of events failed; storing them one by one", exc_info=True)
    stored = 0
    for event_id, event_items in parsed:
        try:
            with session.begin_nested():
                stored += store_items(session, org_id, event_items).ingested
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            failed[event_id] = f"could not be stored: {exc.orig or exc}"
        except Exception as exc:
            failed[event_id] = f"could not be stored: {type(exc).__name__}: {exc}"
    return stored


def record_failed_attempt(
    sessions: sessionmaker[Session], event_ids: list[int], reason: str
) -> None:
    """Count a batch that failed as a whole against its events; give up on them after a few.

    A crash (or SIGKILL) is not counted: that is never the event's fault.
    """
    if not event_ids:
        return
    with sessions() as session, session.begin():
        session.execute(
            update(InboundEvent)
            .where(
                InboundEvent.id.in_(event_ids),
                InboundEvent.status == InboundEventStatus.PENDING.value,
            )
            .values(attempts=InboundEvent.attempts + 1, last_error=reason[:2000])
        )
        session.execute(
            update(InboundEvent)
            .where(
                InboundEvent.id.in_(event_ids),
                InboundEvent.status == InboundEventStatus.PENDING.value,
                InboundEvent.attempts >= MAX_EVENT_ATTEMPTS,
            )
            .values(status=InboundEventStatus.FAILED.value, processed_at=utcnow())
        )


# --------------------------------------------------------------------------- understand


_replayed_corrections: set[int] = set()


def replay_corrections(session: Session, org_id: int) -> int:
    """Teach this process's understander the agents' stored corrections (once per process).

    Corrections live in the database; the model's memory of them does not survive a restart.
    """
    from townhall.inbox.models import UnderstandingCorrection
    from townhall.understanding import Correction, get_understander

    if org_id in _replayed_corrections:
        return 0
    rows = session.execute(
        select(Message.text, UnderstandingCorrection.field, UnderstandingCorrection.new)
        .join(Message, Message.id == UnderstandingCorrection.message_id)
        .where(UnderstandingCorrection.org_id == org_id)
        .order_by(UnderstandingCorrection.id)
    ).all()
    if rows:
        get_understander().learn([Correction(text, field, label) for text, field, label in rows])
    _replayed_corrections.add(org_id)
    return len(rows)


def understand_pending(
    session: Session, org_id: int, *, limit: int = UNDERSTAND_BATCH_SIZE
) -> set[int]:
    """Understand up to ``limit`` inbound messages not understood yet; returns their conversations."""
    return understand_messages(session, org_id, limit=limit)[1]


def understand_messages(
    session: Session, org_id: int, *, limit: int = UNDERSTAND_BATCH_SIZE
) -> tuple[int, set[int]]:
    """Understand up to ``limit`` inbound messages not understood yet.

    Returns how many and their conversations. The messages are claimed (locked, skipping
    ones another worker holds) until the caller commits, so no message is understood twice.
    """
    from townhall.understanding import get_understander

    rows = session.execute(
        select(Message.id, Message.text, Message.conversation_id)
        .where(
            Message.org_id == org_id,
            Message.direction == "inbound",
            Message.understood_at.is_(None),
        )
        .order_by(Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0, set()
    replay_corrections(session, org_id)
    results = get_understander().understand([row.text for row in rows])
    now = utcnow()
    params: list[dict[str, Any]] = [
        {
            "b_id": row.id,
            "b_language": result.language,
            "b_sentiment": result.sentiment,
            "b_sentiment_score": result.sentiment_score,
            "b_intent": result.intent,
            "b_intent_confidence": result.intent_confidence,
            "b_risk_flags": list(result.risk_flags),
            "b_urgency": result.urgency,
            "b_understood_at": now,
        }
        for row, result in zip(rows, results, strict=True)
    ]
    session.execute(_SET_UNDERSTANDING, params)
    # Outgoing webhooks, in this transaction: each inbound message is understood exactly once.
    outgoing.announce_messages_received(session, org_id, [row.id for row in rows])
    return len(rows), {row.conversation_id for row in rows}


# --------------------------------------------------------------------------- route


def route_unrouted(session: Session, org_id: int, *, limit: int = ROUTE_BATCH_SIZE) -> list[int]:
    """Route up to ``limit`` conversations that have no queue and nothing left to understand.

    The conversations are claimed with ``FOR UPDATE SKIP LOCKED``: two workers never decide
    the same conversation, so each gets exactly one initial routing decision. A conversation
    still waiting for a message to be understood is left for later: routing reads those facts.
    """
    from townhall.routing.actions import ensure_policy, route_pending
    from townhall.routing.queries import active_policy

    waiting = exists().where(
        Message.conversation_id == Conversation.id,
        Message.direction == "inbound",
        Message.understood_at.is_(None),
    )
    ids = list(
        session.scalars(
            select(Conversation.id)
            .where(Conversation.org_id == org_id, Conversation.queue_id.is_(None), ~waiting)
            .order_by(Conversation.id)
            .limit(limit)
            .with_for_update(of=Conversation, skip_locked=True)
        )
    )
    if not ids:
        return []
    if active_policy(session, org_id) is None:
        # Two workers must not both install the default policy for a new organisation.
        if _is_postgres(session):
            session.execute(
                text("SELECT pg_advisory_xact_lock(:class, :org)"),
                {"class": AUDIT_LOCK, "org": org_id},
            )
        ensure_policy(session, org_id)
    route_pending(session, org_id, ids, batch_size=limit)
    return ids


# --------------------------------------------------------------------------- all stages


@dataclass
class PipelineSummary:
    understood_conversations: int = 0
    routed: int = 0
    auto_answered: int = 0
    events_processed: int = 0
    events_failed: int = 0
    messages_understood: int = 0

    def add(self, other: PipelineSummary) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def work_done(self) -> int:
        return self.events_processed + self.events_failed + self.messages_understood + self.routed


def run_stages_once(
    sessions: sessionmaker[Session],
    org_id: int,
    *,
    understand_batch: int = UNDERSTAND_BATCH_SIZE,
) -> PipelineSummary:
    """One committed batch of each stage for one organisation; what it did."""
    from townhall.inbox.auto_answer import auto_answer_pending

    summary = PipelineSummary()
    batch = EventBatch()
    try:
        with sessions() as session, session.begin():
            ingest_events(session, org_id, batch=batch)
    except Exception as exc:
        # Rolled back; the events stay pending. Count it so a poison batch cannot loop forever.
        record_failed_attempt(sessions, batch.claimed, f"{type(exc).__name__}: {exc}")
        raise
    summary.events_processed, summary.events_failed = batch.processed, batch.failed
    with sessions() as session, session.begin():
        understood, touched = understand_messages(session, org_id, limit=understand_batch)
        summary.messages_understood = understood
        summary.understood_conversations = len(touched)
    with sessions() as session, session.begin():
        routed = route_unrouted(session, org_id)
        summary.routed = len(routed)
        if routed:
            # Routine questions the policy lets the knowledge base answer, in the same commit.
            summary.auto_answered = auto_answer_pending(session, org_id, set(routed))
    _count(summary)
    return summary


def _count(summary: PipelineSummary) -> None:
    from townhall.metrics import pipeline_items

    if summary.events_processed or summary.events_failed:
        pipeline_items.labels("ingest").inc(summary.events_processed + summary.events_failed)
    if summary.messages_understood:
        pipeline_items.labels("understand").inc(summary.messages_understood)
    if summary.routed:
        pipeline_items.labels("route").inc(summary.routed)


def process_pending(
    sessions: sessionmaker[Session],
    org_id: int,
    *,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PipelineSummary:
    """Run every stage for one organisation until nothing is pending, one committed batch at a time.

    ``on_batch`` is told how many conversations each round understood (for progress bars).
    """
    summary = PipelineSummary()
    while True:
        round_ = run_stages_once(sessions, org_id, understand_batch=batch_size)
        summary.add(round_)
        if on_batch and round_.understood_conversations:
            on_batch(round_.understood_conversations)
        if not round_.work_done or (should_stop and should_stop()):
            return summary
