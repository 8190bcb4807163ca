"""Benchmark: latency (p50/p95) of the inbox list and conversation pages on the demo data."""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import threading
import time

import httpx
import uvicorn

os.environ.setdefault("TOWNHALL_EMBEDDED_WORKER", "false")

from sqlalchemy import select

from townhall import db, migrations
from townhall.conversations.models import Conversation
from townhall.demo.load import ADMIN_EMAIL, DEMO_PASSWORD, load_demo
from townhall.web import create_app


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{tmp}/bench.db")
        migrations.upgrade(engine)
        db.use_engine(engine)
        load_demo(db.session_factory(), conversations=3000)
        with db.session_factory()() as session:
            ids = list(session.scalars(select(Conversation.id)))
        server = uvicorn.Server(
            uvicorn.Config(create_app(), host="127.0.0.1", port=8765, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url="http://127.0.0.1:8765", timeout=30) as client:
            page = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
            client.post(
                "/login",
                data={"email": ADMIN_EMAIL, "password": DEMO_PASSWORD, "csrf_token": token},
            )
            rng = random.Random(1)
            pages = {
                "inbox list": lambda: "/inbox",
                "inbox list, page 20": lambda: "/inbox?page=20",
                "inbox search": lambda: "/inbox?q=refund",
                "conversation": lambda: f"/conversations/{rng.choice(ids)}",
            }
            for name, path in pages.items():
                client.get(path())  # warm up
                timings = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.get(path())
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.status_code
                print(
                    f"{name:22s} p50 {statistics.median(timings):6.1f} ms   p95 {percentile(timings, 0.95):6.1f} ms"
                )
        server.should_exit = True


if __name__ == "__main__":
    main()
