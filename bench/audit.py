"""Benchmark: `townhall audit` end to end on airline customer-support threads (TwACS).

Converts the first N threads of ../shared/data/twacs_airlines/airlines_raw.csv to the
interchange format in a temporary folder — the customer's first tweet of each thread and,
unless --first-only, the customer's later turns as replies in the same thread — and times
`townhall audit FILE --report --json` as a separate process. The data has no times, so
each thread gets a plausible one: four weeks, busier by day and on weekdays, seeded.
The data is licensed for non-commercial research: it is read here and never shipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
START = datetime(2017, 10, 2, tzinfo=UTC)  # a Monday, when the threads were collected
# Relative arrivals per hour of day and per weekday (Monday first) of an airline's inbox.
HOUR_WEIGHTS = (2, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 9, 9, 9, 9, 9, 10, 10, 9, 8, 7, 6, 4, 3)
DAY_WEIGHTS = (12, 11, 11, 11, 12, 9, 10)
_CUSTOMER = re.compile(r"<cust__\s*(.*?)\s*__cust>", re.S)


def _clean(text: str) -> str:
    text = text.replace("__company__", "@airline").replace("__cust__", "@customer")
    return " ".join(text.split())


def convert(source: Path, target: Path, threads: int, first_only: bool, seed: int) -> int:
    """Write ``threads`` threads as JSON Lines; returns the number of messages written."""
    csv.field_size_limit(10_000_000)
    rng = random.Random(seed)
    days = list(range(28))
    day_weights = [DAY_WEIGHTS[day % 7] for day in days]
    written, seen = 0, set()
    with (
        source.open(encoding="utf-8", newline="") as handle,
        target.open("w", encoding="utf-8") as out,
    ):
        for row in csv.DictReader(handle):
            if len(seen) >= threads:
                break
            # A few threads appear twice in the file; each counts once.
            if row["first_tweet_id"] in seen:
                continue
            seen.add(row["first_tweet_id"])
            turns = [_clean(t) for t in _CUSTOMER.findall(row["first_utterance"])]
            if not first_only:
                turns += [_clean(t) for t in _CUSTOMER.findall(row["context"])]
            turns = [t for t in turns if t] or [_clean(row["first_utterance"]) or "(empty)"]
            day = rng.choices(days, day_weights)[0]
            hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
            at = START + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
            parent = None
            for turn, text in enumerate(turns):
                external_id = f"{row['first_tweet_id']}-{turn}"
                item: dict[str, Any] = {
                    "platform": "x",
                    "external_id": external_id,
                    "kind": "reply" if parent else "mention",
                    "author": {"handle": f"customer{row['first_tweet_id']}"},
                    "text": text,
                    "created_at": at.isoformat().replace("+00:00", "Z"),
                }
                if parent:
                    item["in_reply_to"] = parent
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
                written += 1
                parent = external_id
                # The airline answers in between; the customer's next turn follows later.
                at += timedelta(minutes=rng.randint(5, 90))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("-n", "--threads", type=int, default=20_000)
    parser.add_argument("--first-only", action="store_true", help="only each thread's first tweet")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="copy the report and JSON into this folder")
    args = parser.parse_args()
    source = args.data / "twacs_airlines" / "airlines_raw.csv"
    if not source.is_file():
        sys.exit(f"no twacs_airlines data under {args.data}")
    townhall = Path(sys.executable).with_name("townhall")
    command = [str(townhall)] if townhall.exists() else [sys.executable, "-m", "townhall.cli"]
    with tempfile.TemporaryDirectory(prefix="townhall-audit-") as folder:
        sample = Path(folder) / "twacs.jsonl"
        started = time.perf_counter()
        messages = convert(source, sample, args.threads, args.first_only, args.seed)
        convert_s = time.perf_counter() - started
        report, data = Path(folder) / "report.html", Path(folder) / "report.json"
        started = time.perf_counter()
        subprocess.run(
            [*command, "audit", str(sample), "--report", str(report), "--json", str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        audit_s = time.perf_counter() - started
        result = json.loads(data.read_text(encoding="utf-8"))
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / "twacs-audit.html").write_bytes(report.read_bytes())
            (args.keep / "twacs-audit.json").write_bytes(data.read_bytes())
        print(
            json.dumps(
                {
                    "threads": args.threads,
                    "messages": messages,
                    "convert_seconds": round(convert_s, 2),
                    "audit_seconds": round(audit_s, 2),
                    "report_bytes": report.stat().st_size,
                    "conversations": result["mix"]["conversations"],
                    "lead": result["model"]["lead"]["subject"],
                    "agency_takes": [d["subject"] for d in result["model"]["agency_takes"]],
                    "mix": {k["intent"]: k["count"] for k in result["mix"]["overall"]},
                },
                indent=2,
            )
        )
        print(f"townhall audit on {args.threads:,} threads: {audit_s:.1f} s")


if __name__ == "__main__":
    main()
