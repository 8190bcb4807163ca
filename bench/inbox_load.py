"""Benchmark: the inbox under concurrent load on a large PostgreSQL database (see seed_scale.py).

Runs the product's web app (``townhall serve``, no embedded worker) on the seeded database,
drives it with locust headless (bench/inbox_locustfile.py: agents, leads, agency agents and
an admin signing in, filtering the inbox, paging and opening conversations) and reports
requests/s and p50/p95/p99 of each page from locust's statistics. Meanwhile it times the
list page's data query alone (``list_inbox``, in this process) over the same filter mix for
every role, and reports its percentiles.

    pip install -e '.[bench]'
    python bench/seed_scale.py
    python bench/inbox_load.py [--users 20] [--duration 60] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, select

from townhall import db
from townhall.conversations.queries import InboxFilters, list_inbox
from townhall.governance.models import User
from townhall.routing.models import Queue

HERE = Path(__file__).parent
DEFAULT_URL = "postgresql+psycopg://root@127.0.0.1:5432/townhall_scale"
# The people whose inboxes the in-process timing opens: one or more of every role.
ROLE_EMAILS = {
    "agent": ("cs.agent@skyward.example", "risk@skyward.example", "marketing@skyward.example"),
    "lead": ("cs.lead@skyward.example",),
    "agency agent": ("agency1@brightdesk.example",),
    "admin": ("admin@skyward.example",),
}
LIST_TARGET_MS = 50.0
PAGE_TARGET_MS = 150.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


@dataclass
class QueryTimings:
    """Milliseconds per call of list_inbox, by filter kind."""

    by_kind: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, ms: float) -> None:
        self.by_kind.setdefault(kind, []).append(ms)

    def all_list(self) -> list[float]:
        return [ms for kind, values in self.by_kind.items() if kind != "search" for ms in values]


def filter_mix(rng: random.Random, queue_ids: list[int]) -> tuple[str, InboxFilters]:
    """One filter as people pick them, with the same weights as the locust users."""
    kind = rng.choices(
        ["everything", "status", "queue", "queue+status", "platform", "page 2-10", "search"],
        weights=[6, 3, 3, 2, 2, 3, 1],
    )[0]
    if kind == "status":
        status = rng.choice(["new", "open", "pending_customer", "resolved"])
        return kind, InboxFilters(status=status)
    if kind == "queue":
        return kind, InboxFilters(queue_id=rng.choice(queue_ids))
    if kind == "queue+status":
        return kind, InboxFilters(queue_id=rng.choice(queue_ids), status="new")
    if kind == "platform":
        return kind, InboxFilters(platform=rng.choice(["x", "facebook", "instagram", "reddit"]))
    if kind == "page 2-10":
        return kind, InboxFilters(page=rng.randint(2, 10))
    if kind == "search":
        return kind, InboxFilters(q=rng.choice(["refund", "baggage", "delayed", "SK4"]))
    return kind, InboxFilters()


def time_list_inbox(
    url: str, *, iterations: int, pause: float, stop: Callable[[], bool], seed: int = 3
) -> QueryTimings:
    """Time list_inbox for every role over the filter mix, as the web app calls it.

    It samples (``pause`` seconds between calls) rather than hammering: a tight loop would
    be a second load generator and take a whole core from the server under test.
    """
    engine = db.make_engine(url)
    db.use_engine(engine)
    sessions = db.session_factory()
    timings = QueryTimings()
    rng = random.Random(seed)
    with sessions() as session:
        emails = [e for group in ROLE_EMAILS.values() for e in group]
        users = list(session.scalars(select(User).where(User.email.in_(emails))))
        queue_ids = list(session.scalars(select(Queue.id).where(Queue.retired_at.is_(None))))
        session.expunge_all()
    if not users or not queue_ids:
        sys.exit(f"{url} has no demo organisation: run bench/seed_scale.py first")
    for index in range(iterations):
        if stop() and index >= 50:
            break
        user = users[index % len(users)]
        kind, filters = filter_mix(rng, queue_ids)
        with sessions() as session:
            started = time.perf_counter()
            list_inbox(session, user, filters)
            timings.add(kind, (time.perf_counter() - started) * 1000)
        time.sleep(pause)
    engine.dispose()
    return timings


EXPLAIN_FILTERS: dict[str, InboxFilters] = {
    "everything": InboxFilters(),
    "status=new": InboxFilters(status="new"),
    "status=resolved": InboxFilters(status="resolved"),
    "platform=reddit": InboxFilters(platform="reddit"),
    "page 10": InboxFilters(page=10),
    "search 'refund'": InboxFilters(q="refund"),
}


def explain(url: str, *, plans: bool) -> None:
    """EXPLAIN ANALYZE both statements of list_inbox (page ids, then rows) per role and filter."""
    engine = db.make_engine(url)
    db.use_engine(engine)
    captured: list[tuple[str, Any]] = []

    def capture(
        _conn: object, _cursor: object, statement: str, parameters: Any, *_args: object
    ) -> None:
        captured.append((statement, parameters))

    with db.session_factory()() as session:
        emails = [group[0] for group in ROLE_EMAILS.values()]
        users = list(session.scalars(select(User).where(User.email.in_(emails))))
        queue_id = session.scalar(select(Queue.id).where(Queue.name == "Customer care"))
        filters = {**EXPLAIN_FILTERS, "queue=Customer care": InboxFilters(queue_id=queue_id)}
        for user in users:
            for name, chosen in filters.items():
                captured.clear()
                event.listen(engine, "before_cursor_execute", capture)
                try:
                    list_inbox(session, user, chosen)
                finally:
                    event.remove(engine, "before_cursor_execute", capture)
                for label, (statement, parameters) in zip(
                    ("ids", "rows"), list(captured), strict=True
                ):
                    plan = [
                        row[0]
                        for row in session.connection().exec_driver_sql(
                            f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
                        )
                    ]
                    total = next(line for line in plan if line.startswith("Execution Time"))
                    print(f"{user.role:13s} {name:22s} {label:5s} {total}")
                    if plans:
                        print("\n".join("    " + line for line in plan))
    engine.dispose()


def wait_until_up(
    base: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 240
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"townhall serve exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit("townhall serve did not answer /healthz in time")


def locust_stats(csv_prefix: str) -> list[dict[str, str]]:
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"database (default {DEFAULT_URL})")
    parser.add_argument("--users", type=int, default=20, help="simulated people (default 20)")
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="people started per second")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument(
        "--iterations", type=int, default=2000, help="most list_inbox calls timed in-process"
    )
    parser.add_argument(
        "--pause", type=float, default=0.1, help="seconds between timed list_inbox calls"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="only EXPLAIN ANALYZE list_inbox per role and filter (add -v for the plans)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if args.explain:
        explain(args.url, plans=args.verbose)
        return
    base = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "TOWNHALL_DATABASE_URL": args.url,
        "TOWNHALL_EMBEDDED_WORKER": "false",
        "TOWNHALL_ENV": "development",
    }
    # The machine's 1-minute load average, before and after: how noisy the figures are.
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "serve.log"
        server_log = open(log_path, "wb")  # noqa: SIM115 - closed below
        locust: subprocess.Popen[bytes] | None = None
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "townhall.cli",
                "serve",
                "--port",
                str(args.port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(base, server, log_path)
            csv_prefix = str(Path(tmp) / "locust")
            locust = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "locust",
                    "-f",
                    str(HERE / "inbox_locustfile.py"),
                    "--headless",
                    "--host",
                    base,
                    "--users",
                    str(args.users),
                    "--spawn-rate",
                    str(args.spawn_rate),
                    "--run-time",
                    f"{args.duration}s",
                    "--csv",
                    csv_prefix,
                    "--only-summary",
                    # No --reset-stats: the locustfile starts the page statistics over itself
                    # once every person has signed in, and keeps the sign-ins' own figures.
                    "--loglevel",
                    "WARNING",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            # Time the data query alone while the load runs (after the people have signed in).
            time.sleep(min(args.duration / 4, args.users / args.spawn_rate + 2))
            done = threading.Event()
            result: dict[str, QueryTimings] = {}
            timer = threading.Thread(
                target=lambda: result.setdefault(
                    "q",
                    time_list_inbox(
                        args.url, iterations=args.iterations, pause=args.pause, stop=done.is_set
                    ),
                )
            )
            timer.start()
            _, locust_err = locust.communicate()
            done.set()
            timer.join()
            if locust.returncode not in (0, 1):  # 1: some requests failed, reported below
                sys.exit(f"locust failed ({locust.returncode}): {locust_err.decode()[-2000:]}")
        finally:
            if locust is not None and locust.poll() is None:
                locust.terminate()
                locust.wait(timeout=30)
            server.terminate()
            server.wait(timeout=30)
            server_log.close()
        stats = locust_stats(csv_prefix)
    report(args, stats, result["q"], load=(load_before, os.getloadavg()[0]))


def report(
    args: argparse.Namespace,
    stats: list[dict[str, str]],
    query: QueryTimings,
    *,
    load: tuple[float, float],
) -> None:
    pages = [
        {
            "page": row["Name"],
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
            "p99_ms": float(row["99%"]),
        }
        for row in stats
    ]
    inbox_times = [
        p
        for p in pages
        if p["page"].startswith("/inbox")
        and "search" not in p["page"]
        and "sign-in" not in p["page"]
    ]
    list_all = query.all_list()
    queries = [
        {
            "filter": kind,
            "calls": len(values),
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(percentile(values, 0.95), 1),
            "p99_ms": round(percentile(values, 0.99), 1),
        }
        for kind, values in sorted(query.by_kind.items())
    ] + [
        {
            "filter": "all but search",
            "calls": len(list_all),
            "p50_ms": round(statistics.median(list_all), 1),
            "p95_ms": round(percentile(list_all, 0.95), 1),
            "p99_ms": round(percentile(list_all, 0.99), 1),
        }
    ]
    summary = {
        "database": args.url,
        "users": args.users,
        "duration_s": args.duration,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average_before_after": [round(load[0], 1), round(load[1], 1)],
        "pages": pages,
        "list_inbox": queries,
        "targets": {"list_inbox_p95_ms": LIST_TARGET_MS, "page_p95_ms": PAGE_TARGET_MS},
        "inbox_page_p95_max_ms": max((p["p95_ms"] for p in inbox_times), default=0.0),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"\nlocust: {args.users} people, {args.duration} s, {args.workers} uvicorn workers; "
        f"load average {load[0]:.1f} before, {load[1]:.1f} after, on {os.cpu_count()} CPUs"
    )
    print(
        f"{'page':28s} {'requests':>8s} {'fail':>5s} {'req/s':>6s} {'p50':>6s} {'p95':>6s} {'p99':>6s}"
    )
    for p in pages:
        print(
            f"{p['page']:28s} {p['requests']:8d} {p['failures']:5d} {p['rps']:6.1f} "
            f"{p['p50_ms']:6.0f} {p['p95_ms']:6.0f} {p['p99_ms']:6.0f}"
        )
    print(
        f"\nlist_inbox alone, in-process, during the load (ms; target p95 < {LIST_TARGET_MS:.0f})"
    )
    print(f"{'filter':28s} {'calls':>8s} {'p50':>6s} {'p95':>6s} {'p99':>6s}")
    for q in queries:
        print(
            f"{q['filter']:28s} {q['calls']:8d} {q['p50_ms']:6.1f} {q['p95_ms']:6.1f} {q['p99_ms']:6.1f}"
        )


if __name__ == "__main__":
    main()
