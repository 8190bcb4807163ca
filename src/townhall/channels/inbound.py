"""Inbound deliveries: check what a channel sent, and keep it as a raw event until a worker ingests it.

The webhook and the worker call the same ``parse_delivery``: the webhook to refuse what can
never become messages (400 with the reason), the worker to turn the stored event into items.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Select, Table, and_, bindparam, exists, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from townhall.channels.base import Connector
from townhall.channels.models import ChannelAccount, InboundEvent, InboundEventStatus
from townhall.conversations.schemas import InboundItem
from townhall.core.time import utcnow

# Errors reported back to the sender; enough to fix a payload, bounded for a hostile one.
MAX_REPORTED_PROBLEMS = 20
EXTERNAL_ID_LENGTH = 200


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str
    item: int | None = None  # 1-based position of the item in the delivery

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        where = f"item {self.item}, " if self.item else ""
        return f"{where}{self.field}: {self.reason}"


class DeliveryRejected(Exception):
    """The delivery can never become messages; ``problems`` name each field and what was wrong."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def parse_delivery(connector: Connector, platform: str, body: bytes | str) -> list[InboundItem]:
    """The interchange items in one raw delivery, or :class:`DeliveryRejected` saying why not."""
    try:
        payload = json.loads(body)
    except UnicodeDecodeError as exc:
        raise DeliveryRejected([Problem("body", f"is not valid UTF-8 ({exc.reason})")]) from exc
    except json.JSONDecodeError as exc:
        raise DeliveryRejected([Problem("body", f"is not valid JSON ({exc.msg})")]) from exc
    except RecursionError as exc:
        raise DeliveryRejected([Problem("body", "is nested too deeply")]) from exc
    if not isinstance(payload, dict):
        raise DeliveryRejected([Problem("body", "must be a JSON object")])
    try:
        parsed = connector.parse(payload)
    except Exception as exc:  # a connector's bug must answer 400 for this payload, not 500
        raise DeliveryRejected(
            [Problem("body", f"the {connector.platform} connector could not read it ({exc})")]
        ) from exc
    problems = [
        Problem(error.field or "item", error.reason, error.line or None)
        for error in parsed.errors[:MAX_REPORTED_PROBLEMS]
    ]
    for position, item in enumerate(parsed.items, start=1):
        # A channel speaks for one platform; items claiming another could hijack its threads.
        if item.platform != platform and len(problems) < MAX_REPORTED_PROBLEMS:
            problems.append(
                Problem(
                    "platform",
                    f"is '{item.platform}' but this channel is on '{platform}'",
                    position,
                )
            )
    if not problems and not parsed.items:
        problems.append(Problem("items", "the delivery contains no items"))
    if problems:
        raise DeliveryRejected(problems)
    return parsed.items


def delivery_external_id(items: list[InboundItem]) -> str:
    """The delivery's identity: its items' ids, so a platform's retry is recognised as a duplicate."""
    joined = ",".join(sorted({item.external_id for item in items}))
    if len(joined) <= EXTERNAL_ID_LENGTH:
        return joined
    return "sha256:" + hashlib.sha256(joined.encode()).hexdigest()


_EVENTS = cast(Table, InboundEvent.__table__)


@dataclass(frozen=True)
class DeliveryChannel:
    """What the webhook knows of a channel when it checks a delivery (maybe remembered)."""

    id: int
    org_id: int
    platform: str
    connector: str
    secret: str


_ACCOUNTS = cast(Table, ChannelAccount.__table__)
# The channel is still exactly as the caller saw it when it checked the delivery.
_CHANNEL_UNCHANGED = and_(
    _ACCOUNTS.c.id == bindparam("channel_id"),
    _ACCOUNTS.c.webhook_secret == bindparam("secret"),
    _ACCOUNTS.c.platform == bindparam("platform"),
    _ACCOUNTS.c.connector == bindparam("connector"),
)
_EVENT_FROM_CHANNEL: Select[Any] = select(
    _ACCOUNTS.c.org_id,
    _ACCOUNTS.c.id,
    bindparam("external_id", type_=_EVENTS.c.external_id.type),
    bindparam("body", type_=_EVENTS.c.body.type),
    bindparam("received_at", type_=_EVENTS.c.received_at.type),
    literal(InboundEventStatus.PENDING.value, _EVENTS.c.status.type),
    literal(0, _EVENTS.c.attempts.type),
).where(_CHANNEL_UNCHANGED)
_STORE_DELIVERY = {
    name: insert(_EVENTS)
    .from_select(
        [
            "org_id",
            "channel_account_id",
            "external_id",
            "body",
            "received_at",
            "status",
            "attempts",
        ],
        _EVENT_FROM_CHANNEL,
    )
    .on_conflict_do_nothing(index_elements=["channel_account_id", "external_id"])
    .returning(_EVENTS.c.id)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_FIND_DELIVERY = select(
    select(_EVENTS.c.id)
    .where(
        _EVENTS.c.channel_account_id == bindparam("channel_id"),
        _EVENTS.c.external_id == bindparam("external_id"),
    )
    .scalar_subquery(),
    exists().where(_CHANNEL_UNCHANGED),
)


def record_delivery(
    connection: Connection, channel: DeliveryChannel, *, external_id: str, body: str
) -> tuple[int, bool] | None:
    """Store a delivery once, in one statement; returns (event id, whether it was a duplicate).

    Run on an autocommit connection, the insert is its own transaction: one round trip stores
    and commits the delivery. The insert copies the channel's row and checks its secret,
    platform and connector, so a delivery verified with a remembered secret stores nothing
    once the secret was rotated (or the channel changed): None tells the caller to look again.
    """
    params = {
        "channel_id": channel.id,
        "secret": channel.secret,
        "platform": channel.platform,
        "connector": channel.connector,
        "external_id": external_id,
    }
    statement = _STORE_DELIVERY[connection.dialect.name]
    event_id = connection.scalar(statement, {**params, "body": body, "received_at": utcnow()})
    if event_id is not None:
        return event_id, False
    # Rare: a duplicate (the conflicting row is committed, or the insert would have waited),
    # or the channel changed since the caller read it.
    existing, unchanged = connection.execute(_FIND_DELIVERY, params).one()
    if not unchanged:
        return None
    assert existing is not None
    return existing, True
