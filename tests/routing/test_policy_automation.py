"""Policy fields for automation: queue assignment modes, the SLA warning share, breach actions."""

from __future__ import annotations

import pytest

from townhall.routing.policy import (
    PolicyError,
    default_policy,
    default_policy_text,
    diff_policies,
    dump_policy,
    load_policy,
)


def _issues(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    return [f"{issue.line}:{issue.path}: {issue.message}" for issue in caught.value.issues]


def test_default_policy_sets_strategies_warning_share_and_breach_actions() -> None:
    policy = default_policy()
    modes = {queue.name: queue.assignment for queue in policy.queues}
    assert modes["Customer care"] == "least_loaded"
    assert modes["Agency first line"] == "skills"
    assert modes["Leadership"] == "manual"
    assert policy.sla_warning_percent == 80
    assert policy.kinds["support_request"].escalation.breach_queue == "Customer care"
    assert policy.kinds["press_inquiry"].escalation.breach_priority == "urgent"
    assert load_policy(dump_policy(policy)) == policy


def test_bad_values_are_reported_with_their_line() -> None:
    text = default_policy_text()
    bad_mode = text.replace("assignment: least_loaded", "assignment: fastest", 1)
    (issue,) = _issues(bad_mode)
    line = bad_mode.splitlines().index("    assignment: fastest") + 1
    assert issue.startswith(f"{line}:") and "assignment" in issue
    assert any(
        "sla_warning_percent" in i
        for i in _issues(text.replace("sla_warning_percent: 80", "sla_warning_percent: 120"))
    )


def test_breach_queue_must_exist_and_respect_scope() -> None:
    text = default_policy_text()
    unknown = text.replace("breach_queue: Customer care", "breach_queue: Nowhere")
    assert any("unknown queue 'Nowhere'" in i for i in _issues(unknown))
    # Complaints stay in-house: the agency queue cannot be their escalation queue.
    to_agency = text.replace(
        "      breach_priority: high",
        "      breach_priority: high\n      breach_queue: Agency first line",
        1,
    )
    assert any("kept in-house" in i and "breach_queue" in i for i in _issues(to_agency))
    restricted = text.replace(
        "    escalation: {on_breach: HR}\n  legal_threat:",
        "    escalation: {on_breach: HR, breach_queue: Legal}\n  legal_threat:",
    )
    assert any("restricted kind 'employee_conduct'" in i for i in _issues(restricted))


def test_diff_shows_a_changed_strategy_and_warning_share() -> None:
    text = default_policy_text()
    changed = text.replace("sla_warning_percent: 80", "sla_warning_percent: 70").replace(
        "assignment: skills", "assignment: round_robin"
    )
    messages = [c.message for c in diff_policies(load_policy(text), load_policy(changed))]
    assert any("sla_warning_percent" in m for m in messages), messages
    assert any("Agency first line" in m and "assignment" in m for m in messages), messages
