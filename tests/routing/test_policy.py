"""Ownership policy: loading, line-precise validation, dumping and diffs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.strategies import policies
from townhall.core.taxonomy import DEFAULT_OWNERSHIP, INTENTS
from townhall.routing.policy import (
    NEVER_OUTSOURCED,
    Policy,
    PolicyError,
    default_policy,
    default_policy_text,
    diff_policies,
    dump_policy,
    load_policy,
    validate_policy_text,
)
from townhall.routing.rules import MessageFacts, decide

SMALL = """\
version: 3
name: Small
departments:
  Customer Service:
    hours: 24/7
  PR:
    hours:
      timezone: Europe/Paris
      weekly:
        mon: ["09:00-17:00"]
agencies:
  Outsourcer:
    hours: 24/7
kinds:
  press_inquiry:
    owner: PR
    agency_allowed: false
    visibility: normal
    sla: {first_response_minutes: 30, resolution_minutes: 480}
  support_request:
    owner: Customer Service
    agency_allowed: true
    visibility: normal
    sla: {first_response_minutes: 60, resolution_minutes: 600}
queues:
  - name: Press
    department: PR
    kinds: [press_inquiry]
  - name: Care
    department: Customer Service
    kinds: []
  - name: First line
    agency: Outsourcer
    kinds: [support_request]
