"""Retrying work queued in a table: exponential backoff, leases and SKIP LOCKED claims.

Shared by everything that leaves Townhall (replies in ``inbox.outbox``, webhook deliveries in
``integrations.delivery``). A row is due when its ``next_attempt_at`` has passed; claiming it
moves ``next_attempt_at`` a lease into the future in a short transaction, so other workers skip
it while it is being sent and pick it up again if the worker dies mid-send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session


@dataclass(frozen=True)
class RetrySchedule:
    """How often and how long a failing piece of outgoing work is tried again."""

    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    # After this many failed attempts the work stops retrying on its own (a dead letter);
    # it stays visible and a person can queue it again.
    max_attempts: int = 8
    # How long a claimed row is left alone by other workers while it is being sent.
    lease: timedelta = timedelta(minutes=5)

    def backoff(self, attempts: int) -> timedelta:
        """Delay before the next try after ``attempts`` failed ones: 30 s, 1 min, 2 min … 1 h."""
        return min(self.base_delay * (2 ** min(max(0, attempts - 1), 20)), self.max_delay)

    def next_attempt(
        self, attempts: int, now: datetime, *, retryable: bool = True
    ) -> datetime | None:
        """When to try again after ``attempts`` failures, or None to give up."""
        if not retryable or attempts >= self.max_attempts:
            return None
        return now + self.backoff(attempts)


DEFAULT_SCHEDULE = RetrySchedule()


_Row = TypeVar("_Row")


def claim_due(
    session: Session,
    model: type[_Row],
    *conditions: ColumnElement[bool],
    now: datetime,
    limit: int,
    schedule: RetrySchedule = DEFAULT_SCHEDULE,
) -> list[_Row]:
    """Lock up to ``limit`` due rows that no other worker holds and lease them to this one.

    ``model`` has an ``id`` and a ``next_attempt_at`` (NULL: not due at all).

    Run it in its own short transaction and commit before doing the slow work: the lease,
    not the row lock, is what keeps other workers away while the work is sent.
    """
    due: InstrumentedAttribute[Any] = model.next_attempt_at  # type: ignore[attr-defined]
    key: InstrumentedAttribute[Any] = model.id  # type: ignore[attr-defined]
    rows = list(
        session.scalars(
            select(model)
            .where(due.is_not(None), due <= now, *conditions)
            .order_by(due, key)
            .limit(limit)
            # OF the work table only: rows joined in a condition are not locked.
            .with_for_update(skip_locked=True, of=model)
        )
    )
    for row in rows:
        row.next_attempt_at = now + schedule.lease  # type: ignore[attr-defined]
    session.flush()
    return rows
