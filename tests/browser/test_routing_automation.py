"""End to end: a conversation assigned automatically, its SLA warning, availability and the
routing metrics page (screenshots in test-artifacts/screenshots/)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from factories import PASSWORD
from routing.automation import arrive, make_team
from townhall.conversations.models import Conversation
from townhall.core.time import utcnow
from townhall.routing.sla_sweep import sla_sweep

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def conversation_id(sessions: sessionmaker[Session], database_url: str) -> int:
    if not database_url.startswith("sqlite"):
        pytest.skip("browser flows run once, on the embedded default")
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "late-bag", text="My bag never arrived")
    with sessions() as session, session.begin():
        # Put the first-response clock 50 of 60 minutes in: past the 80% warning share.
        now = utcnow()
        conversation = session.get_one(Conversation, conversation_id)
        conversation.first_response_warn_at = now - timedelta(minutes=2)
        conversation.first_response_due_at = now + timedelta(minutes=10)
        conversation.resolution_warn_at = now + timedelta(hours=20)
        conversation.resolution_due_at = now + timedelta(hours=24)
        sla_sweep(session, team.org.id, now)
    return conversation_id


def test_auto_assigned_conversation_with_sla_warning_and_metrics(
    page: Page, live_server: str, conversation_id: int
) -> None:
    sign_in(page, live_server, "cs.lead@demo.example", PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    row = page.locator(f"tr[data-href='/conversations/{conversation_id}']")
    expect(row.get_by_test_id("sla")).to_have_attribute("data-sla", "warning")
    expect(page.get_by_test_id("availability-state")).to_have_text("on shift")

    # The lead was warned: the header badge counts it and the notifications page explains it.
    expect(page.get_by_test_id("unread-badge")).to_have_text("1")
    page.goto(f"{live_server}/notifications")
    expect(page.get_by_test_id("notification")).to_contain_text("SLA warning")

    page.goto(f"{live_server}/conversations/{conversation_id}")
    expect(page.get_by_test_id("assignee")).to_have_text("Cs Lead")
    expect(page.get_by_test_id("assignment-reason")).to_contain_text(
        "assigned by least-loaded: 1 of 2 open"
    )
    expect(page.get_by_test_id("sla")).to_have_attribute("data-sla", "warning")
    expect(page.get_by_test_id("sla")).to_contain_text("first response due in")
    expect(page.get_by_test_id("tag")).to_have_count(0)  # warned, not breached
    # Opening the conversation reads the notifications that pointed to it.
    expect(page.get_by_test_id("unread")).to_have_count(0)
    screenshot(page, "sla-warning-auto-assigned")

    page.get_by_role("button", name="Go away").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_test_id("availability-state")).to_have_text("away")

    page.get_by_role("link", name="Routing").click()
    expect(page.get_by_test_id("routing-report")).to_be_visible()
    page.select_option("select[name=days]", "365")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("sla-table")).to_contain_text("Customer care")
    expect(page.locator("svg.chart")).to_be_visible()
    screenshot(page, "routing-metrics")
