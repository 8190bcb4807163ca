"""Reading the audit log, and recording who looked at a sensitive conversation.

Restricted conversations (Risk, HR) and those the agency may handle are the ones where the
organisation must be able to answer "who has seen this?": every view of one, on a page or
through the API, appends an audit row in the request's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation
from townhall.governance import audit
from townhall.governance.models import AuditEvent, User

AUDIT_PAGE_SIZE = 50
EXPORT_BATCH = 500


def is_sensitive(conversation: Conversation) -> bool:
    return bool(conversation.restricted or conversation.agency_allowed)


def record_view(
    session: Session,
    user: User,
    conversation: Conversation,
    *,
    via: Literal["page", "api"] = "page",
) -> AuditEvent | None:
    """Append a ``conversation.view`` row if the conversation is restricted or agency-visible."""
    if not is_sensitive(conversation):
        return None
    return audit.record(
        session,
        org_id=conversation.org_id,
        actor=user,
        action="conversation.view",
        object_type="conversation",
        object_id=conversation.id,
        after={
            "restricted": bool(conversation.restricted),
            "agency_allowed": bool(conversation.agency_allowed),
            "agency_user": user.is_agency,
            "via": via,
        },
    )


def record_export(session: Session, user: User, filters: AuditFilters) -> AuditEvent:
    """Exporting the audit log is itself an audited action."""
    return audit.record(
        session,
        org_id=user.org_id,
        actor=user,
        action="audit_log.export",
        object_type="audit_log",
        after={"action": filters.action, "actor": filters.actor},
    )


@dataclass(frozen=True)
class AuditFilters:
    action: str | None = None  # exact action, or a prefix ending in "." ("conversation.")
    actor: str | None = None  # part of the actor's email / label, case-insensitive


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int


def _where(org_id: int, filters: AuditFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [AuditEvent.org_id == org_id]
    if filters.action:
        if filters.action.endswith("."):
            where.append(AuditEvent.action.startswith(filters.action, autoescape=True))
        else:
            where.append(AuditEvent.action == filters.action)
    if filters.actor:
        where.append(
            func.lower(AuditEvent.actor_label).contains(filters.actor.lower(), autoescape=True)
        )
    return where


def audit_page(session: Session, org_id: int, filters: AuditFilters, page: int) -> AuditPage:
    """One page of the organisation's audit log, newest first."""
    where = _where(org_id, filters)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(max(1, page), pages)
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(*where)
            .order_by(AuditEvent.id.desc())
            .limit(AUDIT_PAGE_SIZE)
            .offset((page - 1) * AUDIT_PAGE_SIZE)
        )
    )
    return AuditPage(events=events, total=total, page=page, pages=pages)


def audit_actions(session: Session, org_id: int) -> list[str]:
    """The distinct actions recorded so far, for the filter's choices."""
    return list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.org_id == org_id)
            .distinct()
            .order_by(AuditEvent.action)
        )
    )


def export_rows(session: Session, org_id: int, filters: AuditFilters) -> Iterator[dict[str, Any]]:
    """Every matching row, oldest first (chain order, so a copy can be re-verified), in batches."""
    where = _where(org_id, filters)
    after_id = 0
    while True:
        batch = list(
            session.scalars(
                select(AuditEvent)
                .where(*where, AuditEvent.id > after_id)
                .order_by(AuditEvent.id)
                .limit(EXPORT_BATCH)
            )
        )
        if not batch:
            return
        for event in batch:
            yield {**audit.as_dict(event), "prev_hash": event.prev_hash}
        after_id = batch[-1].id
        session.expunge_all()
