"""Reads for the ownership audit: an organisation's stored conversations as an audit sample,
the report built from them (cached briefly per process) and who may see it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from townhall.advisor.report import audit
from townhall.advisor.sample import UnderstandingLike, audit_item
from townhall.advisor.schemas import AuditItem, AuditOptions, AuditReport
from townhall.conversations.models import Message
from townhall.core.errors import Forbidden
from townhall.core.taxonomy import DEFAULT_OWNERSHIP
from townhall.core.time import ensure_aware, utcnow
from townhall.governance.models import Organisation, Role, User

Understand = Callable[[Sequence[str]], Sequence[UnderstandingLike]]

# The web page recomputes at most this often, and sooner when new messages arrive.
CACHE_SECONDS = 300.0
AUDIT_ROLES = frozenset({Role.ADMIN, Role.EXECUTIVE})


@dataclass(frozen=True)
class _Stored:
    """A stored message's understanding, with the gaps an older row may have filled in."""

    language: str | None
    sentiment: str
    intent: str
    risk_flags: tuple[str, ...]


@dataclass(frozen=True)
class StoredSample:
    items: list[AuditItem]
    understood_now: int  # messages without a stored understanding, classified for the audit
    period: tuple[datetime, datetime] | None


def organisation_named(session: Session, slug: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.slug == slug))


def stored_sample(
    session: Session, org_id: int, understand: Understand, *, days: int | None = None
) -> StoredSample:
    """The organisation's inbound messages (the last ``days`` days, or all) as audit items.

    Messages the understanding step has already classified keep their stored labels; the
    others are classified now, in one batch, and nothing is written back: the audit reads.
    """
    query = select(
        Message.platform,
        Message.conversation_id,
        Message.created_at,
        Message.text,
        Message.language,
        Message.sentiment,
        Message.intent,
        Message.risk_flags,
    ).where(Message.org_id == org_id, Message.direction == "inbound")
    period = None
    if days is not None:
        end = utcnow()
        period = (end - timedelta(days=days), end)
        query = query.where(Message.created_at >= period[0])
    rows = session.execute(query.order_by(Message.created_at, Message.id)).all()
    missing = [index for index, row in enumerate(rows) if row.intent is None]
    fresh = iter(understand([rows[index].text for index in missing]) if missing else [])
    items = []
    for row in rows:
        understood: UnderstandingLike
        if row.intent is None:
            understood = next(fresh)
        else:
            understood = _Stored(
                language=row.language,
                sentiment=row.sentiment or "neutral",
                intent=row.intent,
                risk_flags=tuple(row.risk_flags or ()),
            )
        items.append(
            audit_item(
                row.platform,
                ensure_aware(row.created_at),
                f"c{row.conversation_id}",
                row.text,
                understood,
            )
        )
    return StoredSample(items=items, understood_now=len(missing), period=period)


def org_audit(
    session: Session,
    org_id: int,
    options: AuditOptions,
    understand: Understand,
    *,
    days: int | None = None,
) -> AuditReport | None:
    """The audit of the organisation's stored conversations; None when it has none yet."""
    organisation = session.get(Organisation, org_id)
    sample = stored_sample(session, org_id, understand, days=days)
    if not sample.items:
        return None
    notes = []
    if sample.understood_now:
        notes.append(
            f"{sample.understood_now} stored messages had not been understood yet; "
            "the audit classified them with the shipped models."
        )
    return audit(
        sample.items,
        options,
        organisation=organisation.name if organisation else "",
        period=sample.period,
        notes=notes,
    )


class _ReportCache:
    """Reports per organisation and options, kept until new messages arrive or they age out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[tuple[object, ...], tuple[tuple[object, ...], float, AuditReport]] = {}

    def get(
        self,
        session: Session,
        org_id: int,
        options: AuditOptions,
        understand: Understand,
        days: int | None,
    ) -> AuditReport | None:
        key = (str(session.get_bind().engine.url), org_id, options, days)
        stamp = _freshness(session, org_id)
        now = time.monotonic()
        # One lock for all: two requests never compute the same (slow) report side by side.
        with self._lock:
            cached = self._reports.get(key)
            if cached and cached[0] == stamp and now - cached[1] < CACHE_SECONDS:
                return cached[2]
            report = org_audit(session, org_id, options, understand, days=days)
            if report is None:
                self._reports.pop(key, None)
            else:
                self._reports[key] = (stamp, now, report)
            return report

    def clear(self) -> None:
        with self._lock:
            self._reports.clear()


def _freshness(session: Session, org_id: int) -> tuple[object, ...]:
    """Changes whenever a message arrives or is (re)understood."""
    row = session.execute(
        select(func.count(Message.id), func.max(Message.id), func.max(Message.understood_at)).where(
            Message.org_id == org_id, Message.direction == "inbound"
        )
    ).one()
    return tuple(row)


report_cache = _ReportCache()


def can_see_audit(user: User) -> bool:
    """Admins and executives of the organisation; never the agency."""
    return user.is_active and user.role in AUDIT_ROLES and not user.is_agency


def access_org_audit(
    session: Session,
    user: User,
    options: AuditOptions,
    understand: Understand,
    *,
    days: int | None = None,
) -> AuditReport | None:
    """The audit of the user's organisation, as far as the user may see it, or Forbidden."""
    if not can_see_audit(user):
        raise Forbidden("only administrators and executives may see the ownership audit")
    report = report_cache.get(session, user.org_id, options, understand, days)
    if report is None or user.role == Role.ADMIN:
        return report
    return redact_restricted_examples(report)


def redact_restricted_examples(report: AuditReport) -> AuditReport:
    """Drop example texts of restricted kinds (Risk, HR): only their owners and admins read them."""
    examples = [
        group for group in report.mix.examples if not DEFAULT_OWNERSHIP[group.intent].restricted
    ]
    if len(examples) == len(report.mix.examples):
        return report
    mix = report.mix.model_copy(update={"examples": examples})
    note = "Examples of restricted kinds (Risk, HR) are left out: only their owners see them."
    return report.model_copy(update={"mix": mix, "warnings": [*report.warnings, note]})
