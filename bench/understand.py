"""Benchmark: understanding throughput on real customer messages (batch msgs/s, single-message ms)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from townhall.understanding import corpora
from townhall.understanding.understander import get_understander


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1] / ".." / "shared" / "data"
    )
    parser.add_argument("-n", type=int, default=20_000, help="messages in the batch run")
    parser.add_argument("--singles", type=int, default=200, help="messages timed one by one")
    args = parser.parse_args()
    if not (args.data / "twacs_airlines" / "airlines_raw.csv").is_file():
        sys.exit(f"no twacs_airlines data under {args.data}")
    texts = corpora.twacs_first_messages(args.data, limit=args.n)
    started = time.perf_counter()
    understander = get_understander()
    understander.understand(["warm up"])
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    results = understander.understand(texts)
    batch_s = time.perf_counter() - started

    singles = []
    for text in texts[: args.singles]:
        t0 = time.perf_counter()
        understander.understand([text])
        singles.append((time.perf_counter() - t0) * 1000)
    singles.sort()
    intents: dict[str, int] = {}
    for r in results:
        intents[r.intent] = intents.get(r.intent, 0) + 1
    print(
        json.dumps(
            {
                "messages": len(texts),
                "load_seconds": round(load_s, 2),
                "batch_seconds": round(batch_s, 2),
                "messages_per_second": round(len(texts) / batch_s, 1),
                "single_ms_median": round(statistics.median(singles), 2),
                "single_ms_p95": round(singles[int(len(singles) * 0.95) - 1], 2),
                "single_ms_max": round(singles[-1], 2),
                "intent_mix": dict(sorted(intents.items(), key=lambda kv: -kv[1])),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
