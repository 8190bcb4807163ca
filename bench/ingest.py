"""Benchmark: ingest 100,000 interchange items (store only) into SQLite and PostgreSQL; items/second."""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from townhall import db, migrations
from townhall.conversations.flows import ingest_file
from townhall.governance.setup import get_or_create_organisation

POSTGRES_ADMIN = "postgresql+psycopg://root@127.0.0.1:5432/test"


def make_file(path: Path, count: int) -> None:
    """Realistic mix: 60% thread roots, 40% replies (some before their parent), 20k authors."""
    rng = random.Random(1)
    roots: list[str] = []
    with path.open("w") as handle:
        for index in range(count):
            row = {
                "platform": rng.choice(["x", "facebook", "instagram", "mastodon"]),
                "external_id": f"b{index}",
                "kind": "mention",
                "author": {
                    "handle": f"user{rng.randrange(20_000)}",
                    "name": "A User",
                    "followers": rng.randrange(5000),
                },
                "text": "Flight delayed again and nobody at the desk can tell us anything, what now?",
                "created_at": f"2026-10-{1 + index % 28:02d}T{index % 24:02d}:{index % 60:02d}:00Z",
            }
            if roots and rng.random() < 0.4:
                row["in_reply_to"] = rng.choice(roots[-500:])
                row["kind"] = "reply"
                row["platform"] = "x"
            else:
                roots.append(row["external_id"])
            handle.write(json.dumps(row) + "\n")


def run(url: str, path: Path, count: int) -> float:
    engine = db.make_engine(url)
    migrations.upgrade(engine)
    db.use_engine(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as session, session.begin():
        org, _ = get_or_create_organisation(session, "bench", "Bench")
        org_id = org.id
    started = time.perf_counter()
    result = ingest_file(sessions, org_id, str(path))
    elapsed = time.perf_counter() - started
    assert result.summary.ingested == count, result.summary
    engine.dispose()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--make-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_file:
        make_file(args.make_file, args.count)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.jsonl"
        # Written by another process: `townhall ingest` starts in a fresh one, and building
        # 100,000 rows here first left this process's heap fragmented, slowing the import
        # timed next by about a tenth.
        subprocess.run(
            [sys.executable, __file__, "--make-file", str(path), "--count", str(args.count)],
            check=True,
        )
        rate = run(f"sqlite:///{tmp}/bench.db", path, args.count)
        print(
            f"sqlite:     {args.count:,} items in {args.count / rate:.1f} s = {rate:,.0f} items/s"
        )
        if args.skip_postgres:
            return
        name = f"townhall_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            rate = run(POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", path, args.count)
            print(
                f"postgresql: {args.count:,} items in {args.count / rate:.1f} s = {rate:,.0f} items/s"
            )
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
