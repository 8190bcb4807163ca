"""The signed generic webhook, ``POST /hooks/{channel}``: verify, store the raw event, acknowledge.

Nothing slow happens here. The delivery is checked (signature, replay window, a body the
channel's connector can read), stored once as an ``inbound_event`` and answered with 202;
workers ingest, understand and route it. Every outcome is a deliberate status: 202 accepted
or duplicate, 400 malformed (with each field and what was wrong), 401 unknown channel or bad
signature, 413 too large, 503 when the database is unavailable (the sender retries). Never 500.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from townhall import db, jobs
from townhall.channels.inbound import (
    DeliveryChannel,
    DeliveryRejected,
    Problem,
    delivery_external_id,
    parse_delivery,
    record_delivery,
)
from townhall.channels.models import ChannelAccount
from townhall.channels.registry import get_connector
from townhall.config import get_settings
from townhall.core import signing
from townhall.metrics import webhook_deliveries, webhook_seconds

log = logging.getLogger("townhall.webhook")

router = APIRouter(tags=["webhooks"])

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UNKNOWN_CHANNEL = "unknown channel, or it accepts no webhooks"


@dataclass(frozen=True)
class Outcome:
    status_code: int
    result: str  # the metrics label: accepted, duplicate, bad_signature, malformed, ...
    body: dict[str, Any]
    org_id: int | None = None


def _unauthorised(result: str, reason: str) -> Outcome:
    return Outcome(401, result, {"detail": reason})


def _malformed(problems: list[Problem]) -> Outcome:
    return Outcome(400, "malformed", {"detail": [p.as_dict() for p in problems]})


# Channel key → what checking its deliveries needs, read once and then reused: a delivery then
# costs one statement. A remembered entry cannot outlive a change: the insert checks that the
# channel still has this secret, platform and connector (``record_delivery``), and a signature
# that fails against a remembered secret is checked again against the database's.
_channels: dict[str, DeliveryChannel] = {}
CHANNEL_CACHE_SIZE = 10_000


def forget_channels() -> None:
    """Drop every remembered channel (tests reuse ids in emptied tables)."""
    _channels.clear()


def _read_channel(connection: Connection, channel_key: str) -> DeliveryChannel | None:
    row = connection.execute(
        select(
            ChannelAccount.id,
            ChannelAccount.org_id,
            ChannelAccount.platform,
            ChannelAccount.connector,
            ChannelAccount.webhook_secret,
        ).where(ChannelAccount.key == channel_key)
    ).one_or_none()
    # A channel without a secret accepts no webhooks; not remembered, so enabling it works.
    if row is None or not row.webhook_secret:
        _channels.pop(channel_key, None)
        return None
    channel = DeliveryChannel(row.id, row.org_id, row.platform, row.connector, row.webhook_secret)
    if len(_channels) >= CHANNEL_CACHE_SIZE:
        _channels.clear()
    _channels[channel_key] = channel
    return channel


def handle_delivery(
    engine: Engine,
    channel_key: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float | None = None,
) -> Outcome:
    """Everything the webhook decides, without HTTP: tests call it directly."""
    if not _KEY.match(channel_key):
        return _unauthorised("unknown_channel", UNKNOWN_CHANNEL)
    # Autocommit: the insert is the delivery's only statement and its own transaction, so a
    # delivery costs one round trip (the commit's WAL flush included) once its channel is known.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        remembered = _channels.get(channel_key)
        # A remembered channel that turns out changed is read again, once; a channel that
        # changes again in between is simply refused (the sender retries).
        for channel in (remembered, None) if remembered else (None,):
            channel = channel or _read_channel(connection, channel_key)
            # Keys are random (96 bits), so saying "unknown" reveals nothing worth probing for.
            if channel is None:
                return _unauthorised("unknown_channel", UNKNOWN_CHANNEL)
            try:
                signing.verify(channel.secret, body, timestamp, signature, now=now)
            except signing.SignatureInvalid as exc:
                if channel is remembered:
                    continue  # perhaps signed with a secret rotated since: read it again
                return _unauthorised("bad_signature", str(exc))
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                return _malformed([Problem("body", f"is not valid UTF-8 ({exc.reason})")])
            try:
                items = parse_delivery(get_connector(channel.connector), channel.platform, text)
            except DeliveryRejected as exc:
                if channel is remembered:
                    continue  # perhaps the channel's connector or platform changed
                return _malformed(exc.problems)
            stored = record_delivery(
                connection, channel, external_id=delivery_external_id(items), body=text
            )
            if stored is None:
                continue  # the channel changed since it was read: read it again
            event_id, duplicate = stored
            status = "duplicate" if duplicate else "accepted"
            return Outcome(202, status, {"status": status, "event_id": event_id}, channel.org_id)
    _channels.pop(channel_key, None)
    return _unauthorised("bad_signature", "the channel changed while this delivery was checked")


def _accept(engine: Engine, channel_key: str, body: bytes, headers: Headers) -> Outcome:
    """Handle a delivery and, once it is committed, wake the workers: one trip to a thread."""
    outcome = handle_delivery(
        engine,
        channel_key,
        body,
        headers.get(signing.TIMESTAMP_HEADER),
        headers.get(signing.SIGNATURE_HEADER),
    )
    if outcome.result == "accepted" and outcome.org_id is not None:
        try:
            jobs.wake(outcome.org_id)
        except Exception:
            # Stored and committed: the periodic sweep picks it up even without the wake-up.
            log.warning("could not wake the workers", exc_info=True)
    return outcome


def _too_large(limit: int) -> Outcome:
    return Outcome(
        413, "malformed", {"detail": [Problem("body", f"is larger than {limit} bytes").as_dict()]}
    )


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None when it is over ``limit`` bytes (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/hooks/{channel}",
    status_code=202,
    summary="Receive a signed delivery for a channel",
    responses={
        400: {"description": "The body cannot become messages; each field and what was wrong."},
        401: {"description": "Unknown channel, or a missing, wrong or stale signature."},
        413: {"description": "The body is too large."},
        503: {"description": "Temporarily unavailable; retry later."},
    },
)
async def receive_delivery(channel: str, request: Request) -> JSONResponse:
    """Headers: ``X-Townhall-Timestamp`` (unix seconds) and ``X-Townhall-Signature:
    sha256=<hex HMAC-SHA256(secret, "{timestamp}." + body)>``. Answers 202 with
    ``{"status": "accepted" | "duplicate", "event_id": N}``."""
    started = time.perf_counter()
    limit = get_settings().webhook_max_bytes
    try:
        body = await _read_body(request, limit)
        if body is None:
            outcome = _too_large(limit)
        else:
            outcome = await run_in_threadpool(
                _accept, db.get_engine(), channel, body, request.headers
            )
    except Exception:
        # The database or the network failed us, not the sender: ask them to retry.
        log.exception("webhook delivery could not be stored", extra={"channel": channel})
        outcome = Outcome(503, "error", {"detail": "temporarily unavailable, retry later"})
    webhook_deliveries.labels(outcome.result).inc()
    webhook_seconds.observe(time.perf_counter() - started)
    headers = {"Retry-After": "5"} if outcome.status_code == 503 else None
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)
