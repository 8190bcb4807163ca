"""SLA clocks in action: warn before a breach, escalate after it, and read a clock for the inbox.

``sla_sweep(session, org_id, now)`` is idempotent and safe from any number of workers at
once: each warning or breach is claimed by inserting its ``sla_event`` row (unique per
conversation, clock and stage; ``ON CONFLICT DO NOTHING``), and on PostgreSQL candidates
are read ``FOR UPDATE SKIP LOCKED`` after taking the organisation's write lock. Only the
worker whose insert went in notifies and escalates, so everything happens once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import and_, exists, func, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation
from townhall.core.time import ensure_aware, utcnow
from townhall.governance import audit
from townhall.governance.models import User
from townhall.inbox.models import Assignment
from townhall.inbox.queries import check_can_receive
from townhall.inbox.tags import add_system_tags
from townhall.inbox.workflow import ACTIVE
from townhall.routing.actions import latest_decision, record_move
from townhall.routing.auto_assign import auto_assign
from townhall.routing.escalation import department_id_by_name, department_leads, notify
from townhall.routing.models import Queue, SlaEvent
from townhall.routing.policy import PRIORITIES, Escalation, Policy
from townhall.routing.queries import active_policy, compiled_policy
from townhall.routing.sla_pause import resume_reopened

Clock = Literal["first_response", "resolution"]
Stage = Literal["warning", "breach"]
CLOCKS: tuple[Clock, ...] = ("first_response", "resolution")
BREACHED_TAG = "sla-breached"
SWEEP_LIMIT = 500
# A clock that ran out longer ago than this (imported history, a worker that was down for
# days) is recorded and tagged, but nobody is paged and nothing moves: escalating a
# month-old breach helps no customer and would bury the leads in notifications.
STALE_BREACH_AFTER = timedelta(hours=24)
_ACTIVE = [status.value for status in ACTIVE]
_CLOCK_LABEL = {"first_response": "first response", "resolution": "resolution"}


@dataclass
class SweepResult:
    """What one sweep did (claimed by this worker; what others claimed is not counted)."""

    warnings: int = 0
    breaches: int = 0
    moved: int = 0
    notified: int = 0
    stale: int = 0  # breaches older than STALE_BREACH_AFTER: recorded, not escalated
    conversation_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "warnings": self.warnings,
            "breaches": self.breaches,
            "stale_breaches": self.stale,
            "moved": self.moved,
            "notified": self.notified,
            "conversation_ids": sorted(set(self.conversation_ids)),
        }


# --------------------------------------------------------------------------- reading a clock


@dataclass(frozen=True)
class SlaBadge:
    """The clock that matters now for one conversation, as the inbox shows it."""

    clock: Clock
    status: Literal["ok", "warning", "breached"]
    due_at: datetime

    @property
    def label(self) -> str:
        return _CLOCK_LABEL[self.clock]


class SlaClocks(Protocol):
    """What reading a clock needs: a conversation, or a row of the inbox list."""

    @property
    def status(self) -> str: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def first_response_due_at(self) -> datetime | None: ...
    @property
    def first_response_warn_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def resolution_due_at(self) -> datetime | None: ...
    @property
    def resolution_warn_at(self) -> datetime | None: ...
    @property
    def resolution_paused_at(self) -> datetime | None: ...


class _ListedClocks(SlaClocks, Protocol):
    @property
    def id(self) -> int: ...


def sla_badge(conversation: SlaClocks, now: datetime | None = None) -> SlaBadge | None:
    """First response until someone answered, then resolution; None when no clock runs."""
    now = now or utcnow()
    if conversation.status not in _ACTIVE:
        return None
    if conversation.first_response_at is None and conversation.first_response_due_at:
        clock: Clock = "first_response"
        due, warn = conversation.first_response_due_at, conversation.first_response_warn_at
    elif (
        conversation.resolved_at is None
        and conversation.resolution_due_at
        and conversation.resolution_paused_at is None
    ):
        clock = "resolution"
        due, warn = conversation.resolution_due_at, conversation.resolution_warn_at
    else:
        return None
    due = ensure_aware(due)
    warn_at = ensure_aware(warn) if warn is not None else due
    if now > due:
        return SlaBadge(clock, "breached", due)
    if now >= warn_at:
        return SlaBadge(clock, "warning", due)
    return SlaBadge(clock, "ok", due)


def sla_badges(rows: Iterable[_ListedClocks], now: datetime | None = None) -> dict[int, SlaBadge]:
    """Badges for a page of the inbox, from the clocks its rows already carry (no query)."""
    now = now or utcnow()
    return {row.id: badge for row in rows if (badge := sla_badge(row, now)) is not None}


# --------------------------------------------------------------------------- the sweep


def _columns(clock: Clock) -> tuple[Any, Any, Any]:
    """(done, due, warn) columns of a clock."""
    if clock == "first_response":
        return (
            Conversation.first_response_at,
            Conversation.first_response_due_at,
            Conversation.first_response_warn_at,
        )
    return Conversation.resolved_at, Conversation.resolution_due_at, Conversation.resolution_warn_at


def _candidates(
    session: Session, org_id: int, clock: Clock, stage: Stage, now: datetime, limit: int
) -> list[Conversation]:
    done, due, warn = _columns(clock)
    # Conversations routed before warning times were stored warn at their due time.
    # A warning is only for a clock still running; one that ran out is the breach stage's,
    # also when this pass's breach batch did not reach it yet.
    reached = due < now if stage == "breach" else and_(func.coalesce(warn, due) <= now, due >= now)
    claimed = exists().where(
        and_(
            SlaEvent.conversation_id == Conversation.id,
            SlaEvent.clock == clock,
            SlaEvent.stage == stage,
        )
    )
    stmt = (
        select(Conversation)
        .where(
            Conversation.org_id == org_id,
            Conversation.status.in_(_ACTIVE),
            done.is_(None),
            due.is_not(None),
            reached,
            # A paused resolution clock is not running (see routing.sla_pause).
            Conversation.resolution_paused_at.is_(None) if clock == "resolution" else true(),
            ~claimed,
        )
        .order_by(due, Conversation.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Conversation, skip_locked=True)
    return list(session.scalars(stmt))


def _claim_many(
    session: Session,
    conversations: Sequence[Conversation],
    clock: Clock,
    stage: Stage,
    actions: dict[str, Any] | None = None,
) -> dict[int, int]:
    """Insert the event rows in one statement; conversation id → event id of those this
    worker won (another worker's or an earlier sweep's rows are left alone)."""
    if not conversations:
        return {}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    stmt = (
        insert(SlaEvent)
        .values(
            [
                {
                    "org_id": c.org_id,
                    "conversation_id": c.id,
                    "queue_id": c.queue_id,
                    "clock": clock,
                    "stage": stage,
                    "due_at": ensure_aware(_due(c, clock)),
                    "actions": actions or {},
                    "created_at": now,
                }
                for c in conversations
            ]
        )
        .on_conflict_do_nothing(index_elements=["conversation_id", "clock", "stage"])
        .returning(SlaEvent.conversation_id, SlaEvent.id)
    )
    return dict(session.execute(stmt).all())


def _kind_escalation(session: Session, conversation: Conversation, policy: Policy) -> Escalation:
    """The escalation the policy sets for the conversation's kind (its latest decision's)."""
    latest = latest_decision(session, conversation.id)
    entry = policy.kinds.get(latest.kind if latest else "other") or policy.kinds.get("other")
    return entry.escalation if entry is not None else Escalation()


def _raised(current: str, floor: str | None) -> str:
    """One step up (or to ``floor`` if that is higher), never past urgent."""
    rank = PRIORITIES.index(current) if current in PRIORITIES else 1
    target = min(rank + 1, len(PRIORITIES) - 1)
    if floor is not None:
        target = max(target, PRIORITIES.index(floor))
    return PRIORITIES[target]


def _people(session: Session, conversation: Conversation, department_id: int | None) -> list[User]:
    assignee = (
        session.get(User, conversation.assigned_user_id) if conversation.assigned_user_id else None
    )
    leads = department_leads(session, conversation.org_id, department_id)
    return ([assignee] if assignee is not None else []) + leads


def _warn(
    session: Session, conversation: Conversation, clock: Clock, due: datetime, now: datetime
) -> dict[str, Any]:
    queue = session.get(Queue, conversation.queue_id) if conversation.queue_id else None
    minutes = max(0, int((due - now).total_seconds() // 60))
    text = (
        f"SLA warning: {_CLOCK_LABEL[clock]} due {due:%Y-%m-%d %H:%M} UTC "
        f"(in {minutes} min) in queue {queue.name if queue else 'not routed'}."
    )
    department_id = queue.department_id if queue else conversation.owner_department_id
    notified = notify(
        session, conversation, _people(session, conversation, department_id), "sla_warning", text
    )
    return {"notified": notified}


def _move(
    session: Session, conversation: Conversation, queue: Queue, clock: Clock, now: datetime
) -> dict[str, Any]:
    """Move to the policy's escalation queue, recorded as a decision (by the policy)."""
    before_queue = conversation.queue_id
    conversation.queue_id = queue.id
    conversation.owner_department_id = queue.department_id or conversation.owner_department_id
    conversation.restricted = conversation.restricted or queue.restricted
    # Out of an agency queue into an in-house one: the agency missed it, it comes back in-house.
    if not queue.agency_allowed:
        conversation.agency_allowed = False
    record_move(
        session,
        conversation,
        latest_decision(session, conversation.id),
        detail={"sla_breach": clock},
        explanation=(
            f"moved to queue {queue.name}: the {_CLOCK_LABEL[clock]} SLA was breached "
            "and the policy escalates to it"
        ),
        by_user_id=None,
        now=now,
    )
    unassigned = None
    assignee = (
        session.get(User, conversation.assigned_user_id) if conversation.assigned_user_id else None
    )
    if assignee is not None and (
        check_can_receive(assignee, conversation) is not None
        or (assignee.department_id or None) != queue.department_id
    ):
        unassigned = assignee.id
        session.execute(
            update(Assignment)
            .where(Assignment.conversation_id == conversation.id, Assignment.ended_at.is_(None))
            .values(ended_at=now)
        )
        conversation.assigned_user_id = None
    session.flush()
    return {"moved_from": before_queue, "moved_to": queue.id, "unassigned": unassigned}


