"""What-if replay and policy comparison."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from townhall.routing.policy import default_policy, default_policy_text, load_policy
from townhall.routing.rules import ContactFacts, MessageFacts, decide
from townhall.routing.simulation import Arrival, compare, simulate

MONDAY = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)


def test_one_agent_serves_first_come_first_served() -> None:
    arrivals = [Arrival(MONDAY + timedelta(hours=9), "Care", 10) for _ in range(3)]
    report = simulate(arrivals, {"Care": 1}, {"Care": 15})
    care = report.queues["Care"]
    assert care.volume == 3
    assert care.average_wait_minutes == pytest.approx(10)
    assert care.p90_wait_minutes == pytest.approx(20)
    assert care.sla_attainment == pytest.approx(2 / 3)
    assert care.staff_hours_needed == pytest.approx(0.5 / 0.85)


def test_an_arrival_s_own_sla_target_wins() -> None:
    arrivals = [
        Arrival(MONDAY, "Care", 10, sla_minutes=5),
        Arrival(MONDAY, "Care", 10, sla_minutes=30),
    ]
    care = simulate(arrivals, {"Care": 1}, {"Care": 1}).queues["Care"]
    assert care.sla_attainment == pytest.approx(1.0)


def test_staffing_per_hour_of_week_delays_early_arrivals() -> None:
    week = [1 if 8 <= hour % 24 < 18 else 0 for hour in range(168)]
    arrivals = [Arrival(MONDAY + timedelta(hours=7, minutes=30), "Care", 5)]
    care = simulate(arrivals, {"Care": week}, {"Care": 60}).queues["Care"]
    assert care.average_wait_minutes == pytest.approx(30)
    assert care.sla_attainment == 1.0


def test_staffing_hours_follow_the_local_clock() -> None:
    week = [1 if 8 <= hour % 24 < 18 else 0 for hour in range(168)]
    # 07:30 UTC is 08:30 in London in June: the agent is already on shift.
    arrivals = [Arrival(MONDAY + timedelta(hours=7, minutes=30), "Care", 5)]
    report = simulate(arrivals, {"Care": week}, {"Care": 60}, timezone="Europe/London")
    assert report.queues["Care"].average_wait_minutes == 0


def test_a_queue_nobody_staffs_is_unanswered() -> None:
    report = simulate([Arrival(MONDAY, "Night", 5)], {"Night": 0}, {"Night": 60})
    assert report.queues["Night"].unanswered == 1
    assert report.queues["Night"].sla_attainment == 0


def test_missing_staffing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no staffing"):
        simulate([Arrival(MONDAY, "Care", 5)], {}, {})


def test_replays_100k_conversations_quickly() -> None:
    rng = random.Random(5)
    arrivals = [
        Arrival(
            MONDAY + timedelta(seconds=rng.uniform(0, 60 * 86400)),
            rng.choice(["Care", "Agency", "Press"]),
            rng.expovariate(1 / 6),
        )
        for _ in range(100_000)
    ]
    # (How fast, bench/routing.py measures: 0.3 s for 100,000 conversations.)
    report = simulate(arrivals, {"Care": 4, "Agency": 4, "Press": 2}, {"Care": 60})
    assert report.conversations == 100_000


def test_compare_counts_moves_between_agency_and_in_house() -> None:
    current = default_policy()
    document = yaml.safe_load(default_policy_text())
    document["kinds"]["support_request"]["agency_allowed"] = False
    document["queues"][-1]["kinds"].remove("support_request")
    document["queues"][6]["kinds"].append("support_request")
    draft = load_policy(yaml.safe_dump(document, sort_keys=False))
    noon = datetime(2025, 6, 2, 12, tzinfo=UTC)
    facts = [MessageFacts(intent="support_request", received_at=noon)] * 3 + [
        MessageFacts(intent="press_inquiry", received_at=noon, contact=ContactFacts(vip=True))
    ]
    comparison = compare([decide(f, current) for f in facts], [decide(f, draft) for f in facts])
    assert comparison.to_in_house == {"support_request": 3}
    assert comparison.to_agency == {}
    assert comparison.unchanged == 1
    assert [(m.kind, m.before, m.after, m.count) for m in comparison.queue_moves] == [
        ("support_request", "Agency first line", "Customer care", 3)
    ]
    assert "support_request: 3 now stay in-house" in comparison.lines()
