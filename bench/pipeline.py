"""Benchmark: the inbound pipeline on PostgreSQL + Redis with real processes.

1. Webhook: signed deliveries per second that ONE `townhall serve` process accepts (202),
   from 64 concurrent HTTP connections.
2. End to end: messages per second from accepted delivery to routed conversation with 1, 2
   and 3 `townhall worker` processes, each draining the same backlog of stored deliveries
   (ingest → understand → route).

    .venv/bin/python bench/pipeline.py --deliveries 50000 --workers 1,2,3

Deliveries are the demo airline's traffic (realistic texts on six platforms), one item each.
The load generator runs on the same machine and competes for its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from townhall import db, migrations
from townhall.channels.actions import do_create_channel_account
from townhall.channels.inbound import delivery_external_id, parse_delivery
from townhall.channels.models import InboundEvent
from townhall.channels.registry import get_connector
from townhall.conversations.models import Conversation, Message
from townhall.core.signing import signed_headers
from townhall.demo.generator import generate
from townhall.governance.setup import do_create_default_structure, get_or_create_organisation

POSTGRES_ADMIN = os.environ.get(
    "TOWNHALL_BENCH_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TOWNHALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Database:
    """A fresh PostgreSQL database with an organisation and one channel per platform."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.name = f"townhall_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()
        self.url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{self.name}"
        self.engine = db.make_engine(self.url)
        migrations.upgrade(self.engine)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self.channels: dict[str, tuple[int, str, str]] = {}  # platform -> (id, key, secret)
        with self.sessions() as session, session.begin():
            org, _ = get_or_create_organisation(session, "bench", "Bench Air")
            do_create_default_structure(session, org, agency_name="Bench Agency")
            self.org_id = org.id
            for platform in sorted({row["platform"] for row in rows}):
                account, secret = do_create_channel_account(
                    session, org_id=org.id, platform=platform, handle="benchair"
                )
                self.channels[platform] = (account.id, account.key, secret)

    def count(self, statement: Any) -> int:
        with self.sessions() as session:
            return int(session.scalar(statement) or 0)

    def drop(self) -> None:
        self.engine.dispose()
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()


def environment(database: Database, namespace: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "TOWNHALL_DATABASE_URL": database.url,
        "TOWNHALL_REDIS_URL": REDIS_URL,
        "TOWNHALL_REDIS_NAMESPACE": namespace,
        "TOWNHALL_EMBEDDED_WORKER": "false",
        "TOWNHALL_SWEEP_INTERVAL_SECONDS": "1",
        "TOWNHALL_LOG_LEVEL": "WARNING",
        "TOWNHALL_ENV": "development",
    }


def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "townhall", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(processes: list[subprocess.Popen[bytes]], namespace: str) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{namespace}:*"))
    if keys:
        client.delete(*keys)


def bodies(rows: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [(row["platform"], json.dumps({"items": [row]}).encode()) for row in rows]


async def send(
    deliveries: list[tuple[str, bytes]], database: Database, port: int, concurrency: int
) -> int:
    accepted = 0
    position = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def sender() -> None:
            nonlocal accepted, position
            while position < len(deliveries):
                platform, body = deliveries[position]
                position += 1
                _id, key, secret = database.channels[platform]
                response = await client.post(
                    f"http://127.0.0.1:{port}/hooks/{key}",
                    content=body,
                    headers=signed_headers(secret, body),
                )
                accepted += response.status_code == 202

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return accepted


def wait_healthy(port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"web process on port {port} did not come up")


def bench_webhook(rows: list[dict[str, Any]], concurrency: int) -> float:
    database = Database(rows)
    port = free_port()
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    web = start(environment(database, namespace), "serve", "--port", str(port))
    try:
        wait_healthy(port)
        deliveries = bodies(rows)
        started = time.perf_counter()
        accepted = asyncio.run(send(deliveries, database, port, concurrency))
        elapsed = time.perf_counter() - started
        stored = database.count(select(func.count()).select_from(InboundEvent))
        print(
            f"webhook, 1 web process: {accepted:,} of {len(deliveries):,} accepted in "
            f"{elapsed:.1f} s = {accepted / elapsed:,.0f} deliveries/s ({stored:,} events stored)",
            flush=True,
        )
        return accepted / elapsed
    finally:
        stop([web], namespace)
        database.drop()


def store_backlog(database: Database, rows: list[dict[str, Any]]) -> None:
    """The deliveries exactly as the webhook would have stored them (accepted, pending)."""
    now = datetime.now(UTC)
    events = []
    for platform, body in bodies(rows):
        channel_id, _key, _secret = database.channels[platform]
        items = parse_delivery(get_connector("fake"), platform, body)
        events.append(
            {
                "org_id": database.org_id,
                "channel_account_id": channel_id,
                "external_id": delivery_external_id(items),
                "body": body.decode(),
                "received_at": now,
                "status": "pending",
                "attempts": 0,
            }
        )
    with database.sessions() as session, session.begin():
        for start_at in range(0, len(events), 5000):
            session.execute(insert(InboundEvent), events[start_at : start_at + 5000])


def bench_workers(rows: list[dict[str, Any]], workers: int, timeout: float) -> float:
    database = Database(rows)
    inbound = sum(1 for row in rows if row.get("direction", "inbound") == "inbound")
    store_backlog(database, rows)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    env = environment(database, namespace)
    started = time.perf_counter()
    processes = [start(env, "worker", "--threads", "2") for _ in range(workers)]
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = (
                database.count(select(func.count()).where(InboundEvent.status == "pending"))
                + database.count(
                    select(func.count()).where(
                        Message.direction == "inbound", Message.understood_at.is_(None)
                    )
                )
                + database.count(select(func.count()).where(Conversation.queue_id.is_(None)))
            )
            if not pending:
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        done = database.count(select(func.count()).select_from(Message))
        print(
            f"end to end, {workers} worker process{'es' if workers > 1 else ''}: {done:,} messages "
            f"({inbound:,} inbound) ingested, understood and routed in {elapsed:.1f} s = "
            f"{done / elapsed:,.0f} messages/s (includes worker start-up and model loading)",
            flush=True,
        )
        return done / elapsed
    finally:
        stop(processes, namespace)
        database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=50_000)
    parser.add_argument("--workers", default="1,2,3", help="comma-separated worker counts")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=1800, help="per worker run, seconds")
    parser.add_argument("--skip-webhook", action="store_true")
    args = parser.parse_args()
    rows = generate(
        conversations=max(13, int(args.deliveries / 1.8)), end=datetime(2026, 11, 20, tzinfo=UTC)
    )[: args.deliveries]
    print(f"{len(rows):,} deliveries of the demo airline's traffic, one item each", flush=True)
    if not args.skip_webhook:
        bench_webhook(rows, args.concurrency)
    for workers in (int(n) for n in args.workers.split(",")):
        bench_workers(rows, workers, args.timeout)


if __name__ == "__main__":
    main()
