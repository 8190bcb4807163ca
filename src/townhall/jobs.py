"""Background work: the one list of periodic jobs, the Dramatiq broker and the wake-up actor.

The database is the source of truth. A broker message only says "there is work for
organisation N"; every worker also sweeps the database every few seconds and runs the same
jobs, so a lost, duplicated or unacknowledged message delays work but never loses it, and
nothing is ever stuck. Without Redis, the embedded worker thread of the web process runs the
sweep alone (the one-process default).

Every periodic job of every subsystem is listed in ``PERIODIC_JOBS``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall import db
from townhall.config import get_settings
from townhall.governance.models import Organisation
from townhall.inbox.outbox import deliver_pending
from townhall.integrations.delivery import deliver_webhooks
from townhall.pipeline import process_pending
from townhall.routing.flows import run_clocks

log = logging.getLogger("townhall.jobs")

QUEUE = "townhall"
ACTOR = "process_organisation"
# One wake-up job stops after about this long and sends itself again if work remains, so a
# huge backlog never pins a job past Dramatiq's time limit and new jobs interleave fairly.
JOB_TIME_BUDGET_SECONDS = 30.0
# Set when the process is asked to stop: long loops end after their current batch.
shutting_down = threading.Event()


# --------------------------------------------------------------------------- the jobs


def process_organisation(
    sessions: sessionmaker[Session], org_id: int, *, budget: float = JOB_TIME_BUDGET_SECONDS
) -> tuple[int, bool]:
    """Ingest, understand and route what is pending for one organisation.

    Returns the work done and whether it stopped on the time budget with work left.
    """
    deadline = time.monotonic() + budget
    summary = process_pending(
        sessions,
        org_id,
        should_stop=lambda: shutting_down.is_set() or time.monotonic() > deadline,
    )
    return summary.work_done, time.monotonic() > deadline and not shutting_down.is_set()


def process_all_organisations(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        org_ids = list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
    return sum(process_organisation(sessions, org_id)[0] for org_id in org_ids)


def deliver_outbox(sessions: sessionmaker[Session]) -> int:
    report = deliver_pending(sessions)
    return len(report.sent) + len(report.failed)


def deliver_outgoing_webhooks(sessions: sessionmaker[Session]) -> int:
    report = deliver_webhooks(sessions)
    return len(report.delivered) + len(report.failed) + len(report.dead)


def run_sla_clocks(sessions: sessionmaker[Session]) -> int:
    """SLA warnings and escalations, then automatic assignment of work freed meanwhile."""
    with sessions() as session:
        org_ids = list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
    result = run_clocks(sessions, org_ids)
    return result.warnings + result.breaches


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    run: Callable[[sessionmaker[Session]], int]  # returns how much work it did


# Everything a worker's sweep does, in order. Each job must be safe to run in any number of
# processes at once (claims with SKIP LOCKED, or idempotent writes).
PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("pipeline", process_all_organisations),
    PeriodicJob("sla", run_sla_clocks),
    PeriodicJob("outbox", deliver_outbox),
    PeriodicJob("webhooks", deliver_outgoing_webhooks),
]


def run_periodic_jobs(sessions: sessionmaker[Session] | None = None) -> dict[str, int]:
    """One sweep: every periodic job once. A failing job is logged and the others still run."""
    sessions = sessions or db.session_factory()
    done: dict[str, int] = {}
    for job in PERIODIC_JOBS:
        try:
            done[job.name] = job.run(sessions)
        except Exception:
            # The work stays pending in the database; the next sweep tries again.
            log.exception("periodic job failed", extra={"job": job.name})
    return done


class Sweeper:
    """Runs the periodic jobs every ``interval`` seconds in a thread; ``nudge`` runs one sooner."""

    def __init__(self, interval_seconds: float, *, name: str = "townhall-sweeper") -> None:
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._nudged = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        self._nudged.set()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._nudged.set()
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            done = run_periodic_jobs()
            if any(done.values()):
                log.info("sweep did work", extra={"work": done})
            self._nudged.wait(self.interval)
            self._nudged.clear()


# --------------------------------------------------------------------------- the broker

_broker: Any = None
_broker_lock = threading.Lock()
_local_sweeper: Sweeper | None = None
# Wake-up key → monotonic time until which its window (and so its delayed job) is known to be
# open: a delivery committed before then is seen by that job.
_known_windows: dict[str, float] = {}


def redis_enabled() -> bool:
    return bool(get_settings().redis_url)


def get_broker() -> Any:
    """The process's Dramatiq broker on Redis, with the wake-up actor declared on it."""
    global _broker
    if _broker is not None:  # every accepted delivery asks: no lock once it exists
        return _broker
    with _broker_lock:
        if _broker is None:
            _broker = _make_broker()
        return _broker


def _make_broker() -> Any:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.middleware import (
        AgeLimit,
        Callbacks,
        Pipelines,
        Retries,
        ShutdownNotifications,
        TimeLimit,
    )

    settings = get_settings()
    if not settings.redis_url:
        raise RuntimeError("TOWNHALL_REDIS_URL is not set")
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=settings.redis_namespace,
        heartbeat_timeout=settings.worker_heartbeat_timeout_ms,
        # Maintenance (requeueing a dead worker's jobs) on 1% of commands instead of 0.1%:
        # it is cheap, and a killed worker's jobs come back sooner.
        maintenance_chance=10_000,
        middleware=[
            AgeLimit(),
            TimeLimit(),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            # Exponential backoff from 1 s; after that the job is dead-lettered (the sweep
            # still finds its work in the database).
            Retries(max_retries=5, min_backoff=1_000, max_backoff=60_000),
        ],
    )
    dramatiq.set_broker(broker)

    def process_organisation_job(org_id: int) -> None:
        _work, out_of_time = process_organisation(db.session_factory(), org_id)
        if out_of_time:
            wake(org_id, force=True)

    dramatiq.actor(broker=broker, actor_name=ACTOR, queue_name=QUEUE, time_limit=10 * 60_000)(
        process_organisation_job
    )
    return broker


def set_local_sweeper(sweeper: Sweeper | None) -> None:
    """The embedded worker of this process, which ``wake`` nudges when there is no Redis."""
    global _local_sweeper
    _local_sweeper = sweeper


def wake(org_id: int, *, force: bool = False) -> None:
    """Tell the workers that organisation ``org_id`` has new work (call after commit).

    Debounced: the first wake-up in a window of ``TOWNHALL_WAKE_DEBOUNCE_MS`` per organisation
    sends one job, delayed to the end of the window, so it sees everything committed in the
    window; the others do nothing. 50,000 deliveries make a few hundred jobs, not 50,000.
    The process remembers until when a window it saw in Redis lasts, so the others do not even
    ask Redis: one round trip per window and process instead of one per delivery.
    """
    settings = get_settings()
    if not settings.redis_url:
        if _local_sweeper is not None:
            _local_sweeper.nudge()
        return
    broker = get_broker()
    window = settings.wake_debounce_ms
    if not force:
        key = f"{settings.redis_namespace}:wake:{org_id}"
        asked_at = time.monotonic()
        if _known_windows.get(key, 0.0) > asked_at:
            return
        pipe = broker.client.pipeline(transaction=False)
        pipe.set(key, b"1", nx=True, px=window)
        pipe.pttl(key)
        created, remaining_ms = pipe.execute()
        if remaining_ms > 0:
            # Measured from before the request, so never later than the key really expires.
            _known_windows[key] = asked_at + remaining_ms / 1000
        if not created:
            return
    broker.get_actor(ACTOR).send_with_options(args=(org_id,), delay=window)
