"""Hypothesis strategies: random valid ownership policies and random message facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from hypothesis import strategies as st

from townhall.core.taxonomy import DEPARTMENTS, INTENTS, RISK_FLAGS, SENTIMENTS
from townhall.routing.policy import KINDS, NEVER_OUTSOURCED, PRIORITIES, Policy, load_policy
from townhall.routing.rules import ContactFacts, MessageFacts
from townhall.routing.sla import WEEKDAYS

EXTRA_FLAGS = [flag for flag in RISK_FLAGS if flag not in INTENTS]
AGENCIES = ["Contact Centre", "Night Desk"]
TIMEZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
WORDS = ["refund", "hacked", "password", "price", "broken", "thanks", "strike", "app", "order"]
LANGUAGES = ["en", "de", "fr"]
PLATFORMS = ["mastodon", "bluesky", "x"]


@st.composite
def business_hours(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return "24/7"
    weekly: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        if draw(st.integers(0, 3)) == 0:
            continue
        start = draw(st.integers(0, 20))
        end = draw(st.integers(start + 1, 24))
        intervals = [f"{start:02d}:00-{end:02d}:00"]
        if end <= 22 and draw(st.booleans()):
            intervals.append(f"{end + 1:02d}:30-{draw(st.integers(end + 2, 24)):02d}:00")
        weekly[day] = intervals
    if not weekly:
        weekly["mon"] = ["09:00-17:00"]
    return {"timezone": draw(st.sampled_from(TIMEZONES)), "weekly": weekly}


@st.composite
def policy_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A policy document that passes validation by construction."""
    departments = draw(
        st.lists(st.sampled_from(DEPARTMENTS), min_size=2, max_size=len(DEPARTMENTS), unique=True)
    )
    agencies = draw(st.lists(st.sampled_from(AGENCIES), max_size=2, unique=True))
    kind_names = list(INTENTS) + draw(st.lists(st.sampled_from(EXTRA_FLAGS), unique=True))
    kinds: dict[str, dict[str, Any]] = {}
    for name in kind_names:
        owner = draw(st.sampled_from(departments))
        restricted = draw(st.integers(0, 3)) == 0
        kind: dict[str, Any] = {"owner": owner}
        if restricted:
            kind |= {"agency_allowed": False, "visibility": "restricted"}
        else:
            allowed = name not in NEVER_OUTSOURCED and draw(st.booleans())
            others = [d for d in departments if d != owner]
            kind |= {
                "contributors": draw(st.lists(st.sampled_from(others), unique=True, max_size=2)),
                "agency_allowed": allowed,
                "visibility": "normal",
                "auto_answer": draw(st.booleans()),
            }
        first = draw(st.integers(1, 600))
        kind["priority"] = draw(st.sampled_from(PRIORITIES))
        kind["sla"] = {"first_response_minutes": first, "resolution_minutes": first * 4}
        escalation: dict[str, Any] = {"on_breach": owner}
        if not restricted and draw(st.booleans()):
            escalation["on_journalist"] = draw(st.sampled_from(departments))
            escalation["on_influential_negative"] = {
                "followers_at_least": draw(st.sampled_from([0, 100, 10_000])),
                "sentiment_score_at_most": -0.5,
                "to": draw(st.sampled_from(departments)),
            }
        if draw(st.booleans()):
            escalation["breach_priority"] = draw(st.sampled_from(PRIORITIES))
        kind["escalation"] = escalation
        kinds[name] = kind

    modes = st.sampled_from(["manual", "round_robin", "least_loaded", "skills"])
    queues: list[dict[str, Any]] = [
        {
            "name": f"In {department}",
            "department": department,
            "kinds": [],
            "assignment": draw(modes),
        }
        for department in departments
    ]
    queues += [
        {"name": f"Out {agency}", "agency": agency, "kinds": [], "assignment": draw(modes)}
        for agency in agencies
    ]
    by_name = {queue["name"]: queue for queue in queues}
    for name, kind in kinds.items():
        if kind["visibility"] == "restricted":
            target = f"In {kind['owner']}"
        elif kind["agency_allowed"] and agencies and draw(st.booleans()):
            target = f"Out {draw(st.sampled_from(agencies))}"
        else:
            target = f"In {draw(st.sampled_from(departments))}"
        by_name[target]["kinds"].append(name)

    restricted_kinds = [k for k in kinds if kinds[k]["visibility"] == "restricted"]
    normal_kinds = [k for k in kinds if k not in restricted_kinds]
    document: dict[str, Any] = {
        "version": draw(st.integers(1, 50)),
        "name": "random policy",
        "departments": {d: {"hours": draw(business_hours())} for d in departments},
        "kinds": kinds,
        "queues": queues,
        "rules": draw(st.lists(rules(kinds, queues, departments, agencies), max_size=12)),
    }
    if agencies:
        document["agencies"] = {a: {"hours": draw(business_hours())} for a in agencies}
    if draw(st.booleans()):
        document["sla_warning_percent"] = draw(st.integers(1, 100))
    # A breach may move restricted work only inside its owner department, in-house work only
    # to in-house queues: the escalation queue is the owner's own queue.
    for kind in kinds.values():
        if draw(st.booleans()):
            kind["escalation"]["breach_queue"] = f"In {kind['owner']}"
    if draw(st.booleans()):
        document["precedence"] = draw(st.permutations(restricted_kinds)) + draw(
            st.permutations(normal_kinds)
        )
    # Rule ids must be unique.
    for index, rule in enumerate(document["rules"]):
        rule["id"] = f"rule-{index}"
    return document


