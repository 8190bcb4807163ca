"""Benchmark: routing decisions at 100 rules (µs/decision) and a 100,000-conversation replay.

Run: .venv/bin/python bench/routing.py [--rules 100] [--messages 20000] [--conversations 100000]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

import yaml

from townhall.core.taxonomy import INTENTS, RISK_FLAGS
from townhall.routing.policy import default_policy_text, load_policy
from townhall.routing.rules import ContactFacts, MessageFacts, compile_policy, decide
from townhall.routing.simulation import Arrival, simulate

WORDS = (
    "refund",
    "order",
    "delivery",
    "password",
    "login",
    "error",
    "app",
    "crash",
    "price",
    "quote",
    "invoice",
    "account",
    "hacked",
    "store",
    "staff",
    "manager",
    "broken",
    "late",
    "again",
    "still",
    "useless",
    "thanks",
    "love",
    "great",
    "webinar",
    "database",
    "connect",
    "interview",
    "comment",
    "journalist",
    "protest",
    "boycott",
    "fake",
    "scam",
    "link",
    "card",
    "pin",
    "shipping",
)
LANGUAGES = ("en", "de", "fr", "es", "nl", "it")
PLATFORMS = ("mastodon", "bluesky", "x", "facebook", "instagram", "reddit")
ROUTINE = ["complaint", "support_request", "feedback_praise", "campaign_reply", "spam", "other"]


def generated_rules(count: int, rng: random.Random) -> list[dict[str, object]]:
    """Realistic rules: each looks at a few facts and tags, prioritises or keeps in-house."""
    rules: list[dict[str, object]] = []
    for index in range(count):
        when: dict[str, object] = {}
        if rng.random() < 0.6:
            when["kind"] = rng.sample(ROUTINE, rng.randint(1, 3))
        if rng.random() < 0.5:
            when["keywords"] = {"any": rng.sample(WORDS, rng.randint(1, 4))}
        if rng.random() < 0.3:
            when["language"] = rng.sample(LANGUAGES, 2)
        if rng.random() < 0.2:
            when["platform"] = rng.choice(PLATFORMS)
        if rng.random() < 0.3:
            when["sentiment"] = "negative"
            when["sentiment_score"] = {"at_most": round(rng.uniform(-0.9, -0.2), 2)}
        if rng.random() < 0.2:
            when["contact"] = {"followers_at_least": rng.choice([1000, 10000, 100000])}
        if rng.random() < 0.1:
            when["time"] = {"timezone": "Europe/Berlin", "days": ["sat", "sun"]}
        if rng.random() < 0.1:
            when["risk_flags"] = {"any": ["offensive", "legal_threat"]}
        then: dict[str, object] = {"tags": [f"t{index}"]}
        roll = rng.random()
        if roll < 0.3:
            then["priority"] = rng.choice(["high", "urgent"])
        elif roll < 0.45:
            then["agency_allowed"] = False
        elif roll < 0.55:
            then["queue"] = "Customer care"
        rules.append({"id": f"bench-{index}", "when": when, "then": then})
    return rules


def policy_text(rule_count: int, rng: random.Random) -> str:
    document = yaml.safe_load(default_policy_text())
    existing = document.get("rules", [])
    document["rules"] = existing + generated_rules(rule_count - len(existing), rng)
    return yaml.safe_dump(document, sort_keys=False)


def random_facts(rng: random.Random, start: datetime) -> MessageFacts:
    sentiment = rng.choice(["negative", "negative", "neutral", "positive"])
    score = {"negative": -rng.random(), "neutral": 0.0, "positive": rng.random()}[sentiment]
    flags = frozenset(rng.sample(RISK_FLAGS, 1)) if rng.random() < 0.05 else frozenset()
    return MessageFacts(
        intent=rng.choices(INTENTS, weights=[1, 1, 1, 1, 2, 5, 2, 20, 30, 8, 8, 10, 11])[0],
        risk_flags=flags,
        sentiment=sentiment,
        sentiment_score=score,
        language=rng.choice(LANGUAGES),
        platform=rng.choice(PLATFORMS),
        text=" ".join(rng.choices(WORDS, k=rng.randint(5, 40))),
        contact=ContactFacts(
            vip=rng.random() < 0.02,
            journalist=rng.random() < 0.01,
            employee=rng.random() < 0.01,
            followers=int(rng.paretovariate(1.2) * 50),
        ),
        received_at=start + timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
    )


def bench_decisions(rule_count: int, messages: int) -> float:
    rng = random.Random(7)
    policy = load_policy(policy_text(rule_count, rng))
    compiled = compile_policy(policy)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    facts = [random_facts(rng, start) for _ in range(messages)]
    for item in facts[:500]:  # warm up
        decide(item, compiled)
    began = time.perf_counter()
    for item in facts:
        decide(item, compiled)
    per_decision = (time.perf_counter() - began) / messages * 1e6
    print(f"decide: {len(policy.rules)} rules, {messages} messages, {per_decision:.1f} µs/decision")
    return per_decision


def bench_simulation(conversations: int) -> float:
    rng = random.Random(11)
    start = datetime(2025, 3, 3, tzinfo=UTC)
    queues = {"Customer care": 6, "Agency first line": 8, "Press": 1, "Sales leads": 2}
    names = list(queues)
    arrivals = [
        Arrival(
            at=start + timedelta(seconds=rng.uniform(0, 90 * 86400)),
            queue=rng.choices(names, weights=[40, 50, 2, 8])[0],
            handle_minutes=rng.expovariate(1 / 8),
        )
        for _ in range(conversations)
    ]
    # Day shifts on weekdays, a thinner evening and weekend crew.
    week = [(3 if day < 5 and 8 <= hour < 20 else 1) for day in range(7) for hour in range(24)]
    staffing = {name: [level * count // 3 + 1 for level in week] for name, count in queues.items()}
    sla = {"Customer care": 60.0, "Agency first line": 60.0, "Press": 30.0, "Sales leads": 60.0}
    began = time.perf_counter()
    report = simulate(arrivals, staffing, sla, timezone="Europe/London")
    elapsed = time.perf_counter() - began
    print(f"simulate: {report.conversations} conversations in {elapsed:.2f} s")
    for forecast in report.queues.values():
        print(
            f"  {forecast.queue}: volume {forecast.volume}, SLA {forecast.sla_attainment:.1%}, "
            f"avg wait {forecast.average_wait_minutes:.1f} min, "
            f"p90 {forecast.p90_wait_minutes:.1f} min, "
            f"staff-hours needed {forecast.staff_hours_needed:.0f} "
            f"of {forecast.staff_hours_scheduled:.0f} scheduled"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--conversations", type=int, default=100_000)
    args = parser.parse_args()
    bench_decisions(args.rules, args.messages)
    bench_simulation(args.conversations)


if __name__ == "__main__":
    main()
