"""What-if on stored traffic: route past conversations under the active and a draft policy.

Staffing assumption (documented for `townhall policy simulate`): each team has the active
agents and leads of its department from the users table (agency teams: the agency's agents),
at least one, on shift during the team's business hours and off outside them. A team's agents
are shared between its queues in proportion to each queue's handle time, at least one each.
Handle time is the measured time from a conversation's first inbound message to the first
reply, clipped to 2–30 minutes; without a reply it is the median of the kind, or a default.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation, Message
from townhall.core.time import ensure_aware
from townhall.governance.models import Department, Role, User
from townhall.routing.actions import conversation_facts
from townhall.routing.policy import Policy, default_policy
from townhall.routing.queries import active_policy, compiled_policy
from townhall.routing.rules import CompiledPolicy, RoutingDecision, compile_policy
from townhall.routing.simulation import (
    Arrival,
    PolicyComparison,
    QueueForecast,
    Staffing,
    compare,
    simulate,
)
from townhall.routing.sla import MINUTES_PER_DAY, BusinessHours

MIN_HANDLE_MINUTES = 2.0
MAX_HANDLE_MINUTES = 30.0
# Minutes of work per conversation when nothing was measured for its kind.
DEFAULT_HANDLE_MINUTES: dict[str, float] = {
    "threat": 30,
    "impersonation_phishing": 20,
    "protest": 20,
    "self_harm": 30,
    "confidential_disclosure": 25,
    "employee_conduct": 25,
    "legal_threat": 30,
    "press_inquiry": 25,
    "sales_lead": 15,
    "strategic": 20,
    "complaint": 15,
    "offensive": 5,
    "support_request": 8,
    "feedback_praise": 3,
    "campaign_reply": 3,
    "spam": 1,
    "other": 5,
}
FALLBACK_HANDLE_MINUTES = 8.0
_MEDIAN_SAMPLES = 5
_STAFF_ROLES = (Role.AGENT, Role.LEAD, Role.AGENCY_AGENT)
_CHUNK = 500


@dataclass(frozen=True)
class TeamForecast:
    team: str
    is_agency: bool
    agents: int
    volume: int
    staff_hours_needed: float
    # Volume-weighted over the team's queues; None when no queue had a target.
    sla_attainment: float | None


@dataclass(frozen=True)
class PolicyForecast:
    policy_name: str
    label: str
    queues: dict[str, QueueForecast]
    teams: dict[str, TeamForecast]
    agency_volume: int


@dataclass(frozen=True)
class ReplayReport:
    since: datetime
    conversations: int
    current: PolicyForecast
    draft: PolicyForecast
    comparison: PolicyComparison
    # Conversations whose queue moves from in-house to an agency queue, and back.
    moved_to_agency: int
    moved_in_house: int

    def as_dict(self) -> dict[str, Any]:
        def number(value: float | None) -> float | None:
            return None if value is None or math.isinf(value) else round(value, 4)

        def forecast(item: PolicyForecast) -> dict[str, Any]:
            return {
                "policy": item.policy_name,
                "label": item.label,
                "agency_volume": item.agency_volume,
                "queues": {
                    name: {
                        "volume": q.volume,
                        "handle_hours": number(q.handle_hours),
                        "staff_hours_needed": number(q.staff_hours_needed),
                        "staff_hours_scheduled": number(q.staff_hours_scheduled),
                        "sla_attainment": number(q.sla_attainment),
                        "average_wait_minutes": number(q.average_wait_minutes),
                        "p90_wait_minutes": number(q.p90_wait_minutes),
                        "unanswered": q.unanswered,
                    }
                    for name, q in item.queues.items()
                },
                "teams": {
                    name: {
                        "is_agency": t.is_agency,
                        "agents": t.agents,
                        "volume": t.volume,
                        "staff_hours_needed": number(t.staff_hours_needed),
                        "sla_attainment": number(t.sla_attainment),
                    }
                    for name, t in item.teams.items()
                },
            }

        return {
            "since": self.since.isoformat(),
            "conversations": self.conversations,
            "current": forecast(self.current),
            "draft": forecast(self.draft),
            "moved_to_agency": self.moved_to_agency,
            "moved_in_house": self.moved_in_house,
            "changes": self.comparison.lines(),
        }


def _weekly_staffing(hours: BusinessHours, agents: int) -> Staffing:
    if hours.always_open:
        return agents
    week = []
    for day in hours.weekly:
        for hour in range(24):
            start, end = hour * 60, min(MINUTES_PER_DAY, hour * 60 + 60)
            week.append(agents if any(s < end and start < e for s, e in day) else 0)
    return week


def _team_agents(session: Session, org_id: int) -> tuple[dict[str, int], int]:
    """Active staff per department name, and the agencies' agents together."""
    rows = session.execute(
        select(Department.name, func.count(User.id))
        .join(User, User.department_id == Department.id)
        .where(
            User.org_id == org_id,
            User.is_active.is_(True),
            User.agency_id.is_(None),
            User.role.in_(list(_STAFF_ROLES)),
        )
        .group_by(Department.name)
    )
    per_department: dict[str, int] = {}
    for name, count in rows:
        per_department[name] = count
    agency = (
        session.scalar(
            select(func.count(User.id)).where(
                User.org_id == org_id, User.is_active.is_(True), User.agency_id.is_not(None)
            )
        )
        or 0
    )
    return per_department, agency


