"""Assignment inside a queue: eligibility, capacity and the three strategies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.routing.assignment import (
    STRATEGIES,
    Agent,
    ConversationToAssign,
    Strategy,
    assign_waiting,
    choose_agent,
    may_take,
)

T0 = datetime(2025, 6, 2, 9, tzinfo=UTC)
DEPARTMENTS = ["Customer Service", "Risk", "HR"]


def agent(agent_id: str, **overrides: object) -> Agent:
    values: dict[str, object] = {
        "id": agent_id,
        "is_agency": False,
        "department": "Customer Service",
        "languages": frozenset({"en"}),
        "capacity": 3,
    }
    values.update(overrides)
    return Agent(**values)  # type: ignore[arg-type]


def conversation(conversation_id: str, **overrides: object) -> ConversationToAssign:
    values: dict[str, object] = {
        "id": conversation_id,
        "agency_allowed": True,
        "restricted": False,
        "owner_department": "Customer Service",
        "waiting_since": T0,
    }
    values.update(overrides)
    return ConversationToAssign(**values)  # type: ignore[arg-type]


agents_strategy = st.lists(
    st.builds(
        Agent,
        id=st.uuids().map(str),
        is_agency=st.booleans(),
        department=st.sampled_from([None, *DEPARTMENTS]),
        languages=st.frozensets(st.sampled_from(["en", "de", "fr"])),
        capacity=st.integers(0, 4),
        open_count=st.integers(0, 4),
        available=st.booleans(),
        last_assigned_at=st.none() | st.integers(0, 1000).map(lambda m: T0 - timedelta(minutes=m)),
    ),
    max_size=8,
    unique_by=lambda a: a.id,
)

conversations_strategy = st.lists(
    st.builds(
        ConversationToAssign,
        id=st.uuids().map(str),
        agency_allowed=st.booleans(),
        restricted=st.booleans(),
        owner_department=st.sampled_from(DEPARTMENTS),
        language=st.sampled_from([None, "en", "de"]),
        waiting_since=st.integers(0, 500).map(lambda m: T0 + timedelta(minutes=m)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(conversations_strategy, agents_strategy, st.sampled_from(STRATEGIES))
def test_batch_assignment_respects_capacity_agency_and_restriction(
    conversations: list[ConversationToAssign], agents: list[Agent], strategy: Strategy
) -> None:
    assignments = assign_waiting(conversations, agents, strategy)
    by_id = {a.id: a for a in agents}
    by_conversation = {c.id: c for c in conversations}
    given_now = {a.id: 0 for a in agents}
    for assignment in assignments:
        if assignment.agent_id is None:
            continue
        chosen = by_id[assignment.agent_id]
        taken = by_conversation[assignment.conversation_id]
        given_now[chosen.id] += 1
        assert chosen.available
        assert chosen.open_count + given_now[chosen.id] <= chosen.capacity
        if chosen.is_agency:
            assert taken.agency_allowed
        if taken.restricted:
            assert not chosen.is_agency and chosen.department == taken.owner_department
    # Oldest first: the order of the result is the waiting order.
    waited = [by_conversation[a.conversation_id].waiting_since for a in assignments]
    assert waited == sorted(waited)


def test_round_robin_turns_through_the_team() -> None:
    team = [agent("ana"), agent("ben"), agent("cy")]
    waiting = [conversation(f"c{i}", waiting_since=T0 + timedelta(minutes=i)) for i in range(4)]
    chosen = [a.agent_id for a in assign_waiting(waiting, team, "round_robin")]
    assert chosen == ["ana", "ben", "cy", "ana"]


def test_least_loaded_uses_share_of_capacity() -> None:
    team = [agent("busy", open_count=2, capacity=3), agent("roomy", open_count=2, capacity=10)]
    assert choose_agent(conversation("c"), team, "least_loaded") == "roomy"


def test_skills_requires_the_language() -> None:
    team = [agent("en-only"), agent("bilingual", languages=frozenset({"en", "DE"}), open_count=2)]
    assert choose_agent(conversation("c", language="de"), team, "skills") == "bilingual"
    assert choose_agent(conversation("c", language="fi"), team, "skills") is None
    assert choose_agent(conversation("c", language=None), team, "skills") == "en-only"


def test_agency_and_restricted_and_away_agents() -> None:
    outsourced = agent("agency", is_agency=True, department=None)
    assert not may_take(outsourced, conversation("c", agency_allowed=False))
    assert may_take(outsourced, conversation("c"))
    risk = conversation("c", restricted=True, owner_department="Risk", agency_allowed=False)
    assert not may_take(agent("cs"), risk)
    assert may_take(agent("risk", department="Risk"), risk)
    assert not may_take(agent("away", available=False), conversation("c"))
    assert not may_take(agent("full", open_count=3), conversation("c"))


def test_nobody_left_keeps_the_rest_waiting() -> None:
    team = [agent("solo", capacity=1)]
    waiting = [
        conversation("old", waiting_since=T0),
        conversation("new", waiting_since=T0 + timedelta(1)),
    ]
    assert [
        (a.conversation_id, a.agent_id) for a in assign_waiting(waiting[::-1], team, "least_loaded")
    ] == [
        ("old", "solo"),
        ("new", None),
    ]
