"""What-if replay: queue waits and SLA attainment under a staffing plan, and policy comparisons."""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from townhall.routing.rules import RoutingDecision
from townhall.routing.sla import BusinessHours, business_minutes_between

HOURS_PER_WEEK = 168
DEFAULT_OCCUPANCY = 0.85

Staffing = int | Sequence[int]
"""Agents on shift: a constant, or 168 values per hour of the week (Monday 00:00 first)."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One past conversation: when it arrived, the queue it goes to, how long it took to handle."""

    at: datetime
    queue: str
    handle_minutes: float
    # The conversation's own first-response target (its kind's SLA); else the queue's.
    sla_minutes: float | None = None


@dataclass(frozen=True, slots=True)
class QueueForecast:
    """How one queue would have fared: volume, staff needed and first-response waits."""

    queue: str
    volume: int
    handle_hours: float
    # Handle time divided by the occupancy agents can sustain.
    staff_hours_needed: float
    staff_hours_scheduled: float
    sla_minutes: float | None
    # Share of conversations picked up within the SLA target; None without a target.
    sla_attainment: float | None
    average_wait_minutes: float
    p90_wait_minutes: float
    # Conversations no agent was ever scheduled to pick up.
    unanswered: int


@dataclass(frozen=True, slots=True)
class SimulationReport:
    queues: dict[str, QueueForecast]

    @property
    def conversations(self) -> int:
        return sum(queue.volume for queue in self.queues.values())


class _Shifts:
    """Agents on shift per real hour since ``origin``, resolved once per hour of the replay."""

    def __init__(self, staffing: Staffing, origin: float, zone: ZoneInfo) -> None:
        self.origin = origin
        self.zone = zone
        if isinstance(staffing, int):
            self.constant: int | None = staffing
            self.week: tuple[int, ...] = (staffing,) * HOURS_PER_WEEK
        else:
            self.constant = None
            self.week = tuple(staffing)
            if len(self.week) != HOURS_PER_WEEK:
                raise ValueError("staffing per hour of the week needs 168 values")
        if min(self.week) < 0:
            raise ValueError("staffing cannot be negative")
        self.most = max(self.week)
        self.levels: list[int] = []

    def level(self, hour: int) -> int:
        if self.constant is not None:
            return self.constant
        while hour >= len(self.levels):
            moment = datetime.fromtimestamp(self.origin + 3600 * len(self.levels), self.zone)
            self.levels.append(self.week[moment.weekday() * 24 + moment.hour])
        return self.levels[hour]

    def next_on_shift(self, agent: int, at: float) -> float:
        """The first moment from ``at`` at which agent number ``agent`` is on shift."""
        hour = int((at - self.origin) // 3600)
        if self.level(hour) > agent:
            return at
        hour += 1
        while self.level(hour) <= agent:
            hour += 1
        return self.origin + 3600 * hour


def _replay_queue(
    arrivals: list[tuple[float, float]], shifts: _Shifts
) -> tuple[list[float], list[float]]:
    """FIFO with time-varying servers; returns waits (seconds) and pick-up times."""
    waits: list[float] = []
    starts: list[float] = []
    if shifts.most == 0:
        return waits, starts
    free_at = [arrivals[0][0]] * shifts.most
    # Keys are lower bounds of when each agent can start next; a popped key that is still
    # exact is the earliest agent (the usual lazy-heap trick, since arrivals only move forward).
    heap = [(free_at[agent], agent) for agent in range(shifts.most)]
    heapq.heapify(heap)
    for arrived, handle in arrivals:
        while True:
            key, agent = heapq.heappop(heap)
            start = shifts.next_on_shift(agent, max(free_at[agent], arrived))
            # Nobody can start before the conversation arrives, so that start is the earliest.
            if start <= key or start == arrived:
                break
            heapq.heappush(heap, (start, agent))
        waits.append(start - arrived)
        starts.append(start)
        free_at[agent] = start + handle
        heapq.heappush(heap, (free_at[agent], agent))
    return waits, starts


def simulate(
    arrivals: Iterable[Arrival],
    staffing: Mapping[str, Staffing],
    sla_minutes: Mapping[str, float],
    *,
    occupancy: float = DEFAULT_OCCUPANCY,
    timezone: str = "UTC",
    business_hours: Mapping[str, BusinessHours] | None = None,
) -> SimulationReport:
    """Replay arrivals through each queue's agents, first come first served.

    ``staffing`` and ``sla_minutes`` are per queue (an arrival's own ``sla_minutes`` wins;
    a conversation without any target counts as missed); staffing hours are wall-clock hours of the
    week in ``timezone``. Waits count in business minutes for queues given ``business_hours``,
    otherwise in clock minutes. An agent finishes a conversation even past the end of a shift.
    """
    if not 0 < occupancy <= 1:
        raise ValueError("occupancy must be in (0, 1]")
    zone = ZoneInfo(timezone)
    by_queue: dict[str, list[tuple[float, float]]] = defaultdict(list)
    targets: dict[str, list[float | None]] = defaultdict(list)
    for arrival in sorted(arrivals, key=lambda item: item.at):
        if arrival.at.tzinfo is None:
            raise ValueError("arrival times must be timezone-aware")
        by_queue[arrival.queue].append((arrival.at.timestamp(), arrival.handle_minutes * 60))
        targets[arrival.queue].append(arrival.sla_minutes)
    missing = sorted(set(by_queue) - set(staffing))
    if missing:
        raise ValueError(f"no staffing for queues: {', '.join(missing)}")
    forecasts: dict[str, QueueForecast] = {}
    for queue in sorted(by_queue):
        items = by_queue[queue]
        origin = items[0][0] - items[0][0] % 3600
        shifts = _Shifts(staffing[queue], origin, zone)
        waits, starts = _replay_queue(items, shifts)
        hours = (business_hours or {}).get(queue)
        if hours is not None:
            waits = [
                business_minutes_between(_utc(arrived), _utc(start), hours) * 60
                for (arrived, _), start in zip(items, starts, strict=False)
            ]
        target = sla_minutes.get(queue)
        attainment = None
        if target is not None or any(t is not None for t in targets[queue]):
            within = 0
            for wait, own_target in zip(waits, targets[queue], strict=False):
                limit = own_target if own_target is not None else target
                within += limit is not None and wait / 60 <= limit
            attainment = within / len(items)
        wait_minutes = sorted(wait / 60 for wait in waits)
        unanswered = len(items) - len(wait_minutes)
        handle_hours = sum(handle for _, handle in items) / 3600
        last_hour = int((items[-1][0] - origin) // 3600)
        scheduled = float(sum(shifts.level(hour) for hour in range(last_hour + 1)))
        forecasts[queue] = QueueForecast(
            queue=queue,
            volume=len(items),
            handle_hours=handle_hours,
            staff_hours_needed=handle_hours / occupancy,
            staff_hours_scheduled=scheduled,
            sla_minutes=target,
            sla_attainment=attainment,
            average_wait_minutes=(
                sum(wait_minutes) / len(wait_minutes) if not unanswered else math.inf
            ),
            p90_wait_minutes=_p90(wait_minutes) if not unanswered else math.inf,
            unanswered=unanswered,
        )
    return SimulationReport(queues=forecasts)


def _utc(timestamp: float) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=timestamp)


def _p90(sorted_values: list[float]) -> float:
    # Nearest rank: the smallest wait that at least 90% of conversations did not exceed.
    return sorted_values[max(0, math.ceil(0.9 * len(sorted_values)) - 1)]


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True, slots=True)
class Move:
    kind: str
    before: str
    after: str
    count: int


