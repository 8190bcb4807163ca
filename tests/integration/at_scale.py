"""The scale-out scenario: web and worker processes, a flood of deliveries, a SIGKILLed worker.

One place for the integration test (about 2,000 deliveries, ``test_pipeline_at_scale.py``)
and the benchmark that runs it at 50,000 (``bench/pipeline_at_scale.py``). ``run`` raises
AssertionError, with the processes' last log lines, if any delivery is not processed exactly
once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from factories import Channel, item, make_channel, make_org
from townhall import db, migrations
from townhall.channels.models import InboundEvent
from townhall.conversations.models import Conversation, Message
from townhall.core.signing import signed_headers
from townhall.routing.models import RoutingDecisionRecord

SRC = Path(__file__).resolve().parents[2] / "src"
SENDERS = 32  # concurrent connections, spread over the web processes


@dataclass(frozen=True)
class Scenario:
    """How many deliveries of each kind, and how many processes receive and work them."""

    roots: int = 600
    replies: int = 1100
    duplicates: int = 170  # ~10% of deliveries
    bad_signatures: int = 100  # ~5%
    malformed: int = 20
    web_processes: int = 2
    workers: int = 3

    @classmethod
    def of_size(cls, deliveries: int) -> Scenario:
        """The same mix scaled to about ``deliveries`` deliveries."""
        scale = deliveries / cls().deliveries
        return cls(
            **{
                name: max(5, round(getattr(cls(), name) * scale))
                for name in ("roots", "replies", "duplicates", "bad_signatures", "malformed")
            }
        )

    @property
    def valid(self) -> int:
        return self.roots + self.replies

    @property
    def deliveries(self) -> int:
        return self.valid + self.duplicates + self.bad_signatures + self.malformed

    @property
    def scale(self) -> float:
        """Relative to the integration test's size, to stretch time limits."""
        return max(1.0, self.deliveries / Scenario().deliveries)


@dataclass
class Deployment:
    """The processes of one deployment, their logs, and its Redis namespace."""

    url: str
    namespace: str
    redis_url: str
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "TOWNHALL_DATABASE_URL": self.url,
            "TOWNHALL_REDIS_URL": self.redis_url,
            "TOWNHALL_REDIS_NAMESPACE": self.namespace,
            "TOWNHALL_EMBEDDED_WORKER": "false",
            # Short enough that the killed worker's jobs come back within the run.
            "TOWNHALL_WORKER_HEARTBEAT_TIMEOUT_MS": "3000",
            "TOWNHALL_SWEEP_INTERVAL_SECONDS": "1",
            "TOWNHALL_LOG_FORMAT": "json",
            "TOWNHALL_LOG_LEVEL": "WARNING",
        }

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

    def close(self) -> None:
        """Stop what still runs and delete the namespace's Redis keys (not the database)."""
        import redis

        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(f"{self.namespace}:*"))
        if keys:
            client.delete(*keys)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    kind: str  # valid, bad_signature, malformed
    external_id: str | None = None


def deliveries(scenario: Scenario, rng: random.Random) -> list[Delivery]:
    """Roots and one-level replies, some repeated, some forged, some broken; shuffled."""
    customers = max(10, scenario.roots * 2 // 3)
    valid: list[Delivery] = []
    for number in range(scenario.roots):
        row = item(f"root-{number}", handle=f"customer{number % customers}", minute=number % 60)
        valid.append(Delivery(json.dumps({"items": [row]}).encode(), "valid", row["external_id"]))
    for number in range(scenario.replies):
        # Replies to a root (one level), so arrival order never forces two stored conversations
        # to merge; a reply that arrives before its root waits in the root's conversation.
        row = item(
            f"reply-{number}",
            handle=f"customer{rng.randrange(customers)}",
            reply_to=f"root-{rng.randrange(scenario.roots)}",
            minute=number % 60,
        )
        valid.append(Delivery(json.dumps({"items": [row]}).encode(), "valid", row["external_id"]))
    duplicates = rng.sample(valid, scenario.duplicates)
    bad = [
        Delivery(json.dumps({"items": [item(f"forged-{n}")]}).encode(), "bad_signature")
        for n in range(scenario.bad_signatures)
    ]
    malformed = [
        Delivery(body, "malformed")
        for body in (
            [b"{not json", b"[]", b'{"items": "x"}', b'{"items": []}']
            + [
                json.dumps({"items": [{**item(f"broken-{n}"), "created_at": "soon"}]}).encode()
                for n in range(scenario.malformed - 4)
            ]
        )
    ]
    shuffled = valid + duplicates + bad + malformed
    rng.shuffle(shuffled)
    return shuffled


async def send_all(
    sent: list[Delivery], channel: Channel, ports: list[int], on_half: Callable[[], None]
) -> list[tuple[Delivery, int, dict[str, Any]]]:
    results: list[tuple[Delivery, int, dict[str, Any]]] = []
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in sent:
        queue.put_nowait(delivery)
    half = len(sent) // 2
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

        await asyncio.gather(*(sender(n) for n in range(SENDERS)))
    return results


def wait_until(condition: Callable[[], bool], timeout: float, what: str, d: Deployment) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{d.tail()}")


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(
    deployment: Deployment,
    scenario: Scenario,
    *,
    seed: int = 20261123,
    say: Callable[[str], None] = print,
) -> dict[str, float]:
    """Run the scenario on a fresh database; returns when each phase ended (s from the start)."""
    import redis

    started = time.monotonic()
    phases: dict[str, float] = {}

    def reached(phase: str) -> None:
        phases[phase] = time.monotonic() - started
        say(f"{phase} after {phases[phase]:.1f} s")

    engine = db.make_engine(deployment.url)
    migrations.upgrade(engine)
    sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
    org = make_org(sessions)
    channel = make_channel(sessions, org.id)

    ports = [free_port() for _ in range(scenario.web_processes)]
    for number, port in enumerate(ports):
        deployment.start(f"web{number}", "serve", "--port", str(port))
    for number in range(scenario.workers):
        deployment.start(f"worker{number}", "worker", "--threads", "2")
    for port in ports:
        wait_until(lambda port=port: healthy(port), 120, f"web process on port {port}", deployment)

    sent = deliveries(scenario, random.Random(seed))

    def kill_and_restart_a_worker() -> None:
        victim = deployment.processes["worker1"]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        deployment.start("worker1-restarted", "worker", "--threads", "2")

    reached("processes up")
    results = asyncio.run(send_all(sent, channel, ports, kill_and_restart_a_worker))
    reached(f"{len(results):,} deliveries sent")
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
    assert by_kind["bad_signature"] == Counter({401: scenario.bad_signatures})
    assert by_kind["malformed"] == Counter({400: scenario.malformed})
    valid_ids = {d.external_id for d in sent if d.kind == "valid"}
    assert len(valid_ids) == scenario.valid
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

    wait_until(all_done, 90 * scenario.scale, "the pipeline to finish", deployment)
    reached("pipeline finished")

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
        assert len(conversations) == scenario.roots
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

    wait_until(nothing_claimed, 10, "the workers' claims to end", deployment)

    client = redis.Redis.from_url(deployment.redis_url)

    def broker_drained() -> bool:
        # Every job message is deleted from these hashes once acknowledged; a dead worker's
        # unacknowledged ones are requeued (after its heartbeat times out) and then processed.
        names = [f"{deployment.namespace}:townhall{suffix}.msgs" for suffix in ("", ".DQ", ".XQ")]
        return all(client.hlen(name) == 0 for name in names)

    wait_until(broker_drained, 60, "the broker's queues to drain", deployment)
    reached("broker drained")
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
    reached("done")
    return phases
