"""The SLA clock: business hours, DST and status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.strategies import business_hours
from townhall.routing.policy import load_policy  # noqa: F401 - keeps the import graph honest
from townhall.routing.sla import (
    BusinessHours,
    SlaStatus,
    business_minutes_between,
    due_at,
    sla_status,
)

LONDON = ZoneInfo("Europe/London")
OFFICE = BusinessHours.from_mapping(
    "Europe/London", {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
)


def hours_from(value: object) -> BusinessHours:
    if value == "24/7":
        return BusinessHours.around_the_clock()
    assert isinstance(value, dict)
    return BusinessHours.from_mapping(value["timezone"], value["weekly"])


@settings(max_examples=200, deadline=None)
@given(
    business_hours(),
    st.integers(0, 60 * 24 * 400).map(
        lambda m: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=m)
    ),
    st.integers(0, 5000),
)
def test_due_time_is_after_start_and_matches_elapsed_minutes(
    hours_value: object, start: datetime, minutes: int
) -> None:
    hours = hours_from(hours_value)
    due = due_at(start, minutes, hours)
    assert due >= start
    assert business_minutes_between(start, due, hours) == pytest.approx(minutes, abs=1e-6)
    if minutes:
        # One minute earlier the target was not yet reached.
        before = due - timedelta(minutes=1)
        assert business_minutes_between(start, before, hours) < minutes


def test_friday_afternoon_target_is_due_on_monday() -> None:
    start = datetime(2025, 6, 6, 16, 0, tzinfo=LONDON)  # Friday
    assert due_at(start, 120, OFFICE) == datetime(2025, 6, 9, 10, 0, tzinfo=LONDON)


def test_start_outside_hours_waits_for_opening() -> None:
    start = datetime(2025, 6, 7, 12, 0, tzinfo=LONDON)  # Saturday
    assert due_at(start, 30, OFFICE) == datetime(2025, 6, 9, 9, 30, tzinfo=LONDON)


def test_spring_forward_day_has_23_business_hours() -> None:
    every_day = BusinessHours.from_mapping(
        "Europe/London", {day: ["00:00-24:00"] for day in ("sat", "sun", "mon")}
    )
    saturday = datetime(2025, 3, 29, 0, 0, tzinfo=LONDON)
    sunday = datetime(2025, 3, 30, 0, 0, tzinfo=LONDON)
    monday = datetime(2025, 3, 31, 0, 0, tzinfo=LONDON)
    assert business_minutes_between(sunday, monday, every_day) == 23 * 60
    assert business_minutes_between(saturday, sunday, every_day) == 24 * 60
    # 02:00-03:00 does not exist that Sunday: 01:30 + 60 business minutes is 03:30 local.
    half_past_one = datetime(2025, 3, 30, 1, 30, tzinfo=LONDON)
    assert due_at(half_past_one, 60, every_day).astimezone(LONDON).hour == 3


def test_fall_back_day_has_25_hours_and_around_the_clock_is_absolute() -> None:
    always = BusinessHours.around_the_clock()
    start = datetime(2025, 10, 26, 0, 0, tzinfo=LONDON)
    end = datetime(2025, 10, 27, 0, 0, tzinfo=LONDON)
    assert business_minutes_between(start, end, always) == 25 * 60
    due = due_at(start, 25 * 60, always)
    assert due.astimezone(UTC) == end.astimezone(UTC)


def test_office_hours_in_summer_time_are_local_hours() -> None:
    start = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)  # 09:00 in London (BST)
    assert due_at(start, 60, OFFICE).astimezone(UTC) == datetime(2025, 7, 1, 9, 0, tzinfo=UTC)


def test_status_ok_warning_breached() -> None:
    start = datetime(2025, 6, 9, 9, 0, tzinfo=LONDON)  # Monday opening
    assert sla_status(start, 60, OFFICE, start + timedelta(minutes=30)).status is SlaStatus.OK
    warning = sla_status(start, 60, OFFICE, start + timedelta(minutes=50))
    assert warning.status is SlaStatus.WARNING
    assert warning.remaining_minutes == pytest.approx(10)
    assert sla_status(start, 60, OFFICE, start + timedelta(minutes=61)).status is (
        SlaStatus.BREACHED
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2025, 1, 1), 10, OFFICE)


def test_business_hours_must_open_sometime() -> None:
    with pytest.raises(ValueError, match="at least once"):
        BusinessHours.from_mapping("UTC", {})
