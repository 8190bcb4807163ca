"""The inbound pipeline: understand stored messages, then route their conversations.

The embedded default runs it in-process right after ingest; workers run the same functions.
Each batch is one transaction, so a crash repeats at most one batch and never loses one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Message
from townhall.core.time import utcnow
from townhall.integrations import outgoing

BATCH_SIZE = 1000

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


def understand_pending(session: Session, org_id: int, *, limit: int = BATCH_SIZE) -> set[int]:
    """Understand up to ``limit`` inbound messages not understood yet; returns their conversations."""
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
    ).all()
    if not rows:
        return set()
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
    return {row.conversation_id for row in rows}


@dataclass
class PipelineSummary:
    understood_conversations: int = 0
    routed: int = 0
    auto_answered: int = 0


def process_pending(
    sessions: sessionmaker[Session],
    org_id: int,
    *,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> PipelineSummary:
    """Understand and route everything pending, one committed batch at a time."""
    from townhall.inbox.auto_answer import auto_answer_pending
    from townhall.routing.actions import route_pending

    summary = PipelineSummary()
    while True:
        with sessions() as session, session.begin():
            touched = understand_pending(session, org_id, limit=batch_size)
            if touched:
                summary.routed += route_pending(session, org_id, sorted(touched))
                summary.auto_answered += auto_answer_pending(session, org_id, touched)
        if not touched:
            break
        summary.understood_conversations += len(touched)
        if on_batch:
            on_batch(len(touched))
    # Conversations whose messages were all understood earlier but never routed (e.g. a
    # policy applied after ingest) are routed too.
    with sessions() as session, session.begin():
        summary.routed += route_pending(session, org_id, None)
    return summary