def _breach(
    session: Session,
    conversation: Conversation,
    clock: Clock,
    due: datetime,
    policy: Policy,
    queues_by_name: dict[str, Queue],
    now: datetime,
) -> dict[str, Any]:
    escalation = _kind_escalation(session, conversation, policy)
    actions: dict[str, Any] = {"priority_before": conversation.priority}
    conversation.priority = _raised(conversation.priority, escalation.breach_priority)
    actions["priority_after"] = conversation.priority
    add_system_tags(session, conversation.org_id, {conversation.id: [BREACHED_TAG]})
    target = queues_by_name.get(escalation.breach_queue) if escalation.breach_queue else None
    if target is not None and target.id != conversation.queue_id and target.retired_at is None:
        actions.update(_move(session, conversation, target, clock, now))
    queue = session.get(Queue, conversation.queue_id) if conversation.queue_id else None
    departments = {d for d in (queue.department_id if queue else None,) if d is not None}
    to = escalation.on_breach
    if to is not None:
        department_id = department_id_by_name(session, conversation.org_id).get(to)
        if department_id is not None:
            departments = {department_id}
        actions["escalated_to"] = to
    people = _people(session, conversation, next(iter(departments), None))
    for extra in sorted(departments)[1:]:
        people += department_leads(session, conversation.org_id, extra)
    text = (
        f"SLA breached: {_CLOCK_LABEL[clock]} was due {due:%Y-%m-%d %H:%M} UTC; "
        f"priority now {conversation.priority}"
        + (f", moved to {target.name}" if "moved_to" in actions and target else "")
        + "."
    )
    actions["notified"] = notify(session, conversation, people, "sla_breach", text)
    session.flush()
    return actions


