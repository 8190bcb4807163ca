"""Routing metrics (ping-pong, wrong-queue time, re-routes, SLA attainment, corrections), the
/reports/routing page, and the availability form and SLA chips of the inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Conversation, Message
from townhall.governance.models import AuditEvent, User
from townhall.inbox.actions import do_correct_understanding
from townhall.routing.actions import do_reroute
from townhall.routing.models import Queue, RoutingDecisionRecord
from townhall.routing.reports import routing_report
from townhall.web import create_app
from web.conftest import login

from .automation import Team, arrive, make_team

SINCE = datetime(2026, 10, 1, tzinfo=UTC)
# The messages arrive on 2026-11-01, but routing decisions and corrections are stamped with
# the real time: the window runs until tomorrow, whenever the test runs.
UNTIL = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(), follow_redirects=False)


def _traffic(sessions: sessionmaker[Session]) -> tuple[Team, list[int]]:
    """Three complaints: one bounced Customer Service → Sales → Customer Service (ping-pong),
    one answered in time, one never answered; and one intent correction."""
    team = make_team(sessions)
    ids = [arrive(sessions, team, f"r{n}", minute=n) for n in range(3)]
    with sessions() as session, session.begin():
        lead = session.get_one(User, team.users["cs_lead"].id)
        bounced = session.get_one(Conversation, ids[0])
        base = bounced.first_message_at
        # Decisions are stamped with the real time; put them where the conversation lives.
        session.execute(
            update(RoutingDecisionRecord)
            .where(RoutingDecisionRecord.conversation_id == ids[0])
            .values(created_at=base)
        )
        for minutes, queue in ((30, "Sales leads"), (90, "Customer care")):
            record = do_reroute(
                session, bounced, session.get_one(Queue, team.queues[queue]), lead, "wrong place"
            )
            record.created_at = base + timedelta(minutes=minutes)
        answered = session.get_one(Conversation, ids[1])
        answered.first_response_at = answered.first_message_at
        message = session.scalars(select(Message).where(Message.conversation_id == ids[2])).one()
        message.understood_at = message.created_at
        session.flush()
        do_correct_understanding(session, message, "intent", "support_request", lead)
        session.execute(
            update(Message)
            .where(Message.conversation_id.in_(ids[:2]))
            .values(understood_at=Message.created_at)
        )
    return team, ids


def test_routing_report_counts_moves_reroutes_sla_and_corrections(
    sessions: sessionmaker[Session],
) -> None:
    team, ids = _traffic(sessions)
    with sessions() as session:
        report = routing_report(session, team.org.id, SINCE, UNTIL, now=UNTIL)
        empty = routing_report(session, team.org.id, UNTIL, UNTIL + timedelta(days=30), UNTIL)
    assert report.routed == 3
    assert report.ping_pong_ids == [ids[0]]
    moves = {(m.from_department, m.to_department): m.moves for m in report.department_moves}
    assert moves == {("Customer Service", "Sales"): 1, ("Sales", "Customer Service"): 1}
    assert report.wrong_queue_minutes == [30.0]
    assert [(r.name, r.reroutes, r.conversations) for r in report.reroutes_by_person] == [
        ("Cs Lead", 2, 1)
    ]
    (care,) = [s for s in report.sla if s.queue == "Customer care"]
    # One answered in time; two never answered and long overdue at ``now``.
    assert (care.first_met, care.first_breached, care.first_running) == (1, 2, 0)
    assert care.first_response == pytest.approx(1 / 3)
    intent, sentiment = report.corrections
    assert (intent.field, intent.corrected, intent.understood) == ("intent", 1, 3)
    assert (sentiment.corrected, sentiment.understood) == (0, 3)
    assert empty.routed == 0 and empty.sla == [] and empty.ping_pong_ids == []


def test_report_page_for_leads_admins_and_executives_only(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _traffic(sessions)
    login(client, "cs.lead@demo.example")
    page = client.get("/reports/routing?days=60&until=2026-11-30")
    assert page.status_code == 200
    assert 'data-testid="ping-pong"><strong>1</strong>' in page.text
    assert "<svg" in page.text and "Customer care · first response" in page.text
    assert client.get("/reports/routing?until=yesterday").status_code == 422
    assert client.get("/reports/routing?days=0").status_code == 422
    client.cookies.clear()
    login(client, "exec@demo.example")
    assert client.get("/reports/routing").status_code == 200
    client.cookies.clear()
    for email in ("cs1@demo.example", "agency.en@demo.example"):
        login(client, email)
        assert client.get("/reports/routing").status_code == 403
        client.cookies.clear()


def test_availability_form_with_csrf_is_audited_and_shows_sla_chips(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    team = make_team(sessions)
    arrive(sessions, team, "late")
    csrf = login(client, "cs1@demo.example")
    inbox = client.get("/inbox").text
    assert 'data-testid="availability-state">on shift' in inbox
    # Long past its due times: the inbox row shows the breached clock.
    assert 'data-sla="breached"' in inbox
    assert client.post("/me/availability", data={"availability": "away"}).status_code == 403
    bad = client.post("/me/availability", data={"availability": "gone", "csrf_token": csrf})
    assert bad.status_code == 422
    done = client.post("/me/availability", data={"availability": "away", "csrf_token": csrf})
    assert done.status_code == 303
    with sessions() as session:
        assert session.get_one(User, team.users["cs1"].id).availability == "away"
        assert "user.availability" in session.scalars(select(AuditEvent.action)).all()
    assert 'data-testid="availability-state">away' in client.get("/inbox").text
