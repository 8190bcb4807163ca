"""Erlang C staffing against textbook figures, at large loads, and with bad inputs."""

from __future__ import annotations

import math

import pytest

from townhall.advisor.erlang import (
    StaffingInputError,
    asa,
    erlang_c,
    service_level,
    staffing,
    staffing_by_hour,
)

# The textbook example: 100 calls per 30 minutes, 180 s handle time, 80% answered in 20 s.
ARRIVALS = 200.0
HANDLE = 3.0
WITHIN = 20 / 60


def textbook_erlang_c(agents: int, traffic: float) -> float:
    """The schoolbook formula with factorials and powers; fine for small N only."""
    top = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
    bottom = sum(traffic**k / math.factorial(k) for k in range(agents)) + top
    return top / bottom


def test_textbook_example_needs_fourteen_agents() -> None:
    result = staffing(ARRIVALS, HANDLE, 80, WITHIN)

    assert result.agents == 14
    assert result.traffic_erlangs == pytest.approx(10.0)
    assert result.occupancy == pytest.approx(10 / 14)
    assert result.fte == 14
    # Published: 17.4% wait, 88.8% within 20 s, ASA 7.8 s.
    assert result.service_level == pytest.approx(0.888, abs=5e-4)
    assert result.asa_minutes * 60 == pytest.approx(7.8, abs=0.05)


def test_textbook_example_matches_the_factorial_formula() -> None:
    prob_wait = textbook_erlang_c(14, 10.0)
    expected_level = 1 - prob_wait * math.exp(-(14 - 10) * 20 / 180)
    expected_asa_seconds = prob_wait * 180 / (14 - 10)

    result = staffing(ARRIVALS, HANDLE, 80, WITHIN)

    assert prob_wait == pytest.approx(0.1741, abs=1e-4)
    assert result.service_level == pytest.approx(expected_level, rel=1e-9)
    assert result.asa_minutes * 60 == pytest.approx(expected_asa_seconds, rel=1e-9)
    # Thirteen agents fall just short of the target, which is why the answer is fourteen.
    assert service_level(13, ARRIVALS, HANDLE, WITHIN) == pytest.approx(
        1 - textbook_erlang_c(13, 10.0) * math.exp(-3 * 20 / 180), rel=1e-9
    )
    assert service_level(13, ARRIVALS, HANDLE, WITHIN) < 0.80


@pytest.mark.parametrize("traffic", [0.3, 1.0, 2.5, 7.0, 12.0, 20.0])
def test_recurrence_agrees_with_factorials(traffic: float) -> None:
    for agents in range(math.floor(traffic) + 1, math.floor(traffic) + 12):
        assert erlang_c(agents, traffic) == pytest.approx(
            textbook_erlang_c(agents, traffic), rel=1e-9
        )


def test_asa_and_service_level_helpers_agree_with_staffing() -> None:
    result = staffing(ARRIVALS, HANDLE, 80, WITHIN)

    assert asa(14, ARRIVALS, HANDLE) == pytest.approx(result.asa_minutes)
    assert service_level(14, ARRIVALS, HANDLE, WITHIN) == pytest.approx(result.service_level)
    # Too few agents: the queue grows without end.
    assert asa(10, ARRIVALS, HANDLE) == math.inf
    assert service_level(9, ARRIVALS, HANDLE, WITHIN) == 0.0


def test_large_load_stays_finite_and_monotone() -> None:
    result = staffing(5000, 3, 80, WITHIN)
    traffic = 5000 * 3 / 60

    assert result.agents > traffic
    assert 0.8 <= result.service_level <= 1
    assert math.isfinite(result.asa_minutes)
    assert result.occupancy < 1
    assert service_level(result.agents - 1, 5000, 3, WITHIN) < 0.8

    levels = [service_level(n, 5000, 3, WITHIN) for n in range(251, 300)]
    assert all(0 <= level <= 1 for level in levels)
    assert levels == sorted(levels)
    waits = [asa(n, 5000, 3) for n in range(251, 300)]
    assert waits == sorted(waits, reverse=True)
    assert all(math.isfinite(wait) for wait in waits)

    needed = [staffing(arrivals, 3, 80, WITHIN).agents for arrivals in range(1000, 8001, 500)]
    assert needed == sorted(needed)


def test_very_large_load_is_still_quick_and_finite() -> None:
    result = staffing(60_000, 6, 90, 1)

    assert 6000 < result.agents < 6200
    assert math.isfinite(result.service_level)
    assert math.isfinite(result.asa_minutes)


def test_quiet_hour_needs_nobody_and_shrinkage_grosses_up() -> None:
    assert staffing(0, 5, 80, 1).agents == 0
    assert staffing(0, 5, 80, 1).service_level == 1.0

    result = staffing(ARRIVALS, HANDLE, 80, WITHIN, shrinkage=0.3)
    assert result.agents == 14
    assert result.fte == pytest.approx(20.0)


def test_staffing_by_hour_returns_one_result_per_hour() -> None:
    results = staffing_by_hour([0, 10, 200, 5000], HANDLE, 80, WITHIN)

    assert results[0].agents == 0
    assert results[2].agents == 14
    assert [r.agents for r in results] == sorted(r.agents for r in results)

    with pytest.raises(StaffingInputError) as caught:
        staffing_by_hour([1, -2], HANDLE, 80, WITHIN)
    assert caught.value.field == "arrivals_per_hour[1]"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"arrivals_per_hour": -1}, "arrivals_per_hour"),
        ({"arrivals_per_hour": math.nan}, "arrivals_per_hour"),
        ({"handle_minutes": 0}, "handle_minutes"),
        ({"handle_minutes": -3}, "handle_minutes"),
        ({"target_percent": 0}, "target_percent"),
        ({"target_percent": 100}, "target_percent"),
        ({"target_percent": 120}, "target_percent"),
        ({"within_minutes": -1}, "within_minutes"),
        ({"within_minutes": math.inf}, "within_minutes"),
        ({"shrinkage": 1}, "shrinkage"),
        ({"shrinkage": -0.1}, "shrinkage"),
    ],
)
def test_invalid_inputs_name_the_argument(kwargs: dict[str, float], field: str) -> None:
    arguments: dict[str, float] = {
        "arrivals_per_hour": ARRIVALS,
        "handle_minutes": HANDLE,
        "target_percent": 80,
        "within_minutes": WITHIN,
        "shrinkage": 0.0,
        **kwargs,
    }
    with pytest.raises(StaffingInputError) as caught:
        staffing(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_agent_count_must_be_whole_and_not_negative() -> None:
    with pytest.raises(StaffingInputError):
        service_level(-1, ARRIVALS, HANDLE, WITHIN)
    with pytest.raises(StaffingInputError):
        asa(2.5, ARRIVALS, HANDLE)  # type: ignore[arg-type]