def _measured_handle_minutes(session: Session, org_id: int, since: datetime) -> dict[int, float]:
    first_in = func.min(case((Message.direction == "inbound", Message.created_at)))
    first_out = func.min(case((Message.direction == "outbound", Message.created_at)))
    rows = session.execute(
        select(Message.conversation_id, first_in, first_out)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.org_id == org_id, Conversation.first_message_at >= since)
        .group_by(Message.conversation_id)
    )
    measured = {}
    for conversation_id, inbound, outbound in rows:
        if inbound is None or outbound is None:
            continue
        minutes = (ensure_aware(outbound) - ensure_aware(inbound)).total_seconds() / 60
        if minutes > 0:
            measured[conversation_id] = min(MAX_HANDLE_MINUTES, max(MIN_HANDLE_MINUTES, minutes))
    return measured


def _forecast(
    policy: Policy,
    label: str,
    arrivals: Sequence[Arrival],
    agents_by_department: dict[str, int],
    agency_agents: int,
) -> PolicyForecast:
    by_queue: dict[str, list[Arrival]] = defaultdict(list)
    for arrival in arrivals:
        by_queue[arrival.queue].append(arrival)
    team_agents = {}
    for queue in policy.queues:
        count = agency_agents if queue.is_agency else agents_by_department.get(queue.team, 0)
        team_agents[queue.team] = max(1, count)
    team_handle: dict[str, float] = defaultdict(float)
    for name, items in by_queue.items():
        team_handle[policy.queue(name).team] += sum(a.handle_minutes for a in items)
    forecasts: dict[str, QueueForecast] = {}
    for name, items in sorted(by_queue.items()):
        queue = policy.queue(name)
        hours = policy.team(queue.team).hours
        share = sum(a.handle_minutes for a in items) / (team_handle[queue.team] or 1)
        agents = max(1, round(team_agents[queue.team] * share))
        report = simulate(
            items,
            {name: _weekly_staffing(hours, agents)},
            {},
            timezone="UTC" if hours.always_open else hours.timezone,
            business_hours={name: hours},
        )
        forecasts[name] = report.queues[name]
    teams: dict[str, TeamForecast] = {}
    for team_name in dict.fromkeys(queue.team for queue in policy.queues):
        queues = [
            forecasts[q.name] for q in policy.queues if q.team == team_name and q.name in forecasts
        ]
        volume = sum(q.volume for q in queues)
        with_target = [q for q in queues if q.sla_attainment is not None]
        attainment = (
            sum((q.sla_attainment or 0.0) * q.volume for q in with_target)
            / sum(q.volume for q in with_target)
            if with_target
            else None
        )
        teams[team_name] = TeamForecast(
            team=team_name,
            is_agency=team_name in policy.agencies,
            agents=team_agents[team_name],
            volume=volume,
            staff_hours_needed=sum(q.staff_hours_needed for q in queues),
            sla_attainment=attainment,
        )
    agency_volume = sum(
        forecasts[q.name].volume for q in policy.queues if q.is_agency and q.name in forecasts
    )
    return PolicyForecast(policy.name, label, forecasts, teams, agency_volume)


