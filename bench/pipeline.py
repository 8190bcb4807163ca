"""Benchmark: the inbound pipeline on PostgreSQL + Redis with real processes.

1. Webhook: signed deliveries per second that ONE `townhall serve` process accepts (202),
   from 64 concurrent HTTP connections, with the CPU each side used (the load generator runs
   on the same machine and competes for its cores).
2. End to end, steady state: messages per second from stored delivery to routed conversation
   (ingest → understand → route) with 1, 2 and 3 `townhall worker` processes. The workers are
   started and have loaded their models before the backlog is committed; the clock runs from
   that commit until nothing is pending.

    .venv/bin/python bench/pipeline.py --deliveries 20000 --workers 1,2,3
    .venv/bin/python bench/pipeline.py --deliveries 5000 --workers ''      # webhook only

Deliveries are the demo airline's traffic (realistic texts on six platforms), one item each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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

# CPU time (user + system) of a process, from Linux's /proc; None where there is no /proc.
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def postgres_cpu_seconds() -> float:
    """Every PostgreSQL server process on this machine (the benchmark should run alone)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name)) or 0.0
            except OSError:
                continue
    return total


class CpuMeter:
    """Share of one core that each watched process, and PostgreSQL, used since ``start``."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes

    def start(self) -> None:
        self.started = time.perf_counter()
        self.own = time.process_time()
        self.before = {name: cpu_seconds(pid) or 0.0 for name, pid in self.processes.items()}
        self.postgres = postgres_cpu_seconds()

    def report(self) -> str:
        elapsed = time.perf_counter() - self.started
        used = {
            name: (cpu_seconds(pid) or 0.0) - self.before[name]
            for name, pid in self.processes.items()
        }
        used["load generator"] = time.process_time() - self.own
        used["PostgreSQL"] = postgres_cpu_seconds() - self.postgres
        return ", ".join(f"{name} {100 * seconds / elapsed:.0f}%" for name, seconds in used.items())


POSTGRES_ADMIN = os.environ.get(
    "TOWNHALL_BENCH_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TOWNHALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_PREFIX = os.environ.get("TOWNHALL_BENCH_DATABASE_PREFIX", "townhall_bench_")
SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Database:
    """A fresh PostgreSQL database with an organisation and one channel per platform."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:8]}"
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


def start(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    output = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "townhall", *args],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
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


async def post(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> tuple[int, bool]:
    """One HTTP/1.1 POST on a kept-alive connection: (status, whether the server keeps it)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
        + body
    )
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    await reader.readexactly(int(fields.get("content-length", "0")))
    return int(lines[0].split()[1]), fields.get("connection") != "close"


async def send(
    deliveries: list[tuple[str, bytes]], database: Database, port: int, concurrency: int
) -> int:
    """Send every delivery from ``concurrency`` kept-alive connections; how many got 202.

    A few lines of asyncio rather than an HTTP client library: on the same 2 cores, httpx
    spent about 9 ms of CPU per request and so measured itself, not the web process.
    """
    accepted = 0
    position = 0

    async def sender() -> None:
        nonlocal accepted, position
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while position < len(deliveries):
                platform, body = deliveries[position]
                position += 1
                _id, key, secret = database.channels[platform]
                status, keep = await post(
                    reader, writer, f"/hooks/{key}", body, signed_headers(secret, body)
                )
                accepted += status == 202
                if not keep:
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

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
        cpu = CpuMeter({"web process": web.pid})
        cpu.start()
        started = time.perf_counter()
        accepted = asyncio.run(send(deliveries, database, port, concurrency))
        elapsed = time.perf_counter() - started
        used = cpu.report()
        stored = database.count(select(func.count()).select_from(InboundEvent))
        print(
            f"webhook, 1 web process: {accepted:,} of {len(deliveries):,} accepted in "
            f"{elapsed:.1f} s = {accepted / elapsed:,.0f} deliveries/s ({stored:,} events stored)"
            f"; CPU (100% = one core): {used}",
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


def pending(database: Database) -> int:
    return (
        database.count(select(func.count()).where(InboundEvent.status == "pending"))
        + database.count(
            select(func.count()).where(
                Message.direction == "inbound", Message.understood_at.is_(None)
            )
        )
        + database.count(select(func.count()).where(Conversation.queue_id.is_(None)))
    )


def wait_ready(logs: list[Path], timeout: float = 300) -> None:
    """Until every worker has loaded its models and started taking work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all("worker started" in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.2)
    raise SystemExit("the workers did not start")


def bench_workers(rows: list[dict[str, Any]], workers: int, timeout: float) -> float:
    database = Database(rows)
    inbound = sum(1 for row in rows if row.get("direction", "inbound") == "inbound")
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    # INFO, so the bench sees "worker started" (after the models are loaded).
    env = {**environment(database, namespace), "TOWNHALL_LOG_LEVEL": "INFO"}
    logs = Path(tempfile.mkdtemp(prefix="townhall-bench-"))
    paths = [logs / f"worker{number}.log" for number in range(workers)]
    processes = [start(env, "worker", "--threads", "2", log=path) for path in paths]
    try:
        wait_ready(paths)
        cpu = CpuMeter({f"worker {n + 1}": process.pid for n, process in enumerate(processes)})
        store_backlog(database, rows)  # committed at once: the clock starts now
        cpu.start()
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pending(database):
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        used = cpu.report()
        done = database.count(select(func.count()).select_from(Message))
        print(
            f"end to end, {workers} worker process{'es' if workers > 1 else ''}: {done:,} messages "
            f"({inbound:,} inbound) ingested, understood and routed in {elapsed:.1f} s = "
            f"{done / elapsed:,.0f} messages/s (workers started and models loaded before the "
            f"backlog was committed); CPU (100% = one core): {used}",
            flush=True,
        )
        return done / elapsed
    finally:
        stop(processes, namespace)
        database.drop()
        shutil.rmtree(logs, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=50_000)
    parser.add_argument(
        "--workers", default="1,2,3", help="comma-separated worker counts ('' for none)"
    )
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
    for workers in (int(n) for n in args.workers.split(",") if n.strip()):
        bench_workers(rows, workers, args.timeout)


if __name__ == "__main__":
    main()
