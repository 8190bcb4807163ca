"""Automatic assignment inside queues: the policy's strategy carried out on stored conversations.

``routing.assignment`` decides (pure); this module loads a queue's waiting conversations and
its team's agents, writes the assignments with their explanation and audits them. It runs
when conversations are routed into a queue, when an agent frees capacity (resolve, close,
transfer, unassign), when an agent comes back on shift, and on every worker pass.

Capacity holds with any number of workers: on PostgreSQL automatic assignment first takes
the organisation's write lock (the audit chain's, see ``audit.lock_organisation``), so two
passes never count the same agent's load at once, and skips conversations another
transaction has locked; SQLite has one writer at a time. A conversation is only taken while
it is still unassigned.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation, Message
from townhall.core.errors import ValidationFailed
from townhall.core.time import ensure_aware, utcnow
from townhall.governance import audit
from townhall.governance.models import Agency, Department, Role, Team, User
from townhall.governance.setup import slugify
from townhall.inbox.models import Assignment as AssignmentRow
from townhall.inbox.queries import check_can_receive
from townhall.inbox.workflow import ACTIVE
from townhall.routing.assignment import Agent, ConversationToAssign, Strategy, assign_waiting
from townhall.routing.models import Queue
from townhall.routing.policy import AssignmentMode
from townhall.routing.queries import active_policy, compiled_policy

ON_SHIFT = "on_shift"
AWAY = "away"
AVAILABILITIES = (ON_SHIFT, AWAY)
# Roles that work a department's queues; admins, reviewers and executives are never given work.
IN_HOUSE_WORKERS = (Role.AGENT.value, Role.LEAD.value)
STRATEGY_LABELS: dict[str, str] = {
    "round_robin": "round robin",
    "least_loaded": "least-loaded",
    "skills": "skills",
}
_ACTIVE = [status.value for status in ACTIVE]


@dataclass(frozen=True)
class AutoAssignment:
    """One conversation given to one agent automatically, and why."""

    conversation_id: int
    user_id: int
    queue_id: int
    reason: str


def queue_strategies(session: Session, org_id: int) -> dict[int, AssignmentMode]:
    """Each live queue's assignment mode under the active policy (queues matched by slug)."""
    version = active_policy(session, org_id)
    if version is None:
        return {}
    policy, _ = compiled_policy(version)
    modes = {slugify(spec.name)[:64]: spec.assignment for spec in policy.queues}
    return {
        queue.id: modes[queue.slug]
        for queue in session.scalars(
            select(Queue).where(Queue.org_id == org_id, Queue.retired_at.is_(None))
        )
        if queue.slug in modes
    }


def _team_members(session: Session, queue: Queue) -> list[User]:
    """Who works the queue: its agency's agents, or its department's agents and leads."""
    team = session.get(Team, queue.team_id) if queue.team_id is not None else None
    stmt = select(User).where(User.org_id == queue.org_id, User.is_active.is_(True))
    if team is not None and team.agency_id is not None:
        stmt = stmt.where(User.agency_id == team.agency_id, User.role == Role.AGENCY_AGENT.value)
    elif queue.department_id is not None:
        stmt = stmt.where(
            User.department_id == queue.department_id,
            User.agency_id.is_(None),
            User.role.in_(IN_HOUSE_WORKERS),
        )
    else:
        return []
    return list(session.scalars(stmt.order_by(User.id)))


