"""Benchmark: the scale-out integration test at full size, 50,000 deliveries.

2 `townhall serve` and 3 `townhall worker` processes on a fresh PostgreSQL database and a
private Redis namespace; 50,000 signed deliveries from 32 concurrent connections (10%
duplicates, 5% bad signatures, 1% malformed); one worker SIGKILLed halfway and restarted.
Then every valid message must be stored once, understood and routed once, nothing invalid
stored, nothing pending or claimed, the broker's queues empty, every process stopped cleanly.
The scenario and its checks are the integration test's (tests/integration/at_scale.py).

    flock -x /tmp/bench.lock .venv/bin/python bench/pipeline_at_scale.py --deliveries 50000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the scenario is the integration test's

from integration import at_scale  # noqa: E402

POSTGRES_ADMIN = os.environ.get(
    "TOWNHALL_BENCH_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TOWNHALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_PREFIX = os.environ.get("TOWNHALL_BENCH_DATABASE_PREFIX", "townhall_bench_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=50_000)
    parser.add_argument("--keep-logs", action="store_true", help="print where the logs are")
    args = parser.parse_args()
    scenario = at_scale.Scenario.of_size(args.deliveries)
    print(
        f"{scenario.deliveries:,} deliveries: {scenario.valid:,} valid ({scenario.roots:,} "
        f"threads), {scenario.duplicates:,} duplicates, {scenario.bad_signatures:,} bad "
        f"signatures, {scenario.malformed:,} malformed; {scenario.web_processes} web and "
        f"{scenario.workers} worker processes",
        flush=True,
    )
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    logs = Path(tempfile.mkdtemp(prefix="townhall-at-scale-"))
    deployment = at_scale.Deployment(
        POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}",
        f"bench-{uuid.uuid4().hex[:8]}",
        REDIS_URL,
        logs,
    )
    started = time.monotonic()
    try:
        phases = at_scale.run(deployment, scenario, say=lambda line: print(line, flush=True))
        sending = phases[f"{scenario.deliveries:,} deliveries sent"] - phases["processes up"]
        print(
            f"PASSED: every delivery processed exactly once in {time.monotonic() - started:.0f} s "
            f"({scenario.deliveries / sending:,.0f} deliveries/s accepted by "
            f"{scenario.web_processes} web processes; the pipeline finished "
            f"{phases['pipeline finished'] - phases[f'{scenario.deliveries:,} deliveries sent']:.0f}"
            " s after the last delivery)",
            flush=True,
        )
    except AssertionError as exc:
        print(f"FAILED after {time.monotonic() - started:.0f} s: {exc}", flush=True)
        raise SystemExit(1) from exc
    finally:
        deployment.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if args.keep_logs:
            print(f"logs: {logs}")


if __name__ == "__main__":
    main()
