"""Erlang C staffing: how many agents a queue needs to answer X% of arrivals within T minutes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# A queue that needs more agents than this is an input mistake (or a country), not a team.
MAX_AGENTS = 1_000_000


class StaffingInputError(ValueError):
    """An input to the staffing formulas is out of range; ``field`` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class StaffingResult:
    """The smallest team that meets the target, and how that team performs.

    ``service_level`` and ``occupancy`` are fractions in [0, 1]; ``fte`` is ``agents``
    grossed up for shrinkage (breaks, training, leave).
    """

    agents: int
    service_level: float
    asa_minutes: float
    occupancy: float
    fte: float
    traffic_erlangs: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def check_staffing_inputs(
    arrivals_per_hour: float,
    handle_minutes: float,
    target_percent: float | None = None,
    within_minutes: float | None = None,
    shrinkage: float = 0.0,
) -> None:
    """Raise :class:`StaffingInputError` for the first argument that is out of range."""
    _check_finite("arrivals_per_hour", arrivals_per_hour)
    if arrivals_per_hour < 0:
        raise StaffingInputError("arrivals_per_hour", "must be zero or more")
    _check_finite("handle_minutes", handle_minutes)
    if handle_minutes <= 0:
        raise StaffingInputError("handle_minutes", "must be more than zero")
    if target_percent is not None:
        _check_finite("target_percent", target_percent)
        if not 0 < target_percent < 100:
            raise StaffingInputError("target_percent", "must be between 0 and 100 (exclusive)")
    if within_minutes is not None:
        _check_finite("within_minutes", within_minutes)
        # Zero is meaningful: "answered without waiting at all".
        if within_minutes < 0:
            raise StaffingInputError("within_minutes", "must be zero or more")
    _check_finite("shrinkage", shrinkage)
    if not 0 <= shrinkage < 1:
        raise StaffingInputError("shrinkage", "must be at least 0 and less than 1")


def _check_finite(field: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StaffingInputError(field, "must be a number")
    if not math.isfinite(value):
        raise StaffingInputError(field, "must be a finite number")


def _check_agents(agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int):
        raise StaffingInputError("agents", "must be a whole number")
    if agents < 0:
        raise StaffingInputError("agents", "must be zero or more")


def traffic_erlangs(arrivals_per_hour: float, handle_minutes: float) -> float:
    """Offered load: the average number of agents busy if nobody ever waited."""
    return arrivals_per_hour * handle_minutes / 60.0


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability by the stable recurrence (no factorials, no large powers)."""
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return blocking


def _erlang_c_from_b(agents: int, traffic: float, blocking: float) -> float:
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that an arrival has to wait; 1.0 when the queue cannot keep up."""
    _check_agents(agents)
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    return _erlang_c_from_b(agents, traffic, erlang_b(agents, traffic))


def _service_level(
    agents: int, traffic: float, prob_wait: float, handle_minutes: float, within_minutes: float
) -> float:
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    level = 1.0 - prob_wait * math.exp(-(agents - traffic) * within_minutes / handle_minutes)
    # Rounding can push a near-certain answer a hair outside [0, 1].
    return min(1.0, max(0.0, level))


def _asa(agents: int, traffic: float, prob_wait: float, handle_minutes: float) -> float:
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return prob_wait * handle_minutes / (agents - traffic)


def service_level(
    agents: int, arrivals_per_hour: float, handle_minutes: float, within_minutes: float
) -> float:
    """Fraction of arrivals answered within ``within_minutes`` by ``agents`` agents."""
    check_staffing_inputs(arrivals_per_hour, handle_minutes, within_minutes=within_minutes)
    _check_agents(agents)
    traffic = traffic_erlangs(arrivals_per_hour, handle_minutes)
    prob_wait = erlang_c(agents, traffic)
    return _service_level(agents, traffic, prob_wait, handle_minutes, within_minutes)


def asa(agents: int, arrivals_per_hour: float, handle_minutes: float) -> float:
    """Average speed of answer in minutes (``inf`` when the agents cannot keep up)."""
    check_staffing_inputs(arrivals_per_hour, handle_minutes)
    _check_agents(agents)
    traffic = traffic_erlangs(arrivals_per_hour, handle_minutes)
    return _asa(agents, traffic, erlang_c(agents, traffic), handle_minutes)


def staffing(
    arrivals_per_hour: float,
    handle_minutes: float,
    target_percent: float,
    within_minutes: float,
    shrinkage: float = 0.0,
) -> StaffingResult:
    """The smallest number of agents N > traffic whose service level meets the target.

    An hour with no arrivals needs no agents (and trivially meets any target).
    """
    check_staffing_inputs(
        arrivals_per_hour, handle_minutes, target_percent, within_minutes, shrinkage
    )
    traffic = traffic_erlangs(arrivals_per_hour, handle_minutes)
    if traffic == 0:
        return StaffingResult(0, 1.0, 0.0, 0.0, 0.0, 0.0)
    target = target_percent / 100.0
    # Walk the Erlang B recurrence once, testing each N above the load as we pass it,
    # so the whole search is O(N) even at thousands of arrivals an hour.
    blocking = 1.0
    agents = 0
    while True:
        agents += 1
        if agents > MAX_AGENTS:
            raise StaffingInputError("arrivals_per_hour", f"needs more than {MAX_AGENTS} agents")
        blocking = traffic * blocking / (agents + traffic * blocking)
        if agents <= traffic:
            continue
        prob_wait = _erlang_c_from_b(agents, traffic, blocking)
        level = _service_level(agents, traffic, prob_wait, handle_minutes, within_minutes)
        if level >= target:
            return StaffingResult(
                agents=agents,
                service_level=level,
                asa_minutes=_asa(agents, traffic, prob_wait, handle_minutes),
                occupancy=traffic / agents,
                fte=agents / (1.0 - shrinkage),
                traffic_erlangs=traffic,
            )


def staffing_by_hour(
    arrivals_per_hour: Sequence[float],
    handle_minutes: float,
    target_percent: float,
    within_minutes: float,
    shrinkage: float = 0.0,
) -> list[StaffingResult]:
    """Staffing for each hour of a week (or any run of hours), one result per entry."""
    check_staffing_inputs(0.0, handle_minutes, target_percent, within_minutes, shrinkage)
    results: list[StaffingResult] = []
    for index, arrivals in enumerate(arrivals_per_hour):
        try:
            results.append(
                staffing(arrivals, handle_minutes, target_percent, within_minutes, shrinkage)
            )
        except StaffingInputError as error:
            raise StaffingInputError(f"arrivals_per_hour[{index}]", error.reason) from error
    return results