@st.composite
def rules(
    draw: st.DrawFn,
    kinds: dict[str, dict[str, Any]],
    queues: list[dict[str, Any]],
    departments: list[str],
    agencies: list[str],
) -> dict[str, Any]:
    when: dict[str, Any] = {}
    if draw(st.booleans()):
        when["kind"] = draw(st.lists(st.sampled_from(list(kinds)), min_size=1, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        when["intent"] = draw(st.sampled_from(INTENTS))
    if draw(st.integers(0, 3)) == 0:
        when["keywords"] = {"any": draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))}
    if draw(st.integers(0, 3)) == 0:
        when["contact"] = {"vip": draw(st.booleans())}
    if draw(st.integers(0, 3)) == 0:
        when["risk_flags"] = {"any": draw(st.lists(st.sampled_from(RISK_FLAGS), min_size=1))}
    if draw(st.integers(0, 4)) == 0:
        when["sentiment"] = draw(st.sampled_from(SENTIMENTS))
    if draw(st.integers(0, 4)) == 0:
        when["language"] = draw(st.sampled_from(LANGUAGES))
    if draw(st.integers(0, 5)) == 0:
        when["time"] = {
            "timezone": draw(st.sampled_from(TIMEZONES)),
            "days": draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, unique=True)),
            "hours": draw(st.sampled_from(["08:00-18:00", "18:00-08:00"])),
        }
    then: dict[str, Any] = {"tags": [draw(st.sampled_from(WORDS))]}
    if draw(st.booleans()):
        then["priority"] = draw(st.sampled_from(PRIORITIES))
    rule_kinds = when.get("kind", [])
    if draw(st.booleans()):
        queue = draw(st.sampled_from(queues))
        to_agency = "agency" in queue
        never_agency = rule_kinds and not any(kinds[k]["agency_allowed"] for k in rule_kinds)
        never_inside = rule_kinds and all(
            kinds[k]["visibility"] == "restricted" and kinds[k]["owner"] != queue.get("department")
            for k in rule_kinds
        )
        if not (to_agency and never_agency) and not (not to_agency and never_inside):
            then["queue"] = queue["name"]
    elif draw(st.booleans()) and not then.get("queue"):
        team = draw(st.sampled_from(departments + agencies))
        never_agency = rule_kinds and not any(kinds[k]["agency_allowed"] for k in rule_kinds)
        if not (team in agencies and never_agency):
            then["assign_to"] = {"team": team}
    sends_to_agency = (
        then.get("queue", "").startswith("Out ")
        or then.get("assign_to", {}).get("team") in agencies
    )
    if not sends_to_agency and draw(st.booleans()):
        then["agency_allowed"] = False
    if draw(st.integers(0, 3)) == 0:
        then["auto_answer"] = False
    return {"id": "placeholder", "when": when, "then": then, "stop": draw(st.integers(0, 5)) == 0}


def policies() -> st.SearchStrategy[Policy]:
    return policy_documents().map(lambda document: load_policy(yaml.safe_dump(document)))


@st.composite
def message_facts(draw: st.DrawFn) -> MessageFacts:
    sentiment = draw(st.sampled_from(SENTIMENTS))
    return MessageFacts(
        intent=draw(st.sampled_from([*INTENTS, "not_a_kind"])),
        risk_flags=frozenset(draw(st.lists(st.sampled_from(RISK_FLAGS), max_size=3))),
        sentiment=sentiment,
        sentiment_score=draw(st.floats(-1, 1)),
        language=draw(st.sampled_from([None, *LANGUAGES])),
        platform=draw(st.sampled_from(PLATFORMS)),
        text=" ".join(draw(st.lists(st.sampled_from([*WORDS, "Refund!", "HACKED"]), max_size=8))),
        contact=ContactFacts(
            vip=draw(st.booleans()),
            journalist=draw(st.booleans()),
            employee=draw(st.booleans()),
            followers=draw(st.integers(0, 100_000)),
        ),
        received_at=datetime(2025, 1, 1, tzinfo=UTC)
        + timedelta(minutes=draw(st.integers(0, 60 * 24 * 365))),
    )


__all__ = ["KINDS", "message_facts", "policies", "policy_documents"]
