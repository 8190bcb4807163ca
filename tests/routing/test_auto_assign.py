"""Automatic assignment wired into routing, the inbox workflow and availability, on both databases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Conversation
from townhall.core.errors import ValidationFailed
from townhall.governance.models import AuditEvent, User
from townhall.inbox.actions import do_set_status, do_transfer, do_unassign
from townhall.inbox.models import Assignment
from townhall.inbox.queries import check_can_receive, open_assignment_count
from townhall.routing.auto_assign import auto_assign, do_set_availability
from townhall.routing.models import Queue

from .automation import arrive, make_team, policy_with


def _assignee(sessions: sessionmaker[Session], conversation_id: int) -> int | None:
    with sessions() as session:
        return session.get_one(Conversation, conversation_id).assigned_user_id


def test_routing_assigns_least_loaded_oldest_first_and_explains_it(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions, cs_capacity=2)
    first = arrive(sessions, team, "a", minute=1)
    second = arrive(sessions, team, "b", minute=2)
    cs_people = {team.users[k].id for k in ("cs_lead", "cs1", "cs2")}
    assert _assignee(sessions, first) in cs_people
    # Least loaded: the second goes to someone else (everyone had 0 open, then one has 1).
    assert _assignee(sessions, second) in cs_people - {_assignee(sessions, first)}
    with sessions() as session:
        row = session.scalars(select(Assignment).where(Assignment.conversation_id == first)).one()
        assert row.assigned_by_id is None
        assert row.reason == "assigned by least-loaded: 1 of 2 open"
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "conversation.auto_assign")
        ).all()
        assert len(audit) == 2
        assert audit[0].after is not None
        assert audit[0].after["strategy"] == "least_loaded"


def test_capacity_is_never_exceeded_and_freed_capacity_is_refilled(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions, cs_capacity=1)
    ids = [arrive(sessions, team, f"c{n}", minute=n) for n in range(5)]
    assigned = [_assignee(sessions, c) for c in ids]
    # Three people with room for one each: the three oldest are assigned, two wait.
    assert all(a is not None for a in assigned[:3])
    assert assigned[3:] == [None, None]
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, ids[0])
        worker = session.get_one(User, conversation.assigned_user_id)
        do_set_status(session, conversation, "resolved", worker)
    # The person who resolved one takes the oldest waiting conversation.
    assert _assignee(sessions, ids[3]) == assigned[0]
    assert _assignee(sessions, ids[4]) is None
    with sessions() as session:
        for key in ("cs_lead", "cs1", "cs2"):
            assert open_assignment_count(session, team.users[key].id) <= 1


def test_away_agents_get_nothing_until_they_come_back_on_shift(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions, cs_capacity=3)
    with sessions() as session, session.begin():
        for key in ("cs_lead", "cs1", "cs2"):
            session.get_one(User, team.users[key].id).availability = "away"
    waiting = arrive(sessions, team, "w")
    assert _assignee(sessions, waiting) is None
    with sessions() as session, session.begin():
        cs1 = session.get_one(User, team.users["cs1"].id)
        done = do_set_availability(session, cs1, "on_shift")
    assert [a.conversation_id for a in done] == [waiting]
    assert _assignee(sessions, waiting) == team.users["cs1"].id
    with (
        sessions() as session,
        session.begin(),
        pytest.raises(ValidationFailed, match="availability"),
    ):
        do_set_availability(session, session.get_one(User, team.users["cs1"].id), "asleep")
    with sessions() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "user.availability")
        ).all()
        assert len(actions) == 1


def test_skills_give_the_agency_queue_to_the_agent_who_speaks_the_language(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions)
    spanish = arrive(sessions, team, "es", intent="support_request", language="es")
    english = arrive(sessions, team, "en", intent="support_request", language="en", minute=1)
    assert _assignee(sessions, spanish) == team.users["agency_es"].id
    assert _assignee(sessions, english) == team.users["agency_en"].id
    with sessions() as session:
        reason = session.scalar(
            select(Assignment.reason).where(Assignment.conversation_id == spanish)
        )
        assert reason == "assigned by skills (speaks es): 1 of 2 open"


def test_in_house_and_restricted_work_never_reaches_the_wrong_people(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions, policy=policy_with(**{"HR alerts": "least_loaded"}))
    complaint = arrive(sessions, team, "complaint")
    hr_case = arrive(sessions, team, "hr", intent="employee_conduct", minute=1)
    with sessions() as session:
        assert session.get_one(User, _assignee(sessions, complaint) or 0).agency_id is None
        # The only HR person (the factory's agent) is away: the case waits, nobody else gets it.
        assert _assignee(sessions, hr_case) is None
    with sessions() as session, session.begin():
        do_set_availability(session, session.get_one(User, team.users["hr"].id), "on_shift")
    assert _assignee(sessions, hr_case) == team.users["hr"].id


def test_unassign_hands_the_conversation_to_someone_else(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "x")
    first = _assignee(sessions, conversation_id)
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, conversation_id)
        do_unassign(session, conversation, session.get_one(User, first or 0))
    second = _assignee(sessions, conversation_id)
    assert second is not None and second != first


def test_transfer_to_another_queue_assigns_there(sessions: sessionmaker[Session]) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "t", intent="support_request", language="en")
    assert _assignee(sessions, conversation_id) in {
        team.users["agency_en"].id,
        team.users["agency_es"].id,
    }
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, conversation_id)
        lead = session.get_one(User, team.users["cs_lead"].id)
        do_transfer(
            session, conversation, session.get_one(Queue, team.queues["Customer care"]), lead, ""
        )
    with sessions() as session:
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.agency_allowed  # the policy allowed it; only the queue changed
        assignee = session.get_one(User, conversation.assigned_user_id or 0)
        # Customer care is worked by Customer Service: the agency agent gave it up.
        assert assignee.department_id == team.org.departments["Customer Service"]


_SLUGS = iter(f"p{n}" for n in range(10_000))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    capacities=st.lists(st.integers(0, 3), min_size=5, max_size=5),
    away=st.lists(st.booleans(), min_size=5, max_size=5),
    kinds=st.lists(
        st.sampled_from(["complaint", "support_request", "employee_conduct", "spam"]),
        min_size=1,
        max_size=12,
    ),
    resolve_every=st.integers(2, 4),
)
def test_wired_assignment_never_exceeds_capacity_or_scope(
    sessions: sessionmaker[Session],
    capacities: list[int],
    away: list[bool],
    kinds: list[str],
    resolve_every: int,
) -> None:
    """Random teams and traffic through routing, resolutions and refills: every open assignment
    is within the assignee's capacity and one the policy lets them work."""
    team = make_team(sessions, next(_SLUGS), policy=policy_with(**{"HR alerts": "round_robin"}))
    keys = ["cs_lead", "cs1", "cs2", "agency_en", "agency_es"]
    with sessions() as session, session.begin():
        for key, capacity, is_away in zip(keys, capacities, away, strict=True):
            user = session.get_one(User, team.users[key].id)
            user.capacity = capacity
            user.availability = "away" if is_away else "on_shift"
        session.get_one(User, team.users["hr"].id).availability = "on_shift"
    for number, kind in enumerate(kinds):
        conversation_id = arrive(
            sessions, team, f"{team.org.id}-{number}", intent=kind, minute=number
        )
        if number % resolve_every == 0:
            with sessions() as session, session.begin():
                conversation = session.get_one(Conversation, conversation_id)
                if conversation.assigned_user_id is not None:
                    worker = session.get_one(User, conversation.assigned_user_id)
                    do_set_status(session, conversation, "resolved", worker)
    with sessions() as session, session.begin():
        auto_assign(session, team.org.id)
    with sessions() as session:
        for user in session.scalars(select(User).where(User.org_id == team.org.id)):
            assert open_assignment_count(session, user.id) <= user.capacity, user.email
        for conversation in session.scalars(
            select(Conversation).where(
                Conversation.org_id == team.org.id, Conversation.assigned_user_id.is_not(None)
            )
        ):
            assignee = session.get_one(User, conversation.assigned_user_id)
            assert check_can_receive(assignee, conversation) is None
            if conversation.restricted:
                assert assignee.department_id == conversation.owner_department_id
        # Each conversation has at most one current assignment row.
        current = session.execute(
            select(Assignment.conversation_id, func.count())
            .join(Conversation, Conversation.id == Assignment.conversation_id)
            .where(Conversation.org_id == team.org.id, Assignment.ended_at.is_(None))
            .group_by(Assignment.conversation_id)
        ).all()
        assert all(count == 1 for _, count in current)