def sla_sweep(
    session: Session, org_id: int, now: datetime | None = None, *, limit: int = SWEEP_LIMIT
) -> SweepResult:
    """Warn about and escalate the organisation's due SLA clocks; safe to run concurrently.

    The caller commits. Breaches are handled before warnings, so a clock found already
    breached is marked warned without a stale warning being sent.
    """
    # UTC, because SQLite compares stored times as text written in UTC.
    now = (now or utcnow()).astimezone(UTC)
    result = SweepResult()
    # Taken before any row lock: the sweep then never waits for a row while holding the lock
    # a writer of that row needs for its audit entry (candidates are read SKIP LOCKED).
    audit.lock_organisation(session, org_id)
    version = active_policy(session, org_id)
    if version is None:
        return result
    policy, _ = compiled_policy(version)
    # Clocks a customer's new message restarted run again before anything is found due.
    resume_reopened(session, org_id)
    queues_by_name = {
        q.name: q
        for q in session.scalars(
            select(Queue).where(Queue.org_id == org_id, Queue.retired_at.is_(None))
        )
    }
    moved_queues: set[int] = set()
    stale_ids: list[int] = []
    for stage in ("breach", "warning"):
        for clock in CLOCKS:
            candidates = _candidates(session, org_id, clock, stage, now, limit)
            stale = [
                c
                for c in candidates
                if stage == "breach" and now - ensure_aware(_due(c, clock)) > STALE_BREACH_AFTER
            ]
            stale_set = {c.id for c in stale}
            fresh = [c for c in candidates if c.id not in stale_set]
            # Stale breaches in bulk: claimed, tagged, no one paged.
            won_stale = _claim_many(session, stale, clock, "breach", {"stale": True})
            for conversation in stale:
                if conversation.id in won_stale:
                    stale_ids.append(conversation.id)
            add_system_tags(session, org_id, {c: [BREACHED_TAG] for c in won_stale})
            won = _claim_many(session, fresh, clock, stage)
            if stage == "breach":
                # The warning is moot once breached; claim it so it is never sent late.
                breached = [c for c in candidates if c.id in won or c.id in won_stale]
                _claim_many(session, breached, clock, "warning", {"superseded": "breach"})
            result.stale += len(won_stale)
            for conversation in fresh:
                event_id = won.get(conversation.id)
                if event_id is None:
                    continue
                due = ensure_aware(_due(conversation, clock))
                if stage == "breach":
                    actions = _breach(
                        session, conversation, clock, due, policy, queues_by_name, now
                    )
                    result.breaches += 1
                    if "moved_to" in actions:
                        result.moved += 1
                        moved_queues.add(actions["moved_to"])
                else:
                    actions = _warn(session, conversation, clock, due, now)
                    result.warnings += 1
                result.notified += len(actions.get("notified", []))
                result.conversation_ids.append(conversation.id)
                event = session.get_one(SlaEvent, event_id)
                event.actions = actions
                audit.record(
                    session,
                    org_id=org_id,
                    actor=None,
                    action=f"conversation.sla_{stage}",
                    object_type="conversation",
                    object_id=conversation.id,
                    after={"clock": clock, "due_at": due.isoformat(), **actions},
                )
    if stale_ids:
        audit.record(
            session,
            org_id=org_id,
            actor=None,
            action="conversation.sla_breach_stale",
            object_type="conversation",
            after={"conversation_ids": sorted(set(stale_ids))},
            note=f"breached more than {STALE_BREACH_AFTER} ago: recorded, not escalated",
        )
    session.flush()
    if moved_queues:
        auto_assign(session, org_id, moved_queues, now=now)
    return result


def _due(conversation: Conversation, clock: Clock) -> datetime:
    due = (
        conversation.first_response_due_at
        if clock == "first_response"
        else conversation.resolution_due_at
    )
    assert due is not None  # candidates have a due time
    return due
