"""Prometheus metrics: the shared truth read from the database at scrape time, plus this process's own counters.

Every process (web or worker) answers ``/metrics`` with the same database figures — backlog,
lag, dead letters — so a scrape of any one of them tells the whole pipeline's state; the
webhook counters and latency are per process, as Prometheus expects of counters.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from townhall import db
from townhall.channels.models import InboundEvent, InboundEventStatus
from townhall.config import get_settings
from townhall.conversations.models import Conversation, Message
from townhall.core.time import ensure_aware, utcnow
from townhall.inbox.models import OutboxItem, OutboxStatus

log = logging.getLogger("townhall.metrics")

# The *_created series double every counter for little use; most dashboards ignore them.
disable_created_metrics()
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

WEBHOOK_RESULTS = (
    "accepted",
    "duplicate",
    "bad_signature",
    "malformed",
    "unknown_channel",
    "error",
)
webhook_deliveries = Counter(
    "townhall_webhook_deliveries",
    "Webhook deliveries received by this process, by result.",
    ["result"],
    registry=REGISTRY,
)
for _result in WEBHOOK_RESULTS:
    webhook_deliveries.labels(_result)  # every series exists from the start, at 0
webhook_seconds = Histogram(
    "townhall_webhook_seconds",
    "Time this process took to answer a webhook delivery.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
pipeline_items = Counter(
    "townhall_pipeline_items",
    "Work done by this process's pipeline stages (events ingested, messages understood, "
    "conversations routed).",
    ["stage"],
    registry=REGISTRY,
)


def _age(now: datetime, oldest: datetime | None) -> float:
    return max(0.0, (now - ensure_aware(oldest)).total_seconds()) if oldest else 0.0


class DatabaseCollector(Collector):
    """Reads the pipeline's state from the database on every scrape."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "townhall_database_up", "Whether the last scrape could read the database."
        )
        try:
            with db.session_factory()() as session:
                families = list(self._read(session))
        except Exception:
            # A scrape must answer even when the database does not; the gauge says why it is thin.
            log.warning("metrics could not read the database", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, session: Session) -> Iterator[Metric]:
        now = utcnow()
        events = GaugeMetricFamily(
            "townhall_inbound_events",
            "Stored webhook events by status (only ever grows, like a counter, unless purged).",
            labels=["status"],
        )
        counts = dict(
            session.execute(
                select(InboundEvent.status, func.count()).group_by(InboundEvent.status)
            ).all()
        )
        for status in InboundEventStatus:
            events.add_metric([status.value], counts.get(status.value, 0))
        yield events

        dead = GaugeMetricFamily(
            "townhall_dead_letters",
            "Work that will not be retried on its own: failed inbound events, replies given up.",
            labels=["kind"],
        )
        dead.add_metric(["inbound_event"], counts.get(InboundEventStatus.FAILED.value, 0))
        gave_up = session.scalar(
            select(func.count()).where(
                OutboxItem.status == OutboxStatus.FAILED.value,
                OutboxItem.next_attempt_at.is_(None),
            )
        )
        dead.add_metric(["outbox"], gave_up or 0)
        yield dead

        pending_messages = select(func.count(), func.min(Message.ingested_at)).where(
            Message.direction == "inbound", Message.understood_at.is_(None)
        )
        understanding, oldest_message = session.execute(pending_messages).one()
        yield GaugeMetricFamily(
            "townhall_messages_pending_understanding",
            "Inbound messages stored but not understood yet.",
            value=understanding,
        )
        yield GaugeMetricFamily(
            "townhall_conversations_unrouted",
            "Conversations without a queue yet.",
            value=session.scalar(select(func.count()).where(Conversation.queue_id.is_(None))) or 0,
        )
        outbox = GaugeMetricFamily(
            "townhall_outbox_items", "Replies in the outbox by status.", labels=["status"]
        )
        outbox_counts = dict(
            session.execute(
                select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
            ).all()
        )
        for outbox_status in OutboxStatus:
            outbox.add_metric([outbox_status.value], outbox_counts.get(outbox_status.value, 0))
        yield outbox

        oldest_event = session.scalar(
            select(func.min(InboundEvent.received_at)).where(
                InboundEvent.status == InboundEventStatus.PENDING.value
            )
        )
        lag = GaugeMetricFamily(
            "townhall_pipeline_lag_seconds",
            "Age of the oldest work waiting in each stage (0 when nothing waits).",
            labels=["stage"],
        )
        lag.add_metric(["ingest"], _age(now, oldest_event))
        lag.add_metric(["understand"], _age(now, oldest_message))
        yield lag


REGISTRY.register(DatabaseCollector())


router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Open unless ``TOWNHALL_METRICS_TOKEN`` is set; then ``Authorization: Bearer <token>``."""
    token = get_settings().metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Response(
                "metrics need the bearer token (TOWNHALL_METRICS_TOKEN)\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
