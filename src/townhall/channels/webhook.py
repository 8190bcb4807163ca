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
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from townhall import db, jobs
from townhall.channels.inbound import (
    DeliveryRejected,
    Problem,
    delivery_external_id,
    parse_delivery,
    record_event,
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


def handle_delivery(
    sessions: sessionmaker[Session],
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
    # One session and one transaction for the lookup and the insert: a delivery costs one
    # connection checkout and a handful of round trips.
    with sessions() as session, session.begin():
        account = session.execute(
            select(
                ChannelAccount.id,
                ChannelAccount.org_id,
                ChannelAccount.platform,
                ChannelAccount.connector,
                ChannelAccount.webhook_secret,
            ).where(ChannelAccount.key == channel_key)
        ).one_or_none()
        # Keys are random (96 bits), so saying "unknown" reveals nothing worth probing for.
        if account is None or not account.webhook_secret:
            return _unauthorised("unknown_channel", UNKNOWN_CHANNEL)
        try:
            signing.verify(account.webhook_secret, body, timestamp, signature, now=now)
        except signing.SignatureInvalid as exc:
            return _unauthorised("bad_signature", str(exc))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _malformed([Problem("body", f"is not valid UTF-8 ({exc.reason})")])
        try:
            items = parse_delivery(get_connector(account.connector), account.platform, text)
        except DeliveryRejected as exc:
            return _malformed(exc.problems)
        event_id, duplicate = record_event(
            session,
            org_id=account.org_id,
            channel_account_id=account.id,
            external_id=delivery_external_id(items),
            body=text,
        )
    status = "duplicate" if duplicate else "accepted"
    return Outcome(202, status, {"status": status, "event_id": event_id}, account.org_id)


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
                handle_delivery,
                db.session_factory(),
                channel,
                body,
                request.headers.get(signing.TIMESTAMP_HEADER),
                request.headers.get(signing.SIGNATURE_HEADER),
            )
    except Exception:
        # The database or the network failed us, not the sender: ask them to retry.
        log.exception("webhook delivery could not be stored", extra={"channel": channel})
        outcome = Outcome(503, "error", {"detail": "temporarily unavailable, retry later"})
    if outcome.result == "accepted" and outcome.org_id is not None:
        try:
            await run_in_threadpool(jobs.wake, outcome.org_id)
        except Exception:
            # Stored and committed: the periodic sweep picks it up even without the wake-up.
            log.warning("could not wake the workers", exc_info=True)
    webhook_deliveries.labels(outcome.result).inc()
    webhook_seconds.observe(time.perf_counter() - started)
    headers = {"Retry-After": "5"} if outcome.status_code == 503 else None
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)
