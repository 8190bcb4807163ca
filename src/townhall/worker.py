"""Background processing: the embedded worker thread of the web process, and `townhall worker`.

Both run the same periodic jobs (``townhall.jobs``). A `townhall worker` process also
consumes wake-up jobs from Redis with Dramatiq, so work starts within moments of arriving
instead of at the next sweep.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType

from townhall import db
from townhall.config import get_settings
from townhall.jobs import Sweeper, get_broker, run_periodic_jobs, set_local_sweeper, shutting_down

log = logging.getLogger("townhall.worker")


def process_all_organisations() -> int:
    """One sweep of every periodic job (kept for callers of the embedded default)."""
    return sum(run_periodic_jobs(db.session_factory()).values())


class EmbeddedWorker(Sweeper):
    """The one-process default: the sweep in a daemon thread of the web process.

    A webhook delivery nudges it (``jobs.wake``), so work starts at once, not at the next tick.
    """

    def __init__(self, interval_seconds: float) -> None:
        super().__init__(interval_seconds, name="townhall-embedded-worker")

    def start(self) -> None:
        set_local_sweeper(self)
        super().start()

    def stop(self, timeout: float = 30) -> None:
        set_local_sweeper(None)
        super().stop(timeout)


def _load_models() -> None:
    """Load the understanding models before taking work, so "worker started" means ready and
    the first batch does not wait seconds for them (nor do jobs time out meanwhile)."""
    from townhall.understanding import get_understander

    started = time.perf_counter()
    get_understander().understand(["warming up: is my flight on time?"])
    log.info("models loaded", extra={"seconds": round(time.perf_counter() - started, 1)})


def run_worker(threads: int) -> None:
    """Run until SIGTERM or SIGINT: Dramatiq consumers (with Redis) and the periodic sweep.

    On SIGTERM the worker stops taking jobs, finishes the ones it runs, and returns the ones
    it had prefetched to the queue. On SIGKILL nothing is lost either: open transactions roll
    back, row claims vanish with the connection, and Redis gives the dead worker's
    unacknowledged jobs to others once its heartbeat is older than the timeout.
    """
    settings = get_settings()
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    _load_models()

    worker = None
    if settings.redis_url:
        import dramatiq

        worker = dramatiq.Worker(get_broker(), worker_threads=threads, worker_timeout=1000)
        worker.start()
    else:
        log.warning("TOWNHALL_REDIS_URL is not set: this worker only sweeps the database")
    sweeper = Sweeper(settings.sweep_interval_seconds)
    sweeper.start()
    log.info(
        "worker started",
        extra={"pid": os.getpid(), "threads": threads, "redis": bool(settings.redis_url)},
    )
    stopping.wait()
    shutting_down.set()
    if worker is not None:
        worker.stop(timeout=30_000)
    sweeper.stop()
    log.info("worker stopped", extra={"pid": os.getpid()})
