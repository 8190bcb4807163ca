"""Reads for routing: the active policy, decision history and the re-routing metrics."""

from __future__ import annotations

import hashlib
import itertools
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from townhall.conversations.models import Conversation
from townhall.core.time import ensure_aware
from townhall.governance.models import Department, User
from townhall.routing.models import PolicyVersion, Queue, RoutingDecisionRecord
from townhall.routing.policy import Policy, load_policy
from townhall.routing.rules import CompiledPolicy


def active_policy(session: Session, org_id: int) -> PolicyVersion | None:
    return session.scalar(
        select(PolicyVersion).where(PolicyVersion.org_id == org_id, PolicyVersion.active.is_(True))
    )


def policy_versions(session: Session, org_id: int) -> list[PolicyVersion]:
    """Every applied version, newest first."""
    return list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.org_id == org_id)
            .order_by(PolicyVersion.number.desc())
        )
    )


def policy_version(session: Session, org_id: int, number: int) -> PolicyVersion | None:
    return session.scalar(
        select(PolicyVersion).where(PolicyVersion.org_id == org_id, PolicyVersion.number == number)
    )


# Stored versions never change, so each is parsed and compiled once per process. The key
# carries a digest of the text because row ids are reused when a database is recreated.
_COMPILED: OrderedDict[tuple[int, str], tuple[Policy, CompiledPolicy]] = OrderedDict()
_COMPILED_KEEP = 16


def compiled_policy(version: PolicyVersion) -> tuple[Policy, CompiledPolicy]:
    key = (version.id, hashlib.sha256(version.text.encode()).hexdigest())
    cached = _COMPILED.get(key)
    if cached is not None:
        _COMPILED.move_to_end(key)
        return cached
    policy = load_policy(version.text)
    compiled = (policy, CompiledPolicy(policy))
    _COMPILED[key] = compiled
    while len(_COMPILED) > _COMPILED_KEEP:
        _COMPILED.popitem(last=False)
    return compiled


def live_queues(session: Session, org_id: int) -> list[Queue]:
    """Queues the active policy routes to (retired queues are kept only for history)."""
    return list(
        session.scalars(
            select(Queue)
            .where(Queue.org_id == org_id, Queue.retired_at.is_(None))
            .order_by(Queue.name)
        )
    )


@dataclass(frozen=True)
class DecisionView:
    """One routing decision as the conversation page shows it."""

    id: int
    created_at: datetime
    queue_name: str | None
    department_name: str | None
    kind: str
    priority: str
    agency_allowed: bool
    restricted: bool
    matched_rules: list[str]
    explanation: str
    policy_number: int | None
    by_user_name: str | None

    @property
    def manual(self) -> bool:
        return self.by_user_name is not None

    @property
    def reasons(self) -> list[str]:
        return [line for line in self.explanation.splitlines() if line.strip()]


def decisions_for(session: Session, conversation: Conversation) -> list[DecisionView]:
    """The conversation's routing history, oldest first, in one query."""
    by_user = aliased(User)
    rows = session.execute(
        select(
            RoutingDecisionRecord.id,
            RoutingDecisionRecord.created_at,
            Queue.name,
            Department.name,
            RoutingDecisionRecord.kind,
            RoutingDecisionRecord.priority,
            RoutingDecisionRecord.agency_allowed,
            RoutingDecisionRecord.restricted,
            RoutingDecisionRecord.matched_rules,
            RoutingDecisionRecord.explanation,
            PolicyVersion.number,
            by_user.name,
        )
        .outerjoin(Queue, Queue.id == RoutingDecisionRecord.queue_id)
        .outerjoin(Department, Department.id == RoutingDecisionRecord.owner_department_id)
        .outerjoin(PolicyVersion, PolicyVersion.id == RoutingDecisionRecord.policy_version_id)
        .outerjoin(by_user, by_user.id == RoutingDecisionRecord.by_user_id)
        .where(RoutingDecisionRecord.conversation_id == conversation.id)
        .order_by(RoutingDecisionRecord.created_at, RoutingDecisionRecord.id)
    )
    return [
        DecisionView(
            id=row[0],
            created_at=ensure_aware(row[1]),
            queue_name=row[2],
            department_name=row[3],
            kind=row[4],
            priority=row[5],
            agency_allowed=row[6],
            restricted=row[7],
            matched_rules=list(row[8] or []),
            explanation=row[9],
            policy_number=row[10],
            by_user_name=row[11],
        )
        for row in rows
    ]


def _decision_trail(
    session: Session, org_id: int, since: datetime | None
) -> dict[int, list[tuple[datetime, int | None, int | None]]]:
    """Per conversation: (when, owner department, by user) of each decision, oldest first."""
    stmt = select(
        RoutingDecisionRecord.conversation_id,
        RoutingDecisionRecord.created_at,
        RoutingDecisionRecord.owner_department_id,
        RoutingDecisionRecord.by_user_id,
    ).where(RoutingDecisionRecord.org_id == org_id)
    if since is not None:
        # Only conversations re-routed in the period, but with their whole trail.
        recent = select(RoutingDecisionRecord.conversation_id).where(
            RoutingDecisionRecord.org_id == org_id, RoutingDecisionRecord.created_at >= since
        )
        stmt = stmt.where(RoutingDecisionRecord.conversation_id.in_(recent))
    trail: dict[int, list[tuple[datetime, int | None, int | None]]] = defaultdict(list)
    for conversation_id, created_at, department_id, by_user_id in session.execute(
        stmt.order_by(RoutingDecisionRecord.conversation_id, RoutingDecisionRecord.created_at)
    ):
        trail[conversation_id].append((ensure_aware(created_at), department_id, by_user_id))
    return trail


@dataclass(frozen=True)
class PingPong:
    """Conversations passed between departments more than once (each move after the first)."""

    routed: int
    ping_pong: int
    conversation_ids: list[int]

    @property
    def share(self) -> float:
        return self.ping_pong / self.routed if self.routed else 0.0


def ping_pong(session: Session, org_id: int, since: datetime | None = None) -> PingPong:
    trail = _decision_trail(session, org_id, since)
    bounced = []
    for conversation_id, decisions in trail.items():
        moves = sum(1 for before, after in itertools.pairwise(decisions) if before[1] != after[1])
        if moves > 1:
            bounced.append(conversation_id)
    return PingPong(routed=len(trail), ping_pong=len(bounced), conversation_ids=sorted(bounced))


@dataclass(frozen=True)
class WrongQueueTime:
    """How long conversations waited in a queue a person then moved them out of."""

    rerouted: int
    total_minutes: float
    average_minutes: float
    longest_minutes: float


def wrong_queue_time(
    session: Session, org_id: int, since: datetime | None = None
) -> WrongQueueTime:
    """Time from the first automatic decision to the first manual re-route, per conversation."""
    minutes = []
    for decisions in _decision_trail(session, org_id, since).values():
        automatic = next((d for d in decisions if d[2] is None), None)
        manual = next((d for d in decisions if d[2] is not None), None)
        if automatic is not None and manual is not None and manual[0] >= automatic[0]:
            minutes.append((manual[0] - automatic[0]).total_seconds() / 60)
    total = sum(minutes)
    return WrongQueueTime(
        rerouted=len(minutes),
        total_minutes=total,
        average_minutes=total / len(minutes) if minutes else 0.0,
        longest_minutes=max(minutes, default=0.0),
    )


def unrouted_count(session: Session, org_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.org_id == org_id, Conversation.queue_id.is_(None))
        )
        or 0
    )