def test_routing_rules_assign_to_a_named_person_or_team(sessions: sessionmaker[Session]) -> None:
    rules = """rules:
  - id: bags-to-cs2
    when: {kind: complaint, keywords: {any: [bag]}}
    then: {assign_to: {user: cs2@demo.example}}
  - id: refunds-in-house
    when: {kind: support_request, keywords: {any: [refund]}}
    then: {assign_to: {team: Customer Service}}
"""
    team = make_team(sessions, policy=policy_with().replace("rules:\n", rules, 1))
    bag = arrive(sessions, team, "bag", text="my bag is lost")
    refund = arrive(
        sessions, team, "refund", text="refund please", intent="support_request", minute=1
    )
    other = arrive(sessions, team, "other", text="late flight", minute=2)
    assert _assignee(sessions, bag) == team.users["cs2"].id
    assert _assignee(sessions, other) != team.users["cs2"].id  # least loaded: someone else
    with sessions() as session:
        refund_conversation = session.get_one(Conversation, refund)
        assert refund_conversation.queue_id == team.queues["Agency first line"]
        taker = session.get_one(User, refund_conversation.assigned_user_id or 0)
        assert taker.department_id == team.org.departments["Customer Service"]
        reason = session.scalar(select(Assignment.reason).where(Assignment.conversation_id == bag))
        assert reason == "assigned by routing rule to person cs2@demo.example: 1 of 2 open"
