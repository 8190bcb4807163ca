"""Applying policies, routing stored conversations and moving them by hand, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from factories import Org, item, make_org, store
from townhall.contacts.models import Contact
from townhall.conversations.models import Conversation, Message
from townhall.core.errors import Forbidden, ValidationFailed
from townhall.core.time import ensure_aware
from townhall.governance.audit import verify
from townhall.governance.models import AuditEvent, Department, User
from townhall.routing.actions import do_apply_policy, do_reroute, do_route_conversation
from townhall.routing.flows import route_all_pending
from townhall.routing.models import PolicyVersion, Queue, RoutingDecisionRecord
from townhall.routing.policy import PolicyError, default_policy, default_policy_text
from townhall.routing.queries import (
    active_policy,
    decisions_for,
    ping_pong,
    policy_versions,
    wrong_queue_time,
)


def _apply_default(sessions: sessionmaker[Session], org: Org) -> None:
    with sessions() as session, session.begin():
        do_apply_policy(session, org.id, default_policy_text(), None)


def _understand(sessions: sessionmaker[Session], thread_key: str, **fields: Any) -> Conversation:
    """Set understanding fields on a conversation's messages, as the understanding step would."""
    with sessions() as session, session.begin():
        conversation = session.scalars(
            select(Conversation).where(Conversation.thread_key == thread_key)
        ).one()
        session.execute(
            update(Message).where(Message.conversation_id == conversation.id).values(**fields)
        )
        return conversation


def _queue_names(session: Session, org_id: int) -> dict[str, bool]:
    return {
        q.name: q.retired_at is None
        for q in session.scalars(select(Queue).where(Queue.org_id == org_id))
    }


