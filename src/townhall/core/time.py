"""Timezone-aware time helpers: every datetime in Townhall carries its zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone columns; they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_aware(text: str) -> datetime:
    """Parse an ISO 8601 time that must carry a zone (``Z`` or an offset)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("time has no timezone (add Z or an offset such as +02:00)")
    return value.astimezone(UTC)


# For API schemas: SQLite returns naive UTC datetimes; the API always answers with a zone.
UtcDatetime = Annotated[datetime, AfterValidator(ensure_aware)]
