"""Routing metrics for leads and admins: ping-pong, wrong-queue time, re-routes, SLA, corrections."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation, Message
from townhall.core.time import ensure_aware, utcnow
from townhall.governance.models import Department, User
from townhall.inbox.models import UnderstandingCorrection
from townhall.routing.models import Queue, RoutingDecisionRecord

CORRECTED_FIELDS = ("intent", "sentiment")


@dataclass(frozen=True)
class DepartmentMove:
    from_department: str
    to_department: str
    moves: int


@dataclass(frozen=True)
class RerouteByPerson:
    name: str
    reroutes: int
    conversations: int


@dataclass
class SlaAttainment:
    """One queue's clocks of conversations that started in the period."""

    queue: str
    first_met: int = 0
    first_breached: int = 0
    first_running: int = 0
    resolution_met: int = 0
    resolution_breached: int = 0
    resolution_running: int = 0

    @staticmethod
    def _share(met: int, breached: int) -> float | None:
        return met / (met + breached) if met + breached else None

    @property
    def first_response(self) -> float | None:
        """Share of decided first-response clocks that were met (None when none decided)."""
        return self._share(self.first_met, self.first_breached)

    @property
    def resolution(self) -> float | None:
        return self._share(self.resolution_met, self.resolution_breached)


@dataclass(frozen=True)
class CorrectionRateByField:
    field: str
    corrected: int
    understood: int

    @property
    def rate(self) -> float:
        return self.corrected / self.understood if self.understood else 0.0


@dataclass
class RoutingReport:
    since: datetime
    until: datetime
    routed: int = 0
    ping_pong_ids: list[int] = field(default_factory=list)
    department_moves: list[DepartmentMove] = field(default_factory=list)
    wrong_queue_minutes: list[float] = field(default_factory=list)
    reroutes_by_person: list[RerouteByPerson] = field(default_factory=list)
    sla: list[SlaAttainment] = field(default_factory=list)
    corrections: list[CorrectionRateByField] = field(default_factory=list)

    @property
    def ping_pong_share(self) -> float:
        return len(self.ping_pong_ids) / self.routed if self.routed else 0.0

    @property
    def wrong_queue_average(self) -> float:
        minutes = self.wrong_queue_minutes
        return sum(minutes) / len(minutes) if minutes else 0.0

    @property
    def wrong_queue_total_hours(self) -> float:
        return sum(self.wrong_queue_minutes) / 60

    def as_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "routed": self.routed,
            "ping_pong": {"count": len(self.ping_pong_ids), "share": self.ping_pong_share},
            "department_moves": [m.__dict__ for m in self.department_moves],
            "wrong_queue": {
                "rerouted": len(self.wrong_queue_minutes),
                "average_minutes": self.wrong_queue_average,
                "total_hours": self.wrong_queue_total_hours,
            },
            "reroutes_by_person": [r.__dict__ for r in self.reroutes_by_person],
            "sla": [
                {"queue": s.queue, "first_response": s.first_response, "resolution": s.resolution}
                for s in self.sla
            ],
            "corrections": [
                {"field": c.field, "corrected": c.corrected, "understood": c.understood}
                for c in self.corrections
            ],
        }


