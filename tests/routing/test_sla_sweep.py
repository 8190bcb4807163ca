"""SLA warnings and escalation: once, with audit rows, from any number of workers."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from townhall.cli import app
from townhall.contacts.models import Contact
from townhall.conversations.models import Conversation
from townhall.conversations.queries import InboxFilters, list_inbox
from townhall.core.time import ensure_aware
from townhall.governance.audit import verify
from townhall.governance.models import AuditEvent, User
from townhall.inbox.models import Notification
from townhall.inbox.tags import tags_for
from townhall.routing.actions import route_pending
from townhall.routing.flows import run_clocks
from townhall.routing.models import RoutingDecisionRecord, SlaEvent
from townhall.routing.sla_sweep import sla_badge, sla_badges, sla_sweep

from .automation import arrive, make_team


def _conversation(sessions: sessionmaker[Session], conversation_id: int) -> Conversation:
    with sessions() as session:
        return session.get_one(Conversation, conversation_id)


def _notifications(sessions: sessionmaker[Session], kind: str) -> list[tuple[int, int]]:
    with sessions() as session:
        return [
            (n.user_id, n.conversation_id)
            for n in session.scalars(
                select(Notification).where(Notification.kind == kind).order_by(Notification.id)
            )
        ]


def test_warning_at_the_policy_share_notifies_assignee_and_lead_once(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "w")
    conversation = _conversation(sessions, conversation_id)
    assert conversation.first_response_warn_at is not None
    warn_at = ensure_aware(conversation.first_response_warn_at)
    due = ensure_aware(conversation.first_response_due_at or warn_at)
    start = ensure_aware(conversation.first_message_at)
    # Sunday's message: Customer Service opens Monday 08:00 London; 80% of the 60 business
    # minutes have passed at 08:48, twelve minutes before the due time.
    assert start.weekday() == 6
    assert due - warn_at == timedelta(minutes=12)

    with sessions() as session, session.begin():
        early = sla_sweep(session, team.org.id, warn_at - timedelta(seconds=1))
    assert early.warnings == 0
    assert sla_badge(conversation, warn_at - timedelta(seconds=1)).status == "ok"  # type: ignore[union-attr]

    for _ in range(2):  # a second sweep finds nothing new
        with sessions() as session, session.begin():
            result = sla_sweep(session, team.org.id, warn_at + timedelta(seconds=1))
    assert result.warnings == 0
    assignee = conversation.assigned_user_id
    assert assignee is not None
    told = _notifications(sessions, "sla_warning")
    # Each person once, also when the assignee is the lead.
    expected = {assignee, team.users["cs_lead"].id}
    assert sorted(user for user, _ in told) == sorted(expected)
    assert sla_badge(conversation, warn_at + timedelta(seconds=1)).status == "warning"  # type: ignore[union-attr]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SlaEvent)) == 1
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions.count("conversation.sla_warning") == 1
        assert verify(session, team.org.id) == []


def test_inbox_list_badges_read_the_clocks_its_rows_carry(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "w")
    conversation = _conversation(sessions, conversation_id)
    warn_at = ensure_aware(conversation.first_response_warn_at)  # type: ignore[arg-type]
    due = ensure_aware(conversation.first_response_due_at)  # type: ignore[arg-type]
    with sessions() as session:
        lead = session.get_one(User, team.users["cs_lead"].id)
        rows = list_inbox(session, lead, InboxFilters()).rows
    assert [row.id for row in rows] == [conversation_id]
    for now, status in (
        (warn_at - timedelta(seconds=1), "ok"),
        (warn_at + timedelta(seconds=1), "warning"),
        (due + timedelta(seconds=1), "breached"),
    ):
        badges = sla_badges(rows, now)
        assert badges == {conversation_id: sla_badge(conversation, now)}
        assert badges[conversation_id].status == status


def test_breach_raises_priority_tags_notifies_and_moves_to_the_escalation_queue(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "b", intent="support_request", language="en")
    before = _conversation(sessions, conversation_id)
    assert before.queue_id == team.queues["Agency first line"]
    agency_agent = before.assigned_user_id
    assert agency_agent in {team.users["agency_en"].id, team.users["agency_es"].id}
    due = ensure_aware(before.first_response_due_at)  # type: ignore[arg-type]

    with sessions() as session, session.begin():
        result = sla_sweep(session, team.org.id, due + timedelta(minutes=1))
    assert (result.breaches, result.moved, result.warnings) == (1, 1, 0)

    after = _conversation(sessions, conversation_id)
    # No breach_priority for support requests: one step up.
    assert (before.priority, after.priority) == ("normal", "high")
    assert "sla-breached" in _tags(sessions, conversation_id)
    # The policy brings unanswered agency work back in-house to Customer care.
    assert after.queue_id == team.queues["Customer care"]
    assert not after.agency_allowed
    with sessions() as session:
        new_assignee = session.get_one(User, after.assigned_user_id or 0)
        assert new_assignee.agency_id is None
        assert new_assignee.department_id == team.org.departments["Customer Service"]
        move = session.scalars(
            select(RoutingDecisionRecord)
            .where(RoutingDecisionRecord.conversation_id == conversation_id)
            .order_by(RoutingDecisionRecord.id.desc())
        ).first()
        assert move is not None and move.by_user_id is None
        assert "SLA was breached" in move.explanation
        events = session.scalars(select(SlaEvent).order_by(SlaEvent.stage)).all()
        # The breach and its (never sent) warning.
        assert [(e.clock, e.stage) for e in events] == [
            ("first_response", "breach"),
            ("first_response", "warning"),
        ]
        assert events[0].actions["priority_after"] == "high"
    told = {user for user, _ in _notifications(sessions, "sla_breach")}
    # The agency agent lost it (may not see it any more); Customer Service's lead is told.
    assert team.users["cs_lead"].id in told and agency_agent not in told
    assert _notifications(sessions, "sla_warning") == []

    with sessions() as session, session.begin():
        again = sla_sweep(session, team.org.id, due + timedelta(minutes=2))
    assert again.breaches == 0


def test_breach_priority_floor_and_resolution_clock(sessions: sessionmaker[Session]) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "p", intent="press_inquiry")
    conversation = _conversation(sessions, conversation_id)
    first_due = ensure_aware(conversation.first_response_due_at)  # type: ignore[arg-type]
    resolution_due = ensure_aware(conversation.resolution_due_at)  # type: ignore[arg-type]
    breaches = 0
    for now in (first_due, resolution_due):
        with sessions() as session, session.begin():
            breaches += sla_sweep(session, team.org.id, now + timedelta(minutes=1)).breaches
    # Both clocks breached: first response and resolution, each once.
    assert breaches == 2
    after = _conversation(sessions, conversation_id)
    assert after.priority == "urgent"  # press: breach_priority urgent
    with sessions() as session:
        assert sorted(
            session.scalars(select(SlaEvent.clock).where(SlaEvent.stage == "breach"))
        ) == [
            "first_response",
            "resolution",
        ]


def test_answered_and_resolved_conversations_are_left_alone(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "r")
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, conversation_id)
        conversation.first_response_at = conversation.first_message_at
        conversation.status = "resolved"
        due = ensure_aware(conversation.resolution_due_at)  # type: ignore[arg-type]
    with sessions() as session, session.begin():
        result = sla_sweep(session, team.org.id, due + timedelta(days=1))
    assert (result.warnings, result.breaches) == (0, 0)


def test_routing_time_escalation_tells_pr_about_a_journalist(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "j", route=False)
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, conversation_id)
        session.get_one(Contact, conversation.contact_id).is_journalist = True
        route_pending(session, team.org.id, [conversation_id])
    told = _notifications(sessions, "escalation")
    assert told == [(team.users["pr_lead"].id, conversation_id)]
    with sessions() as session:
        assert "conversation.escalate" in session.scalars(select(AuditEvent.action)).all()


def test_concurrent_sweeps_act_once(sessions: sessionmaker[Session], database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time; concurrency is PostgreSQL's case")
    team = make_team(sessions, cs_capacity=5)
    ids = [arrive(sessions, team, f"c{n}", minute=n) for n in range(6)]
    latest = max(ensure_aware(_conversation(sessions, i).first_response_due_at) for i in ids)  # type: ignore[arg-type]
    barrier = threading.Barrier(4)
    results = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            with sessions() as session, session.begin():
                results.append(sla_sweep(session, team.org.id, latest + timedelta(minutes=1)))
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(r.breaches for r in results) == 6
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SlaEvent)) == 12
        assert verify(session, team.org.id) == []


def test_worker_pass_and_cli(sessions: sessionmaker[Session], database_url: str) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "cli")
    due = ensure_aware(_conversation(sessions, conversation_id).first_response_due_at)  # type: ignore[arg-type]
    result = run_clocks(sessions, [team.org.id], due + timedelta(seconds=1))
    assert result.breaches == 1
    # The command runs at the real time, long after these November 2026 messages: the
    # resolution clock has run out too. A second run finds nothing left to do.
    env = {"TOWNHALL_DATABASE_URL": database_url}
    first = CliRunner().invoke(app, ["sla", "sweep", "--json"], env=env)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    # Weeks overdue: recorded as a stale breach, nobody paged.
    assert (summary["breaches"], summary["stale_breaches"]) == (0, 1)
    second = CliRunner().invoke(app, ["sla", "sweep"], env=env)
    assert second.exit_code == 0, second.output
    assert "0 breach(es) escalated" in second.output and "0 breach(es) older" in second.output
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SlaEvent)) == 4


def test_long_overdue_breaches_are_recorded_without_paging_anyone(
    sessions: sessionmaker[Session],
) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "old")
    due = ensure_aware(_conversation(sessions, conversation_id).resolution_due_at)  # type: ignore[arg-type]
    with sessions() as session, session.begin():
        result = sla_sweep(session, team.org.id, due + timedelta(days=2))
    # Both clocks ran out days ago.
    assert (result.breaches, result.stale, result.notified) == (0, 2, 0)
    after = _conversation(sessions, conversation_id)
    assert after.priority == "normal" and "sla-breached" in _tags(sessions, conversation_id)
    assert _notifications(sessions, "sla_breach") == []
    with sessions() as session:
        assert "conversation.sla_breach_stale" in session.scalars(select(AuditEvent.action)).all()


def _tags(sessions: sessionmaker[Session], conversation_id: int) -> list[str]:
    with sessions() as session:
        return tags_for(session, conversation_id)