def _open_counts(session: Session, user_ids: Collection[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = session.execute(
        select(Conversation.assigned_user_id, func.count())
        .where(Conversation.assigned_user_id.in_(user_ids), Conversation.status.in_(_ACTIVE))
        .group_by(Conversation.assigned_user_id)
    )
    return {user_id: count for user_id, count in rows if user_id is not None}


def _last_assigned(session: Session, user_ids: Collection[int]) -> dict[int, datetime]:
    if not user_ids:
        return {}
    rows = session.execute(
        select(AssignmentRow.user_id, func.max(AssignmentRow.assigned_at))
        .where(AssignmentRow.user_id.in_(user_ids))
        .group_by(AssignmentRow.user_id)
    )
    return {user_id: ensure_aware(at) for user_id, at in rows if at is not None}


def _languages(session: Session, conversation_ids: Collection[int]) -> dict[int, str]:
    """The language of each conversation's latest understood inbound message."""
    if not conversation_ids:
        return {}
    found: dict[int, str] = {}
    for conversation_id, language in session.execute(
        select(Message.conversation_id, Message.language)
        .where(
            Message.conversation_id.in_(conversation_ids),
            Message.direction == "inbound",
            Message.language.is_not(None),
        )
        .order_by(Message.conversation_id, Message.created_at, Message.id)
    ):
        if language:
            found[conversation_id] = language
    return found


def _languages_of(user: User) -> frozenset[str]:
    return frozenset(part.strip().casefold() for part in user.languages.split(",") if part.strip())


def _reason(strategy: Strategy, agent: User, open_now: int, language: str | None) -> str:
    label = STRATEGY_LABELS[strategy]
    if strategy == "skills" and language:
        label = f"skills (speaks {language})"
    return f"assigned by {label}: {open_now} of {agent.capacity} open"


def _give(
    session: Session, conversation: Conversation, agent: User, reason: str, now: datetime
) -> bool:
    """Assign if the conversation is still unassigned and the agent may work it."""
    # The pure choice already respects the policy; checked again against the one rule the
    # inbox enforces everywhere, so automatic work never goes where a person's could not.
    if check_can_receive(agent, conversation) is not None:
        return False
    taken = session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.assigned_user_id.is_(None))
        .values(assigned_user_id=agent.id)
        .execution_options(synchronize_session="fetch")
    )
    if not getattr(taken, "rowcount", 0):
        return False  # a person took it meanwhile
    session.add(
        AssignmentRow(
            conversation_id=conversation.id,
            user_id=agent.id,
            assigned_by_id=None,
            assigned_at=now,
            reason=reason,
        )
    )
    return True


def fill_queue(
    session: Session,
    queue: Queue,
    strategy: Strategy,
    *,
    now: datetime | None = None,
    excluded: Mapping[int, Collection[int]] | None = None,
) -> list[AutoAssignment]:
    """Assign the queue's waiting conversations, oldest first, by ``strategy``.

    ``excluded`` maps a conversation id to agents who must not get it (e.g. who just gave
    it back). Writes the assignments and one audit row; the caller commits.
    """
    now = now or utcnow()
    audit.lock_organisation(session, queue.org_id)
    members = _team_members(session, queue)
    available = [m for m in members if m.availability == ON_SHIFT and m.capacity > 0]
    if not available:
        return []
    ids = [m.id for m in available]
    load = _open_counts(session, ids)
    free = sum(max(0, m.capacity - load.get(m.id, 0)) for m in available)
    if free == 0:
        return []
    # More waiting conversations than free places cannot be assigned now; the oldest go first.
    waiting_query = (
        select(Conversation)
        .where(
            Conversation.queue_id == queue.id,
            Conversation.assigned_user_id.is_(None),
            Conversation.status.in_(_ACTIVE),
        )
        .order_by(Conversation.first_message_at, Conversation.id)
        .limit(free)
    )
    if session.get_bind().dialect.name == "postgresql":
        # A conversation someone is changing right now waits for the next pass.
        waiting_query = waiting_query.with_for_update(skip_locked=True)
    waiting = list(session.scalars(waiting_query))
    if not waiting:
        return []
    last = _last_assigned(session, ids)
    languages = _languages(session, [c.id for c in waiting]) if strategy == "skills" else {}
    agents = [
        Agent(
            id=str(m.id),
            is_agency=m.is_agency or m.role == Role.AGENCY_AGENT,
            department=str(m.department_id) if m.department_id is not None else None,
            languages=_languages_of(m),
            capacity=m.capacity,
            open_count=load.get(m.id, 0),
            available=True,
            last_assigned_at=last.get(m.id),
        )
        for m in available
    ]
    to_assign = [
        ConversationToAssign(
            id=str(c.id),
            agency_allowed=c.agency_allowed,
            restricted=c.restricted,
            owner_department=str(c.owner_department_id)
            if c.owner_department_id is not None
            else None,
            language=languages.get(c.id),
            waiting_since=ensure_aware(c.first_message_at),
            excluded_agents=frozenset(str(u) for u in (excluded or {}).get(c.id, ())),
        )
        for c in waiting
    ]
    by_id = {c.id: c for c in waiting}
    people = {m.id: m for m in available}
    done: list[AutoAssignment] = []
    for decision in assign_waiting(to_assign, agents, strategy, now=now):
        if decision.agent_id is None:
            continue
        conversation, agent = by_id[int(decision.conversation_id)], people[int(decision.agent_id)]
        reason = _reason(strategy, agent, load.get(agent.id, 0) + 1, languages.get(conversation.id))
        if _give(session, conversation, agent, reason, now):
            load[agent.id] = load.get(agent.id, 0) + 1
            done.append(AutoAssignment(conversation.id, agent.id, queue.id, reason))
    if done:
        session.flush()
        audit.record(
            session,
            org_id=queue.org_id,
            actor=None,
            action="conversation.auto_assign",
            object_type="queue",
            object_id=queue.id,
            after={
                "strategy": strategy,
                "assignments": [
                    {"conversation_id": a.conversation_id, "user_id": a.user_id, "reason": a.reason}
                    for a in done
                ],
            },
        )
    return done