def test_applying_the_default_policy_syncs_queues_with_the_default_structure(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    _apply_default(sessions, org)
    with sessions() as session:
        queues = _queue_names(session, org.id)
        policy_queues = {q.name for q in default_policy().queues}
        assert {name for name, live in queues.items() if live} == policy_queues
        # Setup's queues the policy does not have stay for history but are retired.
        assert queues["Routine support"] is False and queues["Triage"] is False
        # Queues that existed under the same slug were updated, not duplicated.
        assert session.scalar(select(func.count()).select_from(Queue)) == len(queues)
        by_name = {q.name: q for q in session.scalars(select(Queue))}
        assert by_name["Agency first line"].agency_allowed is True
        assert by_name["Risk alerts"].restricted is True
        assert by_name["Customer care"].restricted is False
        assert by_name["Legal"].department_id == org.departments["Legal"]
        version = active_policy(session, org.id)
        assert version is not None and version.number == 1 and version.author_label == "system"
        actions = session.scalars(select(AuditEvent.action)).all()
        assert "policy.apply" in actions
        assert verify(session, org.id) == []


def test_a_new_version_keeps_history_and_exactly_one_active(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    _apply_default(sessions, org)
    renamed = default_policy_text().replace("name: Townhall default", "name: Second draft")
    with sessions() as session, session.begin():
        admin = session.get(User, org.users["admin"].id)
        version = do_apply_policy(session, org.id, renamed, admin)
        assert version.number == 2 and version.author_user_id == admin.id  # type: ignore[union-attr]
    with sessions() as session:
        versions = policy_versions(session, org.id)
        assert [(v.number, v.active) for v in versions] == [(2, True), (1, False)]
        assert versions[0].name == "Second draft"
    # The database refuses a second active version even if code forgot to switch one off.
    with sessions() as session:
        session.add(
            PolicyVersion(
                org_id=org.id, number=3, name="x", text="x", author_label="t", active=True
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_an_invalid_policy_stores_nothing_and_says_where(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    broken = default_policy_text().replace("owner: PR", "owner: Press Office", 1)
    with sessions() as session, session.begin(), pytest.raises(PolicyError) as raised:
        do_apply_policy(session, org.id, broken, None)
    assert raised.value.issues[0].line > 1
    assert "Press Office" in str(raised.value)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PolicyVersion)) == 0


def test_routing_sets_queue_owner_visibility_sla_and_stores_the_reasons(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    _apply_default(sessions, org)
    store(sessions, org.id, item("threat", text="I know where your CEO lives"))
    store(sessions, org.id, item("unknown", handle="bob", text="hello there"))
    conversation = _understand(
        sessions, "threat", intent="complaint", risk_flags=["threat"], sentiment="negative"
    )
    with sessions() as session, session.begin():
        row = session.get(Conversation, conversation.id)
        assert row is not None
        record = do_route_conversation(session, row)
        assert record.kind == "threat"
        assert row.restricted is True and row.agency_allowed is False
        assert row.owner_department_id == org.departments["Risk"]
        assert row.priority == "urgent"
        assert session.get(Queue, row.queue_id).name == "Risk alerts"  # type: ignore[union-attr]
        # Risk works around the clock: 15 minutes after the message arrived.
        start = ensure_aware(row.first_message_at)
        assert ensure_aware(row.first_response_due_at) == start + timedelta(minutes=15)  # type: ignore[arg-type]
        assert ensure_aware(row.resolution_due_at) == start + timedelta(minutes=240)  # type: ignore[arg-type]
        decisions = decisions_for(session, row)
        assert len(decisions) == 1
        assert decisions[0].queue_name == "Risk alerts"
        assert any("risk flag threat" in reason for reason in decisions[0].reasons)
        assert decisions[0].policy_number == 1
    with sessions() as session, session.begin():
        # Not understood yet: routed as "other", which the default policy gives the agency.
        assert route_all_pending(sessions, org.id) == 1
    with sessions() as session:
        unknown = session.scalars(
            select(Conversation).where(Conversation.thread_key == "unknown")
        ).one()
        assert session.get(Queue, unknown.queue_id).name == "Agency first line"  # type: ignore[union-attr]
        assert unknown.agency_allowed is True and unknown.restricted is False
        assert "conversation.route" in session.scalars(select(AuditEvent.action)).all()
        assert "conversation.route_batch" in session.scalars(select(AuditEvent.action)).all()


def test_journalists_stay_in_house_even_for_routine_questions(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    store(sessions, org.id, item("press", handle="reporter", text="how do I reset my password"))
    conversation = _understand(sessions, "press", intent="support_request")
    with sessions() as session, session.begin():
        session.execute(
            update(Contact).where(Contact.id == conversation.contact_id).values(is_journalist=True)
        )
    # No policy applied yet: routing applies the shipped default first.
    assert route_all_pending(sessions, org.id) == 1
    with sessions() as session:
        row = session.get(Conversation, conversation.id)
        assert row is not None and row.agency_allowed is False
        assert session.get(Queue, row.queue_id).name == "Customer care"  # type: ignore[union-attr]
        assert decisions_for(session, row)[0].matched_rules == ["journalists-stay-in-house"]
        assert active_policy(session, org.id) is not None


def test_route_pending_skips_routed_conversations_and_respects_the_id_list(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    store(sessions, org.id, *(item(f"m{i}", handle=f"h{i}") for i in range(7)))
    with sessions() as session:
        ids = sorted(session.scalars(select(Conversation.id)).all())
    assert route_all_pending(sessions, org.id, ids[:2], batch_size=1) == 2
    assert route_all_pending(sessions, org.id, batch_size=2) == 5
    assert route_all_pending(sessions, org.id) == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RoutingDecisionRecord)) == 7


def test_manual_reroutes_are_recorded_and_measured(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    store(sessions, org.id, item("c1", text="where is my refund"))
    conversation = _understand(sessions, "c1", intent="sales_lead")
    route_all_pending(sessions, org.id)
    with sessions() as session, session.begin():
        queues = {q.name: q for q in session.scalars(select(Queue))}
        cs = session.get(User, org.users["cs"].id)
        row = session.get(Conversation, conversation.id)
        assert cs is not None and row is not None
        assert row.owner_department_id == org.departments["Sales"]
        do_reroute(session, row, queues["Customer care"], cs, "this is a refund, not a lead")
        assert row.owner_department_id == org.departments["Customer Service"]
        assert row.agency_allowed is False
        with pytest.raises(ValidationFailed):
            do_reroute(session, row, queues["Customer care"], cs, "again")
        with pytest.raises(ValidationFailed):
            do_reroute(session, row, queues["Triage"], cs, "retired queue")
        executive = session.get(User, org.users["exec"].id)
        assert executive is not None
        with pytest.raises(Forbidden):
            do_reroute(session, row, queues["Press"], executive, "")
    with sessions() as session:
        assert ping_pong(session, org.id).ping_pong == 0
        wrong = wrong_queue_time(session, org.id)
        assert wrong.rerouted == 1 and wrong.total_minutes >= 0
    with sessions() as session, session.begin():
        row = session.get(Conversation, conversation.id)
        admin = session.get(User, org.users["admin"].id)
        assert row is not None and admin is not None
        do_reroute(session, row, queues_by_name(session)["Agency first line"], admin, "routine")
        assert row.agency_allowed is True
    with sessions() as session:
        trail = decisions_for(session, session.get(Conversation, conversation.id))  # type: ignore[arg-type]
        assert [d.by_user_name for d in trail] == [None, "Cs", "Admin"]
        assert "this is a refund" in trail[1].explanation
        # Sales → Customer Service → Customer Service (agency queue) is one move; then PR.
        assert ping_pong(session, org.id).ping_pong == 0
    with sessions() as session, session.begin():
        row = session.get(Conversation, conversation.id)
        admin = session.get(User, org.users["admin"].id)
        assert row is not None and admin is not None
        do_reroute(session, row, queues_by_name(session)["Press"], admin, "journalist after all")
    with sessions() as session:
        assert ping_pong(session, org.id).conversation_ids == [conversation.id]
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions.count("conversation.reroute") == 3
        assert verify(session, org.id) == []


def queues_by_name(session: Session) -> dict[str, Queue]:
    return {q.name: q for q in session.scalars(select(Queue))}


def test_a_policy_naming_a_new_department_creates_it(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    text = default_policy_text().replace(
        "  Leadership: *office_hours", "  Executive Office: *office_hours"
    )
    text = text.replace("owner: Leadership", "owner: Executive Office")
    text = text.replace("[Leadership, Marketing]", "[Executive Office, Marketing]")
    text = text.replace("on_breach: Leadership", "on_breach: Executive Office")
    text = text.replace("department: Leadership", "department: Executive Office")
    with sessions() as session, session.begin():
        do_apply_policy(session, org.id, text, None)
    with sessions() as session:
        names = set(session.scalars(select(Department.name)).all())
        assert "Executive Office" in names
        leadership = queues_by_name(session)["Leadership"]
        office = session.scalars(
            select(Department).where(Department.name == "Executive Office")
        ).one()
        assert leadership.department_id == office.id and leadership.retired_at is None


def test_decisions_follow_their_conversation_when_threads_merge(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    store(sessions, org.id, item("root", text="our new route to Lisbon"))
    # A reply to a message not stored yet waits in its own conversation and gets routed.
    store(sessions, org.id, item("late", handle="bob", reply_to="middle", minute=5))
    assert route_all_pending(sessions, org.id) == 2
    store(sessions, org.id, item("middle", handle="ann", reply_to="root", minute=3))
    with sessions() as session:
        conversations = session.scalars(select(Conversation)).all()
        assert len(conversations) == 1
        decisions = session.scalars(select(RoutingDecisionRecord)).all()
        assert {d.conversation_id for d in decisions} == {conversations[0].id}
        assert len(decisions) == 2
