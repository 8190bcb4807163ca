"""The whole inbound pipeline as it is deployed: 2 web processes, 3 workers, PostgreSQL, Redis.

About 2,000 signed deliveries arrive concurrently (with duplicates, bad signatures and
malformed bodies), a worker is SIGKILLed mid-run and restarted, and at the end every valid
message is stored once, understood, and its conversation routed exactly once; nothing
invalid is stored, nothing is left pending, and the broker's queues are empty.

Select it with ``-m integration``. It needs PostgreSQL and Redis; without them it is skipped,
except in CI, where it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from conftest import _drop_postgres_database, _fresh_postgres_database, _postgres_available
from factories import Channel, item, make_channel, make_org
from townhall import db, migrations
from townhall.channels.models import InboundEvent
from townhall.conversations.models import Conversation, Message
from townhall.core.signing import signed_headers
from townhall.routing.models import RoutingDecisionRecord

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]

SRC = Path(__file__).resolve().parents[2] / "src"
REDIS_URL = os.environ.get("TOWNHALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOTS = 600
REPLIES = 1100
DUPLICATES = 170  # ~10% of deliveries
BAD_SIGNATURES = 100  # ~5%
MALFORMED = 20


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    url: str
    namespace: str
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]]

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "townhall", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
            for path in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    _require(_postgres_available(), "PostgreSQL")
    _require(_redis_available(), "Redis")
    url = _fresh_postgres_database()
    namespace = f"townhall-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "TOWNHALL_DATABASE_URL": url,
        "TOWNHALL_REDIS_URL": REDIS_URL,
        "TOWNHALL_REDIS_NAMESPACE": namespace,
        "TOWNHALL_EMBEDDED_WORKER": "false",
        # Short enough that the killed worker's jobs come back within the test.
        "TOWNHALL_WORKER_HEARTBEAT_TIMEOUT_MS": "3000",
        "TOWNHALL_SWEEP_INTERVAL_SECONDS": "1",
        "TOWNHALL_LOG_FORMAT": "json",
        "TOWNHALL_LOG_LEVEL": "WARNING",
    }
    deployment = Deployment(url, namespace, env, tmp_path, {})
    try:
        yield deployment
    finally:
        for process in deployment.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in deployment.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        _drop_postgres_database(url)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    kind: str  # valid, bad_signature, malformed
    external_id: str | None = None


def _deliveries(channel: Channel, rng: random.Random) -> list[Delivery]:
    valid: list[Delivery] = []
    for number in range(ROOTS):
        row = item(f"root-{number}", handle=f"customer{number % 250}", minute=number % 60)
        valid.append(Delivery(json.dumps({"items": [row]}).encode(), "valid", row["external_id"]))
    for number in range(REPLIES):
        # Replies to a root (one level), so arrival order never forces two stored conversations
        # to merge; a reply that arrives before its root waits in the root's conversation.
        row = item(
            f"reply-{number}",
            handle=f"customer{rng.randrange(400)}",
            reply_to=f"root-{rng.randrange(ROOTS)}",
            minute=number % 60,
        )
        valid.append(Delivery(json.dumps({"items": [row]}).encode(), "valid", row["external_id"]))
    duplicates = rng.sample(valid, DUPLICATES)
    bad = [
        Delivery(json.dumps({"items": [item(f"forged-{n}")]}).encode(), "bad_signature")
        for n in range(BAD_SIGNATURES)
    ]
    malformed = [
        Delivery(body, "malformed")
        for body in (
            [b"{not json", b"[]", b'{"items": "x"}', b'{"items": []}']
            + [
                json.dumps({"items": [{**item(f"broken-{n}"), "created_at": "soon"}]}).encode()
                for n in range(MALFORMED - 4)
            ]
        )
    ]
    deliveries = valid + duplicates + bad + malformed
    rng.shuffle(deliveries)
    return deliveries


async def _send_all(
    deliveries: list[Delivery],
    channel: Channel,
    ports: list[int],
    on_half: Any,
) -> list[tuple[Delivery, int, dict[str, Any]]]:
    results: list[tuple[Delivery, int, dict[str, Any]]] = []
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)
    half = len(deliveries) // 2
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def sender(number: int) -> None:
            while not queue.empty():
                delivery = queue.get_nowait()
                secret = channel.secret if delivery.kind != "bad_signature" else "forged-secret"
                port = ports[number % len(ports)]
                for attempt in range(5):
                    try:
                        response = await client.post(
                            f"http://127.0.0.1:{port}/hooks/{channel.key}",
                            content=delivery.body,
                            headers=signed_headers(secret, delivery.body),
                        )
                        break
                    except httpx.TransportError:
                        # A sender retries a delivery whose answer it did not get (a reused
                        # keep-alive connection the server just closed); it may be a duplicate.
                        if attempt == 4:
                            raise
                        await asyncio.sleep(0.2)
                results.append((delivery, response.status_code, response.json()))
                if len(results) == half:
                    on_half()

        await asyncio.gather(*(sender(n) for n in range(32)))
    return results


def _wait_until(condition: Any, timeout: float, what: str, deployment: Deployment) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{deployment.tail()}")


def test_two_web_and_three_worker_processes_process_every_delivery_exactly_once(
    deployment: Deployment,
) -> None:
    import redis

    started = time.monotonic()
    engine = db.make_engine(deployment.url)
    migrations.upgrade(engine)
    sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
    org = make_org(sessions)
    channel = make_channel(sessions, org.id)

    ports = [_free_port(), _free_port()]
    for number, port in enumerate(ports):
        deployment.start(f"web{number}", "serve", "--port", str(port))
    for number in range(3):
        deployment.start(f"worker{number}", "worker", "--threads", "2")
    for port in ports:
        _wait_until(
            lambda port=port: _healthy(port), 120, f"web process on port {port}", deployment
        )

    deliveries = _deliveries(channel, random.Random(20261123))

    def kill_and_restart_a_worker() -> None:
        victim = deployment.processes["worker1"]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        deployment.start("worker1-restarted", "worker", "--threads", "2")

    print(f"processes up after {time.monotonic() - started:.1f} s")
    results = asyncio.run(_send_all(deliveries, channel, ports, kill_and_restart_a_worker))
    print(f"{len(results)} deliveries sent after {time.monotonic() - started:.1f} s")
    assert deployment.processes["worker1"].returncode == -signal.SIGKILL

    # Every delivery got the answer it deserved.
    by_kind: dict[str, Counter[int]] = {}
    accepted: Counter[str] = Counter()
    for delivery, status, body in results:
        by_kind.setdefault(delivery.kind, Counter())[status] += 1
        if delivery.kind == "valid":
            assert status == 202, body
            if body["status"] == "accepted":
                assert delivery.external_id is not None
                accepted[delivery.external_id] += 1
    assert by_kind["bad_signature"] == Counter({401: BAD_SIGNATURES})
    assert by_kind["malformed"] == Counter({400: MALFORMED})
    valid_ids = {d.external_id for d in deliveries if d.kind == "valid"}
    assert len(valid_ids) == ROOTS + REPLIES
    # Each accepted at most once (a delivery retried after a lost answer may only be "duplicate").
    assert set(accepted) <= valid_ids and set(accepted.values()) == {1}
    assert len(accepted) > 0.99 * len(valid_ids)

    def all_done() -> bool:
        with sessions() as session:
            return not (
                session.scalar(select(func.count()).where(InboundEvent.status == "pending"))
                or session.scalar(
                    select(func.count()).where(
                        Message.direction == "inbound", Message.understood_at.is_(None)
                    )
                )
                or session.scalar(select(func.count()).where(Conversation.queue_id.is_(None)))
                or session.scalar(select(func.count()).select_from(Message)) != len(valid_ids)
            )

    _wait_until(all_done, 90, "the pipeline to finish", deployment)
    print(f"pipeline finished after {time.monotonic() - started:.1f} s")

    with sessions() as session:
        events = dict(
            session.execute(
                select(InboundEvent.status, func.count()).group_by(InboundEvent.status)
            ).all()
        )
        assert events == {"processed": len(valid_ids)}
        stored = Counter(session.scalars(select(Message.external_id)).all())
        assert set(stored) == valid_ids and set(stored.values()) == {1}
        assert not session.scalar(select(func.count()).where(Message.understood_at.is_(None)))
        conversations = set(session.scalars(select(Conversation.id)).all())
        assert len(conversations) == ROOTS
        decisions = Counter(session.scalars(select(RoutingDecisionRecord.conversation_id)).all())
        assert set(decisions) == conversations and set(decisions.values()) == {1}

    def nothing_claimed() -> bool:
        # No open transaction holds a row of the pipeline's tables in THIS database (pg_locks
        # spans the cluster, where other test processes run). A sweep looking for work at
        # this instant holds its claim for a moment, so wait for it to end.
        with sessions() as session:
            return not session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) "
                    "AND c.relname IN ('inbound_event', 'message', 'conversation') "
                    "AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()"
                )
            )

    _wait_until(nothing_claimed, 10, "the workers' claims to end", deployment)

    client = redis.Redis.from_url(REDIS_URL)

    def broker_drained() -> bool:
        # Every job message is deleted from these hashes once acknowledged; a dead worker's
        # unacknowledged ones are requeued (after its heartbeat times out) and then processed.
        names = [f"{deployment.namespace}:townhall{suffix}.msgs" for suffix in ("", ".DQ", ".XQ")]
        return all(client.hlen(name) == 0 for name in names)

    _wait_until(broker_drained, 60, "the broker's queues to drain", deployment)
    print(f"broker drained after {time.monotonic() - started:.1f} s")
    assert not client.hlen(f"{deployment.namespace}:townhall.XQ.msgs")  # no dead-lettered job

    # Graceful shutdown on SIGTERM: every live process exits cleanly.
    for process in deployment.processes.values():
        if process.poll() is None:
            process.terminate()
    for name, process in deployment.processes.items():
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
        clean = -signal.SIGTERM if name.startswith("web") else 0
        if name != "worker1":
            assert process.wait(timeout=40) == clean, (
                f"{name} did not stop cleanly\n{deployment.tail()}"
            )
    engine.dispose()
    print(f"done after {time.monotonic() - started:.1f} s")


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