def auto_assign(
    session: Session,
    org_id: int,
    queue_ids: Iterable[int] | None = None,
    *,
    now: datetime | None = None,
    excluded: Mapping[int, Collection[int]] | None = None,
) -> list[AutoAssignment]:
    """Fill the given queues (all of the organisation's by default) by their policy strategy.

    Queues whose mode is "manual" are left to people.
    """
    strategies = queue_strategies(session, org_id)
    wanted = set(strategies) if queue_ids is None else set(queue_ids) & set(strategies)
    done: list[AutoAssignment] = []
    for queue_id in sorted(wanted):
        mode = strategies[queue_id]
        if mode == "manual":
            continue
        queue = session.get(Queue, queue_id)
        if queue is None or queue.org_id != org_id:
            continue
        done += fill_queue(session, queue, mode, now=now, excluded=excluded)
    return done


def queues_worked_by(session: Session, user: User) -> list[int]:
    """The live queues whose team the user belongs to (where they could be given work)."""
    stmt = select(Queue.id).where(Queue.org_id == user.org_id, Queue.retired_at.is_(None))
    if user.is_agency:
        stmt = stmt.join(Team, Team.id == Queue.team_id).where(Team.agency_id == user.agency_id)
    elif user.department_id is not None and user.role in IN_HOUSE_WORKERS:
        stmt = stmt.where(Queue.department_id == user.department_id).where(
            Queue.id.not_in(
                select(Queue.id)
                .join(Team, Team.id == Queue.team_id)
                .where(Team.agency_id.is_not(None))
            )
        )
    else:
        return []
    return list(session.scalars(stmt))


def after_release(
    session: Session,
    conversation: Conversation,
    released_user_id: int | None,
    *,
    gave_back: bool = False,
) -> list[AutoAssignment]:
    """Someone freed capacity or a conversation is waiting again: refill the queues concerned.

    ``gave_back``: the released user handed this conversation back, so it goes to someone else.
    """
    queue_ids: set[int] = set()
    if conversation.queue_id is not None:
        queue_ids.add(conversation.queue_id)
    if released_user_id is not None:
        released = session.get(User, released_user_id)
        if released is not None:
            queue_ids.update(queues_worked_by(session, released))
    excluded = {conversation.id: {released_user_id}} if gave_back and released_user_id else None
    return auto_assign(session, conversation.org_id, queue_ids, excluded=excluded)


def do_set_availability(session: Session, user: User, availability: str) -> list[AutoAssignment]:
    """An agent goes on shift or away; coming on shift hands them waiting work at once."""
    if availability not in AVAILABILITIES:
        raise ValidationFailed(
            "availability", f"unknown availability {availability!r} (use on_shift or away)"
        )
    before = user.availability
    user.availability = availability
    session.flush()
    audit.record(
        session,
        org_id=user.org_id,
        actor=user,
        action="user.availability",
        object_type="user",
        object_id=user.id,
        before={"availability": before},
        after={"availability": availability},
    )
    if availability == ON_SHIFT and before != ON_SHIFT:
        return auto_assign(session, user.org_id, queues_worked_by(session, user))
    return []