def replay(session: Session, org_id: int, draft: Policy, *, since: datetime) -> ReplayReport:
    """Route the conversations that arrived since ``since`` under the active policy and the
    draft, and forecast each queue and team with the staffing assumption above."""
    version = active_policy(session, org_id)
    current: Policy
    compiled_current: CompiledPolicy
    if version is not None:
        current, compiled_current = compiled_policy(version)
        current_label = f"active version {version.number}"
    else:
        current = default_policy()
        compiled_current = compile_policy(current)
        current_label = "shipped default (no policy applied)"
    compiled_draft = compile_policy(draft)
    measured = _measured_handle_minutes(session, org_id, since)
    conversation_ids = list(
        session.scalars(
            select(Conversation.id)
            .where(Conversation.org_id == org_id, Conversation.first_message_at >= since)
            .order_by(Conversation.first_message_at, Conversation.id)
        )
    )
    rows: list[tuple[int, datetime, RoutingDecision, RoutingDecision]] = []
    for start in range(0, len(conversation_ids), _CHUNK):
        chunk = conversation_ids[start : start + _CHUNK]
        conversations = list(
            session.scalars(
                select(Conversation)
                .where(Conversation.id.in_(chunk))
                .order_by(Conversation.first_message_at, Conversation.id)
            )
        )
        facts = conversation_facts(session, conversations)
        for conversation in conversations:
            found = facts[conversation.id].facts
            rows.append(
                (
                    conversation.id,
                    ensure_aware(conversation.first_message_at),
                    compiled_current.decide(found),
                    compiled_draft.decide(found),
                )
            )
    by_kind: dict[str, list[float]] = defaultdict(list)
    for conversation_id, _, decision, _ in rows:
        if conversation_id in measured:
            by_kind[decision.kind].append(measured[conversation_id])
    typical = {
        kind: statistics.median(values)
        for kind, values in by_kind.items()
        if len(values) >= _MEDIAN_SAMPLES
    }

    def handle(conversation_id: int, kind: str) -> float:
        if conversation_id in measured:
            return measured[conversation_id]
        return typical.get(kind, DEFAULT_HANDLE_MINUTES.get(kind, FALLBACK_HANDLE_MINUTES))

    current_arrivals, draft_arrivals = [], []
    for conversation_id, at, before, after in rows:
        minutes = handle(conversation_id, before.kind)
        current_arrivals.append(
            Arrival(at, before.queue, minutes, before.sla.first_response_minutes)
        )
        draft_arrivals.append(Arrival(at, after.queue, minutes, after.sla.first_response_minutes))
    agents_by_department, agency_agents = _team_agents(session, org_id)
    decisions_current = [row[2] for row in rows]
    decisions_draft = [row[3] for row in rows]
    return ReplayReport(
        since=since,
        conversations=len(rows),
        current=_forecast(
            current, current_label, current_arrivals, agents_by_department, agency_agents
        ),
        draft=_forecast(draft, "draft", draft_arrivals, agents_by_department, agency_agents),
        comparison=compare(decisions_current, decisions_draft),
        moved_to_agency=sum(
            not a.queue_is_agency and b.queue_is_agency
            for a, b in zip(decisions_current, decisions_draft, strict=True)
        ),
        moved_in_house=sum(
            a.queue_is_agency and not b.queue_is_agency
            for a, b in zip(decisions_current, decisions_draft, strict=True)
        ),
    )