"""

NOON = datetime(2025, 6, 2, 12, tzinfo=UTC)


def issues_of(text: str) -> list[tuple[int, int, str]]:
    return [(issue.line, issue.column, issue.path) for issue in validate_policy_text(text)]


def all_intents(text: str) -> str:
    """SMALL with every other intent added as a routine kind in the Care queue."""
    document = yaml.safe_load(text)
    for intent in INTENTS:
        document["kinds"].setdefault(
            intent,
            {
                "owner": "Customer Service",
                "agency_allowed": False,
                "visibility": "normal",
                "sla": {"first_response_minutes": 60, "resolution_minutes": 600},
            },
        )
        if intent not in ("press_inquiry", "support_request"):
            document["queues"][1]["kinds"].append(intent)
    return yaml.safe_dump(document, sort_keys=False)


def test_small_policy_lists_missing_intents_at_the_kinds_key() -> None:
    issues = validate_policy_text(SMALL)
    assert len(issues) == 1
    assert (issues[0].line, issues[0].column, issues[0].path) == (14, 1, "kinds")
    assert "missing: threat" in issues[0].message


def test_schema_error_points_at_the_value() -> None:
    text = SMALL.replace("first_response_minutes: 30", "first_response_minutes: -5")
    issues = validate_policy_text(text)
    assert [(i.line, i.column, i.path) for i in issues] == [
        (19, 35, "kinds.press_inquiry.sla.first_response_minutes")
    ]
    assert "minimum of 1" in issues[0].message


def test_unknown_key_points_at_the_key_and_suggests() -> None:
    text = SMALL.replace("    agency_allowed: true\n", "    agency_allowed: true\n    ownr: PR\n")
    issues = validate_policy_text(text)
    assert [(i.line, i.column, i.path) for i in issues] == [(23, 5, "kinds.support_request.ownr")]
    assert "did you mean 'owner'" in issues[0].message


def test_missing_required_key_points_at_its_parent() -> None:
    text = SMALL.replace("    owner: PR\n", "")
    issues = validate_policy_text(text)
    assert [(i.line, i.column, i.path) for i in issues] == [(15, 3, "kinds.press_inquiry")]
    assert issues[0].message == "missing required key 'owner'"


def test_yaml_syntax_error_has_its_line() -> None:
    issues = validate_policy_text("version: 1\nname: [unclosed\ndepartments: {}\n")
    assert issues[0].line == 3
    assert issues[0].message.startswith("not valid YAML")


def test_duplicate_key_is_reported() -> None:
    issues = validate_policy_text(SMALL.replace("name: Small\n", "name: Small\nname: Again\n"))
    assert [(i.line, i.path) for i in issues] == [(3, "name")]
    assert "first on line 2" in issues[0].message


def test_semantic_errors_have_lines() -> None:
    text = all_intents(SMALL)
    assert validate_policy_text(text) == []
    lines = text.splitlines()
    owner_line = next(i for i, line in enumerate(lines, 1) if line == "    owner: PR")
    broken = text.replace("    owner: PR\n", "    owner: Press Office\n", 1)
    assert issues_of(broken) == [(owner_line, 12, "kinds.press_inquiry.owner")]
    assert "unknown department 'Press Office'" in validate_policy_text(broken)[0].message


def test_agency_allowed_on_a_restricted_kind() -> None:
    text = all_intents(SMALL)
    document = yaml.safe_load(text)
    document["kinds"]["threat"] |= {"visibility": "restricted", "agency_allowed": True}
    issues = validate_policy_text(yaml.safe_dump(document, sort_keys=False))
    messages = {issue.path: issue.message for issue in issues}
    assert "agency allowed on a restricted kind" in messages["kinds.threat.agency_allowed"]


def test_queue_referencing_an_unknown_kind_and_agency_taking_an_in_house_kind() -> None:
    text = all_intents(SMALL).replace(
        "  kinds:\n  - support_request", "  kinds:\n  - support_request\n  - complaint\n  - weather"
    )
    issues = validate_policy_text(text)
    by_path = {issue.path: issue for issue in issues}
    lines = text.splitlines()
    weather = next(i for i, line in enumerate(lines, 1) if line == "  - weather")
    assert by_path["queues[2].kinds[2]"].line == weather
    assert "unknown kind 'weather'" in by_path["queues[2].kinds[2]"].message
    assert "already goes to queue 'Care'" in by_path["queues[2].kinds[1]"].message


def test_a_rule_can_never_widen_agency_access() -> None:
    document = yaml.safe_load(all_intents(SMALL))
    document["rules"] = [{"id": "open-up", "then": {"agency_allowed": True}}]
    issues = validate_policy_text(yaml.safe_dump(document, sort_keys=False))
    assert [issue.path for issue in issues] == ["rules[0].then.agency_allowed"]
    assert "never widen agency access" in issues[0].message


def test_product_rules_forbid_outsourcing_press() -> None:
    document = yaml.safe_load(all_intents(SMALL))
    document["kinds"]["press_inquiry"]["agency_allowed"] = True
    issues = validate_policy_text(yaml.safe_dump(document, sort_keys=False))
    assert any(
        i.path == "kinds.press_inquiry.agency_allowed" and "never outsourced" in i.message
        for i in issues
    )


def test_load_policy_raises_with_issues() -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(SMALL)
    assert raised.value.issues[0].path == "kinds"
    assert "line 14, column 1: kinds:" in str(raised.value)


def test_default_policy_loads_and_follows_the_product_brief() -> None:
    policy = default_policy()
    for intent, defaults in DEFAULT_OWNERSHIP.items():
        kind = policy.kinds[intent]
        if defaults.owner is not None:
            assert kind.owner == defaults.owner, intent
        assert kind.agency_allowed == defaults.agency_allowed, intent
        assert kind.restricted == defaults.restricted, intent
        assert kind.sla.first_response_minutes == defaults.first_response_minutes, intent
    for kind in NEVER_OUTSOURCED & set(policy.kinds):
        assert not policy.kinds[kind].agency_allowed


def test_default_policy_routes_press_in_house_and_support_to_the_agency() -> None:
    policy = default_policy()
    press = decide(MessageFacts(intent="press_inquiry", received_at=NOON), policy)
    assert (press.owner_department, press.agency_allowed) == ("PR", False)
    assert not press.queue_is_agency
    support = decide(MessageFacts(intent="support_request", received_at=NOON), policy)
    assert support.agency_allowed and support.queue_is_agency
    assert support.owner_department == "Customer Service"


def test_default_policy_text_is_what_the_default_policy_loads() -> None:
    assert load_policy(default_policy_text()) == default_policy()


def test_dump_round_trips_the_default_policy() -> None:
    policy = default_policy()
    assert load_policy(dump_policy(policy)) == policy


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_dump_round_trips_random_policies(policy: Policy) -> None:
    assert load_policy(dump_policy(policy)) == policy


def test_diff_names_each_changed_field() -> None:
    old = default_policy()
    document = yaml.safe_load(default_policy_text())
    document["version"] = 2
    document["kinds"]["press_inquiry"]["sla"]["first_response_minutes"] = 15
    document["kinds"]["feedback_praise"]["agency_allowed"] = False
    document["rules"] = [r for r in document["rules"] if r["id"] != "refunds"]
    document["rules"].insert(
        0, {"id": "vip-first", "when": {"contact": {"vip": True}}, "then": {"priority": "high"}}
    )
    new = load_policy(yaml.safe_dump(document, sort_keys=False))
    messages = [change.message for change in diff_policies(old, new)]
    assert messages == [
        "policy: version changed from 1 to 2",
        "kind press_inquiry: sla.first_response_minutes changed from 30 to 15",
        "kind feedback_praise: agency_allowed changed from true to false (now in-house only)",
        "rule refunds removed",
        "rule vip-first added",
    ]
    assert diff_policies(old, old) == []


def test_diff_reports_queue_moves_and_rule_order() -> None:
    old = default_policy()
    document = yaml.safe_load(default_policy_text())
    document["queues"][-1]["kinds"].remove("other")
    document["queues"][6]["kinds"].append("other")
    document["rules"].reverse()
    new = load_policy(yaml.safe_dump(document, sort_keys=False))
    messages = [change.message for change in diff_policies(old, new)]
    assert messages[:3] == [
        "kind other: queue changed from Agency first line to Customer care",
        "queue Customer care: kinds changed from [complaint, offensive] "
        "to [complaint, offensive, other]",
        "queue Agency first line: kinds changed from [support_request, spam, other] "
        "to [support_request, spam]",
    ]
    assert "rule vip-complaints: position changed from 1 to 5" in messages
    assert "rule account-security: position changed from 3 to 3" not in messages


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_validation_never_crashes_on_damaged_documents(data: st.DataObject) -> None:
    lines = default_policy_text().splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "duplicate", "garble"]))
        if action == "drop":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        else:
            lines[index] = lines[index].replace(
                data.draw(st.sampled_from([":", "-", "[", "a"])), ""
            )
    text = "\n".join(lines)
    for issue in validate_policy_text(text):
        assert 1 <= issue.line <= len(lines) + 1
        assert issue.message