def assignment_reason(session: Session, conversation: Conversation) -> str | None:
    """Why the current assignee has the conversation, when it was assigned automatically."""
    if conversation.assigned_user_id is None:
        return None
    return session.scalar(
        select(AssignmentRow.reason)
        .where(
            AssignmentRow.conversation_id == conversation.id,
            AssignmentRow.user_id == conversation.assigned_user_id,
            AssignmentRow.ended_at.is_(None),
        )
        .order_by(AssignmentRow.id.desc())
        .limit(1)
    )


def assign_by_rules(
    session: Session,
    org_id: int,
    decided: Sequence[tuple[Conversation, Mapping[str, Any]]],
    *,
    now: datetime | None = None,
) -> list[AutoAssignment]:
    """Carry out routing rules' ``assign_to``: a named person (email or name) or a team
    (a department's or an agency's name), least loaded among its members.

    Only people on shift, with room, who may work the conversation; otherwise the queue's
    strategy takes over.
    """
    wanted = [
        (c, d)
        for c, d in decided
        if c.assigned_user_id is None and (d.get("assign_to_user") or d.get("assign_to_team"))
    ]
    if not wanted:
        return []
    now = now or utcnow()
    audit.lock_organisation(session, org_id)
    people = [
        u
        for u in session.scalars(
            select(User).where(User.org_id == org_id, User.is_active.is_(True)).order_by(User.id)
        )
        if u.availability == ON_SHIFT
    ]
    by_key = {key: u for u in people for key in (u.email.casefold(), u.name.casefold())}
    departments = {
        name: id_
        for id_, name in session.execute(
            select(Department.id, Department.name).where(Department.org_id == org_id)
        ).all()
    }
    agencies = {
        name: id_
        for id_, name in session.execute(
            select(Agency.id, Agency.name).where(Agency.org_id == org_id)
        ).all()
    }
    load = _open_counts(session, [u.id for u in people])

    def members(team: str) -> list[User]:
        if team in departments:
            return [
                u
                for u in people
                if u.department_id == departments[team]
                and u.agency_id is None
                and u.role in IN_HOUSE_WORKERS
            ]
        # A policy names its agency by role; an organisation with one agency means that one.
        agency_id = agencies.get(team) or (
            next(iter(agencies.values())) if len(agencies) == 1 else None
        )
        return [u for u in people if agency_id is not None and u.agency_id == agency_id]

    done: list[AutoAssignment] = []
    for conversation, detail in sorted(wanted, key=lambda cd: (cd[0].first_message_at, cd[0].id)):
        named = detail.get("assign_to_user")
        team = detail.get("assign_to_team")
        candidates = (
            ([by_key[named.casefold()]] if named and named.casefold() in by_key else [])
            if named
            else members(str(team))
        )
        candidates = [
            u
            for u in candidates
            if load.get(u.id, 0) < u.capacity and check_can_receive(u, conversation) is None
        ]
        if not candidates:
            continue
        agent = min(candidates, key=lambda u: (load.get(u.id, 0) / u.capacity, u.id))
        target = f"person {named}" if named else f"team {team}"
        reason = (
            f"assigned by routing rule to {target}: {load.get(agent.id, 0) + 1} of "
            f"{agent.capacity} open"
        )
        if _give(session, conversation, agent, reason, now):
            load[agent.id] = load.get(agent.id, 0) + 1
            done.append(
                AutoAssignment(conversation.id, agent.id, conversation.queue_id or 0, reason)
            )
    if done:
        session.flush()
        audit.record(
            session,
            org_id=org_id,
            actor=None,
            action="conversation.auto_assign",
            object_type="organisation",
            object_id=org_id,
            after={
                "strategy": "rule",
                "assignments": [
                    {"conversation_id": a.conversation_id, "user_id": a.user_id, "reason": a.reason}
                    for a in done
                ],
            },
        )
    return done
