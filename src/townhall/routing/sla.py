"""Business-hours-aware SLA clock: due times, elapsed business minutes and SLA status."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 1440
ALWAYS_OPEN = "24/7"
DEFAULT_WARNING_RATIO = 0.8

# An opening interval is written "09:00-17:30"; "24:00" may end a day.
_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

Interval = tuple[int, int]
"""Minutes since local midnight: (start, end), start < end <= 1440."""


def parse_clock(text: str) -> int:
    """Minutes since midnight for "HH:MM" (24:00 allowed as the end of a day)."""
    match = re.fullmatch(r"(\d{2}):(\d{2})", text)
    if match is None:
        raise ValueError(f"{text!r} is not a time of day written HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        raise ValueError(f"{text!r} is not a time of day between 00:00 and 24:00")
    return hour * 60 + minute


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_interval(text: str) -> Interval:
    """Parse "09:00-17:30" into minutes since local midnight."""
    if _INTERVAL.match(text) is None:
        raise ValueError(f"{text!r} is not an opening interval written HH:MM-HH:MM")
    start_text, end_text = text.split("-")
    start, end = parse_clock(start_text), parse_clock(end_text)
    if start >= end:
        # Overnight opening is written as two intervals on two days, so each day stays readable.
        raise ValueError(f"{text!r} ends before it starts (split overnight hours over two days)")
    return start, end


def format_interval(interval: Interval) -> str:
    return f"{format_clock(interval[0])}-{format_clock(interval[1])}"


def check_timezone(name: str) -> ZoneInfo:
    """Return the zone or raise ValueError with a message a policy author can act on."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name such as Europe/Paris)"
        ) from error


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """When a team works: a timezone and opening intervals per weekday, or around the clock."""

    timezone: str = "UTC"
    # Seven entries, Monday first; each a sorted tuple of non-overlapping intervals.
    weekly: tuple[tuple[Interval, ...], ...] = ()
    always_open: bool = False

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        if self.always_open:
            return
        if len(self.weekly) != 7:
            raise ValueError("business hours need one entry per weekday, Monday first")
        for day in self.weekly:
            previous_end = -1
            for start, end in day:
                if not 0 <= start < end <= MINUTES_PER_DAY:
                    raise ValueError(f"opening interval {start}-{end} is outside one day")
                if start < previous_end:
                    raise ValueError("opening intervals of one day overlap or are not sorted")
                previous_end = end
        if not any(self.weekly):
            # A clock that never runs would never become due.
            raise ValueError("business hours must open at least once a week")

    @classmethod
    def around_the_clock(cls) -> BusinessHours:
        return cls(always_open=True)

    @classmethod
    def from_mapping(cls, timezone: str, weekly: dict[str, list[str]]) -> BusinessHours:
        """Build from {"mon": ["09:00-17:00"], ...}; a missing weekday is closed."""
        days = tuple(
            tuple(sorted(parse_interval(text) for text in weekly.get(day, []))) for day in WEEKDAYS
        )
        return cls(timezone=timezone, weekly=days)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_mapping(self) -> str | dict[str, object]:
        """The policy-document form: "24/7" or {"timezone": ..., "weekly": {...}}."""
        if self.always_open:
            return ALWAYS_OPEN
        weekly = {
            day: [format_interval(interval) for interval in intervals]
            for day, intervals in zip(WEEKDAYS, self.weekly, strict=True)
            if intervals
        }
        return {"timezone": self.timezone, "weekly": weekly}

    def is_open(self, at: datetime) -> bool:
        _require_aware(at)
        if self.always_open:
            return True
        local = at.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.weekly[local.weekday()])


class SlaStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"


@dataclass(frozen=True, slots=True)
class SlaReading:
    """Where an SLA clock stands at one moment."""

    status: SlaStatus
    elapsed_minutes: float
    target_minutes: float
    due_at: datetime

    @property
    def remaining_minutes(self) -> float:
        return max(0.0, self.target_minutes - self.elapsed_minutes)


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("SLA clocks need timezone-aware datetimes")


def _local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    # Wall-clock arithmetic on purpose: "09:00" means 09:00 local on every day, DST or not;
    # the result is compared in UTC, so a 23- or 25-hour day counts its real length.
    local_midnight = datetime.combine(day, time(0), tzinfo=zone)
    return (local_midnight + timedelta(minutes=minutes)).astimezone(UTC)


def _opening_windows(hours: BusinessHours, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Opening windows (UTC) from the local day containing ``since`` onwards, forever."""
    zone = hours.zone
    day = since.astimezone(zone).date()
    while True:
        for start, end in hours.weekly[day.weekday()]:
            window_start = _local_instant(day, start, zone)
            window_end = _local_instant(day, end, zone)
            # A window inside a spring-forward gap can come out empty or inverted.
            if window_end > window_start:
                yield window_start, window_end
        day += timedelta(days=1)


def due_at(start: datetime, target_minutes: float, hours: BusinessHours) -> datetime:
    """When ``target_minutes`` of business time have passed since ``start`` (in start's zone)."""
    _require_aware(start)
    if target_minutes < 0:
        raise ValueError("an SLA target cannot be negative")
    if target_minutes == 0:
        return start
    start_utc = start.astimezone(UTC)
    remaining = timedelta(minutes=target_minutes)
    if hours.always_open:
        return (start_utc + remaining).astimezone(start.tzinfo)
    for window_start, window_end in _opening_windows(hours, start_utc):
        if window_end <= start_utc:
            continue
        counted_from = max(window_start, start_utc)
        available = window_end - counted_from
        if remaining <= available:
            return (counted_from + remaining).astimezone(start.tzinfo)
        remaining -= available
    raise AssertionError("unreachable: business hours open at least once a week")


def business_minutes_between(start: datetime, end: datetime, hours: BusinessHours) -> float:
    """Business minutes that passed between two instants (0 if ``end`` is not after ``start``)."""
    _require_aware(start)
    _require_aware(end)
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    if end_utc <= start_utc:
        return 0.0
    if hours.always_open:
        return (end_utc - start_utc).total_seconds() / 60
    total = timedelta(0)
    for window_start, window_end in _opening_windows(hours, start_utc):
        if window_start >= end_utc:
            break
        overlap = min(window_end, end_utc) - max(window_start, start_utc)
        if overlap > timedelta(0):
            total += overlap
    return total.total_seconds() / 60


def sla_status(
    start: datetime,
    target_minutes: float,
    hours: BusinessHours,
    now: datetime,
    *,
    warning_ratio: float = DEFAULT_WARNING_RATIO,
) -> SlaReading:
    """Read the clock at ``now``: ok, warning (``warning_ratio`` of the target used) or breached."""
    if not 0 < warning_ratio <= 1:
        raise ValueError("warning_ratio must be in (0, 1]")
    due = due_at(start, target_minutes, hours)
    elapsed = business_minutes_between(start, now, hours)
    if now.astimezone(UTC) > due.astimezone(UTC):
        status = SlaStatus.BREACHED
    elif target_minutes == 0 or elapsed >= warning_ratio * target_minutes:
        status = SlaStatus.WARNING
    else:
        status = SlaStatus.OK
    return SlaReading(
        status=status, elapsed_minutes=elapsed, target_minutes=target_minutes, due_at=due
    )