@dataclass(frozen=True, slots=True)
class PolicyComparison:
    """What a draft policy changes for the same conversations, counted per kind."""

    conversations: int
    unchanged: int
    # Per kind (of the current decision): conversations the draft opens to the agency,
    # and ones it takes back in-house (by agency_allowed).
    to_agency: dict[str, int]
    to_in_house: dict[str, int]
    queue_moves: tuple[Move, ...]
    department_moves: tuple[Move, ...]
    # Per kind: conversations that become restricted, and ones that stop being restricted.
    newly_restricted: dict[str, int]
    no_longer_restricted: dict[str, int]

    def lines(self) -> list[str]:
        """A short human-readable summary, largest moves first."""
        lines = [f"{self.conversations} conversations, {self.unchanged} routed the same way"]
        for kind, count in sorted(self.to_agency.items(), key=lambda item: -item[1]):
            lines.append(f"{kind}: {count} may now go to the agency")
        for kind, count in sorted(self.to_in_house.items(), key=lambda item: -item[1]):
            lines.append(f"{kind}: {count} now stay in-house")
        for move in self.department_moves:
            lines.append(f"{move.kind}: {move.count} move from {move.before} to {move.after}")
        for move in self.queue_moves:
            lines.append(f"{move.kind}: {move.count} move from queue {move.before} to {move.after}")
        for kind, count in sorted(self.newly_restricted.items(), key=lambda item: -item[1]):
            lines.append(f"{kind}: {count} become restricted")
        for kind, count in sorted(self.no_longer_restricted.items(), key=lambda item: -item[1]):
            lines.append(f"{kind}: {count} are no longer restricted")
        return lines


def _moves(counter: Counter[tuple[str, str, str]]) -> tuple[Move, ...]:
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Move(kind, before, after, count) for (kind, before, after), count in ordered)


def compare(
    decisions_current: Sequence[RoutingDecision], decisions_draft: Sequence[RoutingDecision]
) -> PolicyComparison:
    """Compare decisions for the same conversations (same order) under two policies."""
    if len(decisions_current) != len(decisions_draft):
        raise ValueError("both lists must hold one decision per conversation, in the same order")
    to_agency: Counter[str] = Counter()
    to_in_house: Counter[str] = Counter()
    queue_moves: Counter[tuple[str, str, str]] = Counter()
    department_moves: Counter[tuple[str, str, str]] = Counter()
    newly_restricted: Counter[str] = Counter()
    no_longer_restricted: Counter[str] = Counter()
    unchanged = 0
    for current, draft in zip(decisions_current, decisions_draft, strict=True):
        kind = current.kind
        same = True
        if current.agency_allowed != draft.agency_allowed:
            (to_agency if draft.agency_allowed else to_in_house)[kind] += 1
            same = False
        if current.queue != draft.queue:
            queue_moves[(kind, current.queue, draft.queue)] += 1
            same = False
        if current.owner_department != draft.owner_department:
            before = current.owner_department or "no department"
            after = draft.owner_department or "no department"
            department_moves[(kind, before, after)] += 1
            same = False
        if current.restricted != draft.restricted:
            (newly_restricted if draft.restricted else no_longer_restricted)[kind] += 1
            same = False
        unchanged += same
    return PolicyComparison(
        conversations=len(decisions_current),
        unchanged=unchanged,
        to_agency=dict(to_agency),
        to_in_house=dict(to_in_house),
        queue_moves=_moves(queue_moves),
        department_moves=_moves(department_moves),
        newly_restricted=dict(newly_restricted),
        no_longer_restricted=dict(no_longer_restricted),
    )
