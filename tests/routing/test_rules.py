"""Routing decisions: properties over random policies and messages, and worked examples."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.strategies import message_facts, policies
from townhall.routing.policy import Policy, default_policy, default_policy_text, load_policy
from townhall.routing.rules import (
    PRIORITY_RANK,
    ContactFacts,
    MessageFacts,
    RoutingDecision,
    compile_policy,
    decide,
)

NOON = datetime(2025, 6, 2, 12, tzinfo=UTC)  # a Monday

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def involved_kinds(policy: Policy, facts: MessageFacts) -> list[str]:
    intent = facts.intent if facts.intent in policy.kinds else "other"
    return [intent, *(flag for flag in facts.risk_flags if flag in policy.kinds)]


def check_one_existing_queue(policy: Policy, decision: RoutingDecision) -> None:
    queue = policy.queue(decision.queue)
    assert decision.queue_team == queue.team
    assert decision.queue_is_agency == queue.is_agency
    assert decision.kind in policy.kinds
    assert decision.business_hours == policy.team(queue.team).hours


def check_in_house(policy: Policy, facts: MessageFacts, decision: RoutingDecision) -> None:
    if any(not policy.kinds[kind].agency_allowed for kind in involved_kinds(policy, facts)):
        assert not decision.agency_allowed
    if decision.queue_is_agency or (
        decision.assign_to_team and policy.team(decision.assign_to_team).is_agency
    ):
        assert decision.agency_allowed
    # A rule may only narrow: never more access than the decided kind's own policy.
    assert decision.agency_allowed <= policy.kinds[decision.kind].agency_allowed


def check_restricted(policy: Policy, facts: MessageFacts, decision: RoutingDecision) -> None:
    if any(policy.kinds[kind].restricted for kind in involved_kinds(policy, facts)):
        assert decision.restricted
    if decision.restricted:
        assert not decision.agency_allowed
        assert not decision.queue_is_agency
        assert decision.queue_team == decision.owner_department
        assert decision.contributing_departments == ()
        assert not decision.auto_answer_allowed
        assert all(e.to == decision.owner_department for e in decision.escalations)
        if decision.assign_to_team is not None:
            assert decision.assign_to_team == decision.owner_department


def check_explained(policy: Policy, facts: MessageFacts, decision: RoutingDecision) -> None:
    assert decision == decide(facts, compile_policy(policy))
    assert decision.explain()
    assert PRIORITY_RANK[decision.priority] >= PRIORITY_RANK[policy.kinds[decision.kind].priority]
    for rule_id in decision.matched_rules:
        assert any(reason.ref == rule_id for reason in decision.reasons)


@PROPERTY
@given(policies(), st.lists(message_facts(), min_size=1, max_size=25))
def test_routing_properties_over_random_policies_and_messages(
    policy: Policy, messages: list[MessageFacts]
) -> None:
    """Exactly one existing queue; in-house stays in-house; restricted stays with its owner."""
    for facts in messages:
        decision = decide(facts, policy)
        check_one_existing_queue(policy, decision)
        check_in_house(policy, facts, decision)
        check_restricted(policy, facts, decision)
        check_explained(policy, facts, decision)


def test_a_threat_flag_on_a_complaint_goes_to_risk_restricted() -> None:
    facts = MessageFacts(
        intent="complaint", risk_flags=frozenset({"threat"}), received_at=NOON, sentiment="negative"
    )
    decision = decide(facts, default_policy())
    assert (decision.kind, decision.owner_department, decision.queue) == (
        "threat",
        "Risk",
        "Risk alerts",
    )
    assert decision.restricted and not decision.agency_allowed
    assert "risk flag threat takes precedence over intent complaint" in decision.explain()


def test_a_rule_keeping_support_in_house_falls_back_to_the_owner_queue() -> None:
    facts = MessageFacts(intent="support_request", text="My account got HACKED", received_at=NOON)
    decision = decide(facts, default_policy())
    assert decision.matched_rules == ("account-security",)
    assert (decision.queue, decision.agency_allowed, decision.priority) == (
        "Customer care",
        False,
        "high",
    )
    assert not decision.auto_answer_allowed
    assert "kept in-house instead of agency queue Agency first line" in decision.explain()


def test_keyword_phrases_match_whole_words_case_insensitively() -> None:
    policy = default_policy()
    phrase = MessageFacts(intent="support_request", text="Account  Compromised!!", received_at=NOON)
    assert "account-security" in decide(phrase, policy).matched_rules
    partial = MessageFacts(intent="support_request", text="fraudulent? no", received_at=NOON)
    assert "account-security" not in decide(partial, policy).matched_rules


def test_journalist_and_influential_negative_escalations() -> None:
    facts = MessageFacts(
        intent="complaint",
        sentiment="negative",
        sentiment_score=-0.9,
        contact=ContactFacts(journalist=True, followers=50_000),
        received_at=NOON,
    )
    decision = decide(facts, default_policy())
    assert [(e.to, e.reason) for e in decision.escalations] == [
        ("PR", "journalist"),
        ("PR", "influential_negative"),
    ]
    assert decision.breach_escalation_to == "Customer Service"
    assert "journalist" in decision.tags


def _policy_with_rules(rules: list[dict[str, object]]) -> Policy:
    document = yaml.safe_load(default_policy_text())
    document["rules"] = rules
    return load_policy(yaml.safe_dump(document, sort_keys=False))


def test_time_window_wraps_past_midnight_in_its_timezone() -> None:
    policy = _policy_with_rules(
        [
            {
                "id": "friday-night",
                "when": {
                    "time": {
                        "timezone": "America/New_York",
                        "days": ["fri"],
                        "hours": "22:00-06:00",
                    }
                },
                "then": {"tags": ["night"]},
            }
        ]
    )
    # Saturday 03:00 in New York (07:00 UTC) belongs to Friday's night window.
    saturday_night = MessageFacts(intent="other", received_at=datetime(2025, 6, 7, 7, tzinfo=UTC))
    assert decide(saturday_night, policy).tags == ("night",)
    # Sunday 03:00 in New York belongs to Saturday's window, which is not listed.
    sunday_night = MessageFacts(intent="other", received_at=datetime(2025, 6, 8, 7, tzinfo=UTC))
    assert decide(sunday_night, policy).tags == ()


def test_rule_queue_is_refused_for_a_restricted_conversation() -> None:
    policy = _policy_with_rules(
        [{"id": "vip-desk", "when": {"contact": {"vip": True}}, "then": {"queue": "Customer care"}}]
    )
    facts = MessageFacts(
        intent="employee_conduct", contact=ContactFacts(vip=True), received_at=NOON
    )
    decision = decide(facts, policy)
    assert decision.queue == "HR alerts"
    assert "queue Customer care not used: the conversation is restricted to HR" in (
        decision.explain()
    )


def test_stop_ends_rule_evaluation() -> None:
    policy = _policy_with_rules(
        [
            {"id": "first", "stop": True, "when": {"kind": "other"}, "then": {"tags": ["a"]}},
            {"id": "second", "then": {"tags": ["b"]}},
        ]
    )
    assert decide(MessageFacts(intent="other", received_at=NOON), policy).tags == ("a",)
    assert decide(MessageFacts(intent="spam", received_at=NOON), policy).tags == ("b",)


def test_unknown_intent_is_routed_as_other() -> None:
    decision = decide(MessageFacts(intent="weather", received_at=NOON), default_policy())
    assert decision.kind == "other"
    assert decision.to_dict()["queue"] == decision.queue


def test_every_matching_rule_of_a_hundred_applies_in_order() -> None:
    """At 100 rules each decision carries exactly the tags of the rules it matches.

    (How fast that is, bench/routing.py measures: a timed assertion here failed whenever
    the machine was busy.)
    """
    rng = random.Random(3)
    words = ["refund", "order", "late", "password", "app", "crash", "thanks", "price", "again"]
    rules = [
        {
            "id": f"r{i}",
            "when": {
                "kind": rng.sample(["complaint", "support_request", "other", "spam"], 2),
                "keywords": {"any": rng.sample(words, 2)},
                "language": ["en", "de"],
            },
            "then": {"tags": [f"t{i}"], "priority": "high"},
        }
        for i in range(100)
    ]
    compiled = compile_policy(_policy_with_rules(rules))
    facts = [
        MessageFacts(
            intent=rng.choice(["complaint", "support_request", "other", "spam", "sales_lead"]),
            text=" ".join(rng.choices(words, k=20)),
            language=rng.choice(["en", "de", "fr"]),
            received_at=NOON,
        )
        for _ in range(2000)
    ]
    for item in facts:
        words = set(item.text.split())
        expected = [
            rule["then"]["tags"][0]  # type: ignore[index]
            for rule in rules
            if item.intent in rule["when"]["kind"]  # type: ignore[index,operator]
            and words & set(rule["when"]["keywords"]["any"])  # type: ignore[index,call-overload]
            and item.language in rule["when"]["language"]  # type: ignore[index,operator]
        ]
        assert list(decide(item, compiled).tags) == expected
