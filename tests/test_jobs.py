"""Periodic jobs, the embedded worker's nudge, and debounced wake-ups on Redis."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import CountingUnderstander, item, make_channel, make_org
from townhall import jobs
from townhall.channels.models import InboundEvent
from townhall.config import get_settings
from townhall.worker import EmbeddedWorker

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_a_failing_periodic_job_does_not_stop_the_others(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    def broken(_sessions: sessionmaker[Session]) -> int:
        raise RuntimeError("boom")

    def counted(_sessions: sessionmaker[Session]) -> int:
        ran.append("counted")
        return 3

    monkeypatch.setattr(
        jobs,
        "PERIODIC_JOBS",
        [jobs.PeriodicJob("broken", broken), jobs.PeriodicJob("counted", counted)],
    )
    assert jobs.run_periodic_jobs(sessions) == {"counted": 3}
    assert ran == ["counted"]


def test_a_delivery_nudges_the_embedded_worker_instead_of_waiting_for_its_tick(
    sessions: sessionmaker[Session],
    understander: CountingUnderstander,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "redis_url", None)
    org = make_org(sessions)
    channel = make_channel(sessions, org.id)
    worker = EmbeddedWorker(interval_seconds=3600)
    worker.start()
    try:
        time.sleep(0.5)  # the first sweep finds nothing; the next tick is an hour away
        with sessions() as session, session.begin():
            channel.deliver(session, "1", json.dumps({"items": [item("1")]}))
        jobs.wake(org.id)
        deadline = time.monotonic() + 10
        status = "pending"
        while status == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
            with sessions() as session:
                status = session.scalars(select(InboundEvent.status)).one()
        assert status == "processed"
    finally:
        worker.stop()


@pytest.fixture
def redis_namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import os

    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("Redis is required in CI")
        pytest.skip("Redis not reachable")
    namespace = f"townhall-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(get_settings(), "redis_url", REDIS_URL)
    monkeypatch.setattr(get_settings(), "redis_namespace", namespace)
    monkeypatch.setattr(jobs, "_broker", None)
    yield namespace
    keys = list(client.scan_iter(f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    jobs._broker = None


def test_wake_ups_are_debounced_to_one_delayed_job_per_organisation(redis_namespace: str) -> None:
    import redis

    for _ in range(50):
        jobs.wake(1)
    jobs.wake(2)
    client = redis.Redis.from_url(REDIS_URL)
    delayed = client.hvals(f"{redis_namespace}:townhall.DQ.msgs")
    assert sorted(json.loads(message)["args"] for message in delayed) == [[1], [2]]
    # After the window another wake-up sends another job.
    time.sleep(get_settings().wake_debounce_ms / 1000 + 0.1)
    jobs.wake(1)
    assert client.hlen(f"{redis_namespace}:townhall.DQ.msgs") == 3


def test_a_window_opened_by_another_process_is_respected_and_then_remembered(
    redis_namespace: str,
) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    # Another web process's wake-up: its key, and its delayed job (not in this test).
    client.set(f"{redis_namespace}:wake:7", b"1", px=get_settings().wake_debounce_ms)
    jobs.wake(7)
    assert client.hlen(f"{redis_namespace}:townhall.DQ.msgs") == 0
    # Within that window this process does not even ask Redis again.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs.get_broker(), "client", None)
        for _ in range(20):
            jobs.wake(7)
    time.sleep(get_settings().wake_debounce_ms / 1000 + 0.1)
    jobs.wake(7)
    assert client.hlen(f"{redis_namespace}:townhall.DQ.msgs") == 1
