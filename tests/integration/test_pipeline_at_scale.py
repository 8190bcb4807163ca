"""The whole inbound pipeline as it is deployed: 2 web processes, 3 workers, PostgreSQL, Redis.

About 2,000 signed deliveries arrive concurrently (with duplicates, bad signatures and
malformed bodies), a worker is SIGKILLed mid-run and restarted, and at the end every valid
message is stored once, understood, and its conversation routed exactly once; nothing
invalid is stored, nothing is left pending, and the broker's queues are empty. The scenario
lives in ``at_scale.py``; ``bench/pipeline_at_scale.py`` runs it at 50,000 deliveries.

Select it with ``-m integration``. It needs PostgreSQL and Redis; without them it is skipped,
except in CI, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import _drop_postgres_database, _fresh_postgres_database, _postgres_available
from integration import at_scale

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]

REDIS_URL = os.environ.get("TOWNHALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


def _require(available: bool, what: str) -> None:
    if not available:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required in CI but not reachable")
        pytest.skip(f"{what} not reachable")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[at_scale.Deployment]:
    _require(_postgres_available(), "PostgreSQL")
    _require(_redis_available(), "Redis")
    url = _fresh_postgres_database()
    deployment = at_scale.Deployment(
        url, f"townhall-test-{uuid.uuid4().hex[:8]}", REDIS_URL, tmp_path
    )
    try:
        yield deployment
    finally:
        deployment.close()
        _drop_postgres_database(url)


def test_two_web_and_three_worker_processes_process_every_delivery_exactly_once(
    deployment: at_scale.Deployment,
) -> None:
    at_scale.run(deployment, at_scale.Scenario())
