"""Routing work in committed units: batches of routing, and the clocks every worker pass runs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from townhall.routing.actions import ROUTE_BATCH_SIZE, route_pending
from townhall.routing.auto_assign import auto_assign
from townhall.routing.sla_sweep import SweepResult, sla_sweep


def route_all_pending(
    sessions: sessionmaker[Session],
    org_id: int,
    conversation_ids: Iterable[int] | None = None,
    *,
    batch_size: int = ROUTE_BATCH_SIZE,
) -> int:
    """Route every unrouted conversation, one transaction per batch; returns how many."""
    wanted = sorted(set(conversation_ids)) if conversation_ids is not None else None
    routed = 0
    start = 0
    while True:
        with sessions() as session, session.begin():
            if wanted is None:
                done = route_pending(session, org_id, batch_size=batch_size, limit=batch_size)
            else:
                chunk = wanted[start : start + batch_size]
                if not chunk:
                    return routed
                done = route_pending(session, org_id, chunk, batch_size=batch_size)
                start += batch_size
        routed += done
        if wanted is None and done == 0:
            return routed


def run_clocks(
    sessions: sessionmaker[Session], org_ids: Iterable[int], now: datetime | None = None
) -> SweepResult:
    """One worker pass of the SLA sweep and of automatic assignment, per organisation.

    Assignment runs here too so work freed outside the inbox (an agent's capacity raised,
    a conversation closed through the API) is handed out without waiting for a person.
    """
    total = SweepResult()
    for org_id in org_ids:
        with sessions() as session, session.begin():
            result = sla_sweep(session, org_id, now)
        with sessions() as session, session.begin():
            auto_assign(session, org_id, now=now)
        total.warnings += result.warnings
        total.breaches += result.breaches
        total.moved += result.moved
        total.notified += result.notified
        total.stale += result.stale
        total.conversation_ids += result.conversation_ids
    return total
