"""End to end in headless Chromium: the knowledge base and suggested answers, a bulk close
with a partial failure, the notifications badge after an @mention, the executive dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import item, store
from townhall.conversations.models import Conversation
from townhall.demo.load import ADMIN_EMAIL, DEMO_PASSWORD, load_demo
from townhall.governance.models import Organisation, User
from townhall.inbox.actions import do_set_status
from townhall.pipeline import understand_messages

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_org(sessions: sessionmaker[Session], database_url: str) -> int:
    if not database_url.startswith("sqlite"):
        pytest.skip("browser flows run once, on the embedded default")
    load_demo(sessions, conversations=20, end=datetime(2026, 11, 20, tzinfo=UTC))
    with sessions() as session:
        return session.scalars(select(Organisation.id)).one()


def _conversation(sessions: sessionmaker[Session], external_id: str) -> int:
    with sessions() as session:
        return session.scalars(
            select(Conversation.id).where(Conversation.thread_key == external_id)
        ).one()


def test_knowledge_base_page_and_a_suggested_answer(
    page: Page, live_server: str, sessions: sessionmaker[Session], demo_org: int
) -> None:
    # A department lead adds an answer; the form names the field that is wrong.
    sign_in(page, live_server, "cs.lead@skyward.example", DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.goto(f"{live_server}/admin/kb/new")
    page.fill("#kb-title", "Lounge access")
    page.fill("#kb-answer", "Flex fares and SkyMiles Gold members use our lounges for free.")
    page.fill("#kb-examples", "can I use the lounge?")
    page.click(".kb-form button[type=submit]")
    expect(page.get_by_test_id("error-examples")).to_contain_text("at least 2 example questions")
    page.fill("#kb-examples", "can I use the lounge?\ndoes my ticket include lounge access?")
    page.click(".kb-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/kb$"))
    expect(page.get_by_test_id("kb-row").filter(has_text="Lounge access")).to_be_visible()
    screenshot(page, "kb-admin")

    # A customer asks a routine question; the agent inserts the suggested answer with "1".
    store(
        sessions,
        demo_org,
        item("dog-1", handle="petowner", text="@skywardair can I bring my dog on the plane?"),
    )
    conversation_id = _conversation(sessions, "dog-1")
    page.context.clear_cookies()
    sign_in(page, live_server, "cs.agent@skyward.example", DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.goto(f"{live_server}/conversations/{conversation_id}")
    first = page.get_by_test_id("suggestion").first
    # The first request builds the organisation's matcher (loads MiniLM): allow it time.
    expect(first).to_contain_text("Travelling with pets", timeout=30_000)
    expect(first.get_by_test_id("suggestion-score")).to_contain_text("% match")
    screenshot(page, "composer-suggestions")
    page.locator("body").press("1")
    expect(page.locator("#reply-text")).to_have_value(re.compile(r"^Cats and dogs up to 8 kg"))
    page.click("#composer button[type=submit]")
    expect(page.get_by_test_id("message").last).to_contain_text("Cats and dogs up to 8 kg")


def test_bulk_close_with_a_partial_failure(
    page: Page, live_server: str, sessions: sessionmaker[Session], demo_org: int
) -> None:
    store(
        sessions,
        demo_org,
        *(item(f"zep-{n}", handle=f"zep{n}", text=f"zeppelin question {n}") for n in range(3)),
    )
    with sessions() as session, session.begin():
        understand_messages(session, demo_org)  # search reads understood messages
        admin = session.scalars(select(User).where(User.email == ADMIN_EMAIL)).one()
        closed = session.get(Conversation, _conversation(sessions, "zep-0"))
        assert closed is not None
        do_set_status(session, closed, "closed", admin)
    sign_in(page, live_server, "cs.lead@skyward.example", DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.goto(f"{live_server}/inbox?q=zeppelin")
    expect(page.get_by_test_id("row-select")).to_have_count(3)
    page.get_by_test_id("select-page").check()
    expect(page.get_by_test_id("bulk-count")).to_have_text("3")
    # Keyboard: j selects the first row, x toggles its checkbox.
    page.locator("body").press("j")
    page.locator("body").press("x")
    expect(page.get_by_test_id("bulk-count")).to_have_text("2")
    page.locator("body").press("x")
    expect(page.get_by_test_id("bulk-count")).to_have_text("3")
    page.get_by_test_id("bulk-action").select_option("status")
    page.select_option("#bulk-form select[name=status]", "closed")
    page.get_by_test_id("bulk-apply").click()
    expect(page.get_by_test_id("bulk-result")).to_have_text(
        "2 closed, 1 skipped: the conversation is already closed"
    )
    # The list refreshes itself: every zeppelin row now shows closed.
    expect(page.locator("table.conversations .status-closed")).to_have_count(3)
    screenshot(page, "inbox-bulk-close")


def test_notifications_badge_after_a_mention(
    page: Page, browser: Browser, live_server: str, sessions: sessionmaker[Session], demo_org: int
) -> None:
    store(sessions, demo_org, item("liab-1", handle="claimant", text="I will sue over my injury"))
    conversation_id = _conversation(sessions, "liab-1")
    sign_in(page, live_server, "cs.agent@skyward.example", DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.goto(f"{live_server}/conversations/{conversation_id}")
    page.fill("#note-body", "@legal can you check the liability wording?")
    page.click("#notes button[type=submit]")
    expect(page.get_by_test_id("note").last).to_contain_text("@legal")

    other = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        legal = other.new_page()
        legal.set_default_timeout(10_000)
        sign_in(legal, live_server, "legal@skyward.example", DEMO_PASSWORD)
        expect(legal).to_have_url(re.compile(r"/inbox$"))
        expect(legal.get_by_test_id("unread-badge")).to_have_text("1")
        legal.get_by_test_id("notifications-link").click()
        expect(legal.get_by_test_id("notification")).to_contain_text("Sam Agent mentioned you")
        screenshot(legal, "notifications")
        legal.get_by_test_id("open-notification").click()
        expect(legal).to_have_url(re.compile(rf"/conversations/{conversation_id}#notes$"))
        expect(legal.get_by_test_id("notifications-link")).to_have_text("Notifications")
        expect(legal.get_by_test_id("unread-badge")).to_have_count(0)
    finally:
        other.close()


def test_the_executive_dashboard(page: Page, live_server: str, demo_org: int) -> None:
    sign_in(page, live_server, "ceo@skyward.example", DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.goto(f"{live_server}/dashboards")
    expect(page.get_by_role("link", name="Dashboards")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("kpi-conversations")).not_to_have_text("0")
    expect(page.locator("svg.chart")).to_have_count(6)
    expect(page.get_by_test_id("departments")).to_contain_text("Customer Service")
    screenshot(page, "dashboard")
    page.select_option("select[name=days]", "182")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboards\?days=182$"))
    # Read-only: no bulk bar, no forms that change anything on the inbox.
    page.goto(f"{live_server}/inbox")
    expect(page.locator("#bulk-form")).to_have_count(0)