def _moves(session: Session, org_id: int, report: RoutingReport) -> None:
    """Ping-pong, department pairs, wrong-queue time and re-routes from the decision trail.

    A conversation counts when its first decision falls in the period; its whole trail is used.
    """
    started = (
        select(RoutingDecisionRecord.conversation_id)
        .where(RoutingDecisionRecord.org_id == org_id)
        .group_by(RoutingDecisionRecord.conversation_id)
        .having(
            func.min(RoutingDecisionRecord.created_at) >= report.since,
            func.min(RoutingDecisionRecord.created_at) < report.until,
        )
    )
    rows = session.execute(
        select(
            RoutingDecisionRecord.conversation_id,
            RoutingDecisionRecord.created_at,
            RoutingDecisionRecord.owner_department_id,
            RoutingDecisionRecord.by_user_id,
        )
        .where(RoutingDecisionRecord.conversation_id.in_(started))
        .order_by(
            RoutingDecisionRecord.conversation_id,
            RoutingDecisionRecord.created_at,
            RoutingDecisionRecord.id,
        )
    )
    trail: dict[int, list[tuple[datetime, int | None, int | None]]] = defaultdict(list)
    for conversation_id, created_at, department_id, by_user_id in rows:
        trail[conversation_id].append((ensure_aware(created_at), department_id, by_user_id))
    departments: dict[int, str] = dict(
        session.execute(
            select(Department.id, Department.name).where(Department.org_id == org_id)
        ).all()
    )
    pairs: Counter[tuple[str, str]] = Counter()
    by_person: Counter[int] = Counter()
    people_conversations: dict[int, set[int]] = defaultdict(set)
    report.routed = len(trail)
    for conversation_id, decisions in trail.items():
        moves = 0
        for before, after in itertools.pairwise(decisions):
            if before[1] != after[1]:
                moves += 1
                pairs[
                    (
                        departments.get(before[1] or 0, "none"),
                        departments.get(after[1] or 0, "none"),
                    )
                ] += 1
        if moves > 1:
            report.ping_pong_ids.append(conversation_id)
        for _, _, by_user_id in decisions:
            if by_user_id is not None:
                by_person[by_user_id] += 1
                people_conversations[by_user_id].add(conversation_id)
        automatic = next((d for d in decisions if d[2] is None), None)
        manual = next((d for d in decisions if d[2] is not None), None)
        if automatic is not None and manual is not None and manual[0] >= automatic[0]:
            report.wrong_queue_minutes.append((manual[0] - automatic[0]).total_seconds() / 60)
    report.department_moves = [
        DepartmentMove(a, b, n) for (a, b), n in sorted(pairs.items(), key=lambda p: (-p[1], p[0]))
    ]
    names: dict[int, str] = dict(
        session.execute(select(User.id, User.name).where(User.id.in_(list(by_person)))).all()
    )
    report.reroutes_by_person = [
        RerouteByPerson(
            names.get(user_id, f"user {user_id}"), n, len(people_conversations[user_id])
        )
        for user_id, n in by_person.most_common()
    ]


def _sla(session: Session, org_id: int, report: RoutingReport, now: datetime) -> None:
    rows = session.execute(
        select(
            Queue.name,
            Conversation.first_response_at,
            Conversation.first_response_due_at,
            Conversation.resolved_at,
            Conversation.resolution_due_at,
        )
        .join(Queue, Queue.id == Conversation.queue_id)
        .where(
            Conversation.org_id == org_id,
            Conversation.first_message_at >= report.since,
            Conversation.first_message_at < report.until,
            Conversation.first_response_due_at.is_not(None),
        )
    )
    per_queue: dict[str, SlaAttainment] = {}

    def judge(done: datetime | None, due: datetime | None) -> str:
        if due is None:
            return "running"
        due = ensure_aware(due)
        if done is not None:
            return "met" if ensure_aware(done) <= due else "breached"
        return "breached" if now > due else "running"

    for queue, first_at, first_due, resolved_at, resolution_due in rows:
        entry = per_queue.setdefault(queue, SlaAttainment(queue))
        first = judge(first_at, first_due)
        setattr(entry, f"first_{first}", getattr(entry, f"first_{first}") + 1)
        resolution = judge(resolved_at, resolution_due)
        setattr(entry, f"resolution_{resolution}", getattr(entry, f"resolution_{resolution}") + 1)
    report.sla = sorted(per_queue.values(), key=lambda s: s.queue)


def _corrections(session: Session, org_id: int, report: RoutingReport) -> None:
    """Corrected / understood inbound messages that arrived in the period, per field."""
    in_period = (
        Message.org_id == org_id,
        Message.direction == "inbound",
        Message.understood_at.is_not(None),
        Message.created_at >= report.since,
        Message.created_at < report.until,
    )
    understood = session.scalar(select(func.count()).select_from(Message).where(*in_period)) or 0
    corrected: dict[str, int] = dict(
        session.execute(
            select(UnderstandingCorrection.field, func.count(distinct(Message.id)))
            .join(Message, Message.id == UnderstandingCorrection.message_id)
            .where(UnderstandingCorrection.org_id == org_id, *in_period)
            .group_by(UnderstandingCorrection.field)
        ).all()
    )
    report.corrections = [
        CorrectionRateByField(name, int(corrected.get(name, 0)), understood)
        for name in CORRECTED_FIELDS
    ]


def routing_report(
    session: Session, org_id: int, since: datetime, until: datetime, now: datetime | None = None
) -> RoutingReport:
    """The routing metrics of conversations that started in [since, until)."""
    report = RoutingReport(since=since, until=until)
    _moves(session, org_id, report)
    _sla(session, org_id, report, now or utcnow())
    _corrections(session, org_id, report)
    return report
