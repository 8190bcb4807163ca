"""Routing many conversations in committed batches, for imports, the demo and the pipeline."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from townhall.routing.actions import ROUTE_BATCH_SIZE, route_pending


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
