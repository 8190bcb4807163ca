"""The tamper-evident audit log: every action appends a row chained to the previous row's hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from townhall.core.time import ensure_aware, utcnow
from townhall.governance.models import AuditEvent, User

GENESIS_HASH = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "org_id": event.org_id,
        "actor_user_id": event.actor_user_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "note": event.note,
        "created_at": ensure_aware(event.created_at).isoformat(timespec="microseconds"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(event)).hexdigest()


def lock_organisation(session: Session, org_id: int) -> None:
    """Hold the organisation's audit-chain lock until the transaction ends (PostgreSQL).

    Appends take it so two writers never chain onto the same row. Background work that
    writes many rows (automatic assignment, the SLA sweep) takes it first, so it never
    waits for a row while holding it against a writer that needs it. SQLite has one writer.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7421, :org)"), {"org": org_id})


def record(
    session: Session,
    *,
    org_id: int,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one audit row in the caller's transaction."""
    lock_organisation(session, org_id)
    prev = session.scalar(
        select(AuditEvent.hash)
        .where(AuditEvent.org_id == org_id)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    event = AuditEvent(
        org_id=org_id,
        actor_user_id=actor.id if actor else None,
        actor_label=actor_label or (actor.email if actor else "system"),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=before,
        after=after,
        note=note,
        created_at=utcnow(),
        prev_hash=prev or GENESIS_HASH,
    )
    event.hash = entry_hash(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class VerifyProblem:
    event_id: int
    reason: str


def verify(session: Session, org_id: int) -> list[VerifyProblem]:
    """Walk the chain; an edited, deleted or reordered row breaks it at that row."""
    problems: list[VerifyProblem] = []
    expected_prev = GENESIS_HASH
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.org_id == org_id).order_by(AuditEvent.id)
    )
    for event in rows:
        if event.prev_hash != expected_prev:
            problems.append(
                VerifyProblem(
                    event.id, "previous-hash link broken (a row was deleted or reordered)"
                )
            )
        if entry_hash(event.prev_hash, event) != event.hash:
            problems.append(VerifyProblem(event.id, "content does not match its hash (edited)"))
        expected_prev = event.hash
    return problems


def as_dict(event: AuditEvent) -> dict[str, Any]:
    created: datetime = ensure_aware(event.created_at)
    return {
        "id": event.id,
        "actor": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "note": event.note,
        "created_at": created.isoformat(),
        "hash": event.hash,
    }
