"""Background processing: the embedded worker thread that understands and routes new messages."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from townhall import db
from townhall.governance.models import Organisation
from townhall.inbox.outbox import deliver_pending
from townhall.integrations.delivery import deliver_webhooks
from townhall.pipeline import process_pending
from townhall.routing.flows import run_clocks

log = logging.getLogger("townhall.worker")


def process_all_organisations() -> int:
    """One pass over every organisation: understand, route, SLA clocks, send due replies and webhooks.

    Returns conversations routed.
    """
    sessions = db.session_factory()
    with sessions() as session:
        org_ids = list(session.scalars(select(Organisation.id)))
    routed = sum(process_pending(sessions, org_id).routed for org_id in org_ids)
    deliver_pending(sessions)
    deliver_webhooks(sessions)
    run_clocks(sessions, org_ids)
    return routed


class EmbeddedWorker:
    """Runs the pipeline every few seconds in a daemon thread (the one-process default)."""

    def __init__(self, interval_seconds: float) -> None:
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="townhall-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                routed = process_all_organisations()
                if routed:
                    log.info("embedded worker routed %d conversations", routed)
            except Exception:
                # A failed pass is retried on the next tick: the work stays pending in the database.
                log.exception("embedded worker pass failed")
            self._stop.wait(self.interval)
