"""Executive dashboards: volume, the split of work, SLA attainment, sentiment and response times.

``load_facts`` reads plain rows for a period; ``build_dashboard`` is a pure function from
those rows to the figures, so the arithmetic is tested without a database.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from townhall.conversations.models import Conversation, Message
from townhall.core.time import ensure_aware
from townhall.governance.models import Department, Team, User
from townhall.routing.models import Queue, RoutingDecisionRecord

IN_HOUSE, AGENCY, AUTOMATIC = "in-house", "agency", "automatic"
NO_DEPARTMENT = "(no department)"


@dataclass(frozen=True)
class ConversationFact:
    id: int
    started_at: datetime
    department: str
    kind: str
    by_agency: bool  # in an agency queue or worked by agency staff
    first_response_at: datetime | None
    first_response_due_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class ReplyFact:
    created_at: datetime
    side: str  # in-house, agency or automatic
    department: str  # of the conversation replied to


@dataclass(frozen=True)
class InboundFact:
    created_at: datetime
    sentiment: str | None


@dataclass(frozen=True)
class SplitRow:
    name: str
    conversations: int
    replies: int
    median_resolution_hours: float | None


@dataclass
class Dashboard:
    start: datetime
    end: datetime
    periods: list[str]
    volume_by_department: list[tuple[str, list[float]]] = field(default_factory=list)
    volume_by_kind: list[tuple[str, list[float]]] = field(default_factory=list)
    departments: list[SplitRow] = field(default_factory=list)
    sides: list[SplitRow] = field(default_factory=list)
    sla_by_period: list[float | None] = field(default_factory=list)
    sla_by_department: list[tuple[str, float | None, int]] = field(default_factory=list)
    sentiment_by_period: list[tuple[str, list[float | None]]] = field(default_factory=list)
    response_by_period: list[tuple[str, list[float | None]]] = field(default_factory=list)
    total_conversations: int = 0
    total_replies: int = 0
    automatic_replies: int = 0
    sla_attainment: float | None = None
    median_first_response_minutes: float | None = None
    agency_share: float | None = None


def _bucket_starts(start: datetime, end: datetime, days: int) -> list[datetime]:
    starts, cursor = [], start
    while cursor < end:
        starts.append(cursor)
        cursor += timedelta(days=days)
    return starts


def _index(when: datetime, start: datetime, bucket_days: int, count: int) -> int | None:
    offset = (ensure_aware(when) - start).total_seconds() // (bucket_days * 86400)
    return int(offset) if 0 <= offset < count else None


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def sla_met(fact: ConversationFact, now: datetime) -> bool | None:
    """First response on time; None when there is no target or it is not yet decided."""
    if fact.first_response_due_at is None:
        return None
    due = ensure_aware(fact.first_response_due_at)
    if fact.first_response_at is not None:
        return ensure_aware(fact.first_response_at) <= due
    return False if now > due else None


def _minutes(later: datetime | None, earlier: datetime) -> float | None:
    if later is None:
        return None
    return max(0.0, (ensure_aware(later) - ensure_aware(earlier)).total_seconds() / 60)


def build_dashboard(
    conversations: Sequence[ConversationFact],
    replies: Sequence[ReplyFact],
    inbound: Sequence[InboundFact],
    *,
    start: datetime,
    end: datetime,
    bucket_days: int,
) -> Dashboard:
    starts = _bucket_starts(start, end, bucket_days)
    n = len(starts)
    labels = [s.strftime("%d %b") for s in starts]
    board = Dashboard(start=start, end=end, periods=labels)

    by_department: dict[str, list[float]] = defaultdict(lambda: [0.0] * n)
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0.0] * n)
    sla_period: list[list[bool]] = [[] for _ in range(n)]
    sla_department: dict[str, list[bool]] = defaultdict(list)
    first_response: list[list[float]] = [[] for _ in range(n)]
    resolution: dict[str, list[float]] = defaultdict(list)
    conversations_of: Counter[str] = Counter()
    for fact in conversations:
        index = _index(fact.started_at, start, bucket_days, n)
        if index is None:
            continue
        side = AGENCY if fact.by_agency else IN_HOUSE
        by_department[fact.department][index] += 1
        by_kind[fact.kind][index] += 1
        conversations_of[fact.department] += 1
        conversations_of[side] += 1
        met = sla_met(fact, end)
        if met is not None:
            sla_period[index].append(met)
            sla_department[fact.department].append(met)
        waited = _minutes(fact.first_response_at, fact.started_at)
        if waited is not None:
            first_response[index].append(waited)
        took = _minutes(fact.resolved_at, fact.started_at)
        if took is not None:
            resolution[fact.department].append(took / 60)
            resolution[side].append(took / 60)

    replies_of: Counter[str] = Counter()
    for reply in replies:
        if _index(reply.created_at, start, bucket_days, n) is None:
            continue
        replies_of[reply.department] += 1
        replies_of[reply.side] += 1

    def split(name: str) -> SplitRow:
        hours = resolution.get(name)
        return SplitRow(
            name,
            conversations_of[name],
            replies_of[name],
            round(median(hours), 1) if hours else None,
        )

    ranked = sorted(by_department, key=lambda d: -conversations_of[d])
    board.volume_by_department = [(d, by_department[d]) for d in ranked]
    board.volume_by_kind = sorted(by_kind.items(), key=lambda kv: -sum(kv[1]))
    board.departments = [split(d) for d in ranked]
    board.sides = [split(IN_HOUSE), split(AGENCY)] + (
        [SplitRow(AUTOMATIC, 0, replies_of[AUTOMATIC], None)] if replies_of[AUTOMATIC] else []
    )
    board.sla_by_period = [round(100 * sum(v) / len(v), 1) if v else None for v in sla_period]
    board.sla_by_department = [
        (d, round(100 * sum(sla_department[d]) / len(sla_department[d]), 1), len(sla_department[d]))
        if sla_department[d]
        else (d, None, 0)
        for d in ranked
    ]
    shares: dict[str, list[float | None]] = {s: [] for s in ("negative", "neutral", "positive")}
    per_period: list[Counter[str]] = [Counter() for _ in range(n)]
    for message in inbound:
        index = _index(message.created_at, start, bucket_days, n)
        if index is not None and message.sentiment in shares:
            per_period[index][message.sentiment] += 1
    for counts in per_period:
        total = sum(counts.values())
        for name in shares:
            shares[name].append(round(100 * counts[name] / total, 1) if total else None)
    board.sentiment_by_period = list(shares.items())
    board.response_by_period = [
        ("median", [round(median(v), 1) if v else None for v in first_response]),
        ("90th percentile", [round(_percentile(v, 0.9), 1) if v else None for v in first_response]),
    ]
    all_met = [m for v in sla_period for m in v]
    all_waits = [w for v in first_response for w in v]
    board.total_conversations = conversations_of[IN_HOUSE] + conversations_of[AGENCY]
    board.total_replies = replies_of[IN_HOUSE] + replies_of[AGENCY] + replies_of[AUTOMATIC]
    board.automatic_replies = replies_of[AUTOMATIC]
    board.sla_attainment = round(100 * sum(all_met) / len(all_met), 1) if all_met else None
    board.median_first_response_minutes = round(median(all_waits), 1) if all_waits else None
    board.agency_share = (
        round(100 * conversations_of[AGENCY] / board.total_conversations, 1)
        if board.total_conversations
        else None
    )
    return board


def load_facts(
    session: Session, org_id: int, start: datetime, end: datetime
) -> tuple[list[ConversationFact], list[ReplyFact], list[InboundFact]]:
    """The period's conversations (by first message), replies and inbound messages, as rows."""
    departments = {
        d.id: d.name for d in session.scalars(select(Department).where(Department.org_id == org_id))
    }
    agency_queues = set(
        session.scalars(
            select(Queue.id)
            .join(Team, Team.id == Queue.team_id)
            .where(Queue.org_id == org_id, Team.agency_id.is_not(None))
        )
    )
    agency_people = set(
        session.scalars(select(User.id).where(User.org_id == org_id, User.agency_id.is_not(None)))
    )
    kinds: dict[int, str] = {}
    for conversation_id, kind in session.execute(
        select(RoutingDecisionRecord.conversation_id, RoutingDecisionRecord.kind)
        .join(Conversation, Conversation.id == RoutingDecisionRecord.conversation_id)
        .where(
            RoutingDecisionRecord.org_id == org_id,
            Conversation.first_message_at >= start,
            Conversation.first_message_at < end,
        )
        .order_by(RoutingDecisionRecord.id)
    ):
        kinds[conversation_id] = kind  # the latest decision wins
    # Replies imported from a platform do not set first_response_at: their time counts too.
    first_outbound = dict(
        session.execute(
            select(Message.conversation_id, func.min(Message.created_at))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Message.org_id == org_id,
                Message.direction == "outbound",
                Conversation.first_message_at >= start,
                Conversation.first_message_at < end,
            )
            .group_by(Message.conversation_id)
        ).all()
    )
    conversations = [
        ConversationFact(
            id=row.id,
            started_at=ensure_aware(row.first_message_at),
            department=departments.get(row.owner_department_id or 0, NO_DEPARTMENT),
            kind=kinds.get(row.id, "not routed"),
            by_agency=row.queue_id in agency_queues or row.assigned_user_id in agency_people,
            first_response_at=row.first_response_at or first_outbound.get(row.id),
            first_response_due_at=row.first_response_due_at,
            resolved_at=row.resolved_at,
        )
        for row in session.execute(
            select(
                Conversation.id,
                Conversation.first_message_at,
                Conversation.owner_department_id,
                Conversation.queue_id,
                Conversation.assigned_user_id,
                Conversation.first_response_at,
                Conversation.first_response_due_at,
                Conversation.resolved_at,
            ).where(
                Conversation.org_id == org_id,
                Conversation.first_message_at >= start,
                Conversation.first_message_at < end,
            )
        )
    ]
    author = aliased(User)
    replies = []
    # Outbound messages imported from a platform (no author in Townhall) count as in-house.
    for created_at, automatic, agency_id, department_id in session.execute(
        select(
            Message.created_at,
            Message.automatic,
            author.agency_id,
            Conversation.owner_department_id,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(author, author.id == Message.author_user_id)
        .where(
            Message.org_id == org_id,
            Message.direction == "outbound",
            Message.created_at >= start,
            Message.created_at < end,
        )
    ):
        side = AUTOMATIC if automatic else (AGENCY if agency_id is not None else IN_HOUSE)
        replies.append(
            ReplyFact(
                ensure_aware(created_at), side, departments.get(department_id or 0, NO_DEPARTMENT)
            )
        )
    inbound = [
        InboundFact(ensure_aware(created_at), sentiment)
        for created_at, sentiment in session.execute(
            select(Message.created_at, Message.sentiment).where(
                Message.org_id == org_id,
                Message.direction == "inbound",
                Message.created_at >= start,
                Message.created_at < end,
            )
        )
    ]
    return conversations, replies, inbound
