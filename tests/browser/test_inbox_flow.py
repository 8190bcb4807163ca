"""End to end in headless Chromium: sign in, work the inbox, open a conversation, agency scope."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Conversation
from townhall.demo.load import ADMIN_EMAIL, DEMO_PASSWORD, load_demo

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(sessions: sessionmaker[Session], database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("browser flows run once, on the embedded default")
    load_demo(sessions, conversations=120, end=datetime(2026, 11, 20, tzinfo=UTC))


def test_sign_in_search_and_open_a_conversation(page: Page, live_server: str, demo: None) -> None:
    page.goto(f"{live_server}/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next=/inbox$"))
    screenshot(page, "login")
    sign_in(page, live_server, ADMIN_EMAIL, "wrong-password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    sign_in(page, live_server, ADMIN_EMAIL, DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_test_id("current-user")).to_contain_text("Alex Admin")
    total = page.get_by_test_id("inbox-total")
    expect(total).to_contain_text("conversations")
    screenshot(page, "inbox")
    # Typing in the search box refreshes the list through HTMX, without a page load.
    with page.expect_response(lambda response: "q=refund" in response.url):
        page.fill("#search", "refund")
    expect(page).to_have_url(re.compile(r"q=refund"))
    rows = page.locator("table.conversations tbody tr")
    expect(rows.filter(has_not_text=re.compile("refund", re.I))).to_have_count(0)
    expect(rows.first).to_contain_text(re.compile("refund", re.I))
    # Keyboard: j selects the first row, Enter opens it.
    # Leaving the search box fires its change event: one more (identical) refresh to wait for.
    with page.expect_response(lambda response: "q=refund" in response.url):
        page.locator("body").click(position={"x": 5, "y": 200})
    page.keyboard.press("j")
    expect(page.locator("tr.selected")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    expect(page.get_by_test_id("message").first).to_be_visible()
    screenshot(page, "conversation")


def test_agency_user_cannot_open_in_house_conversation_by_url(
    page: Page, live_server: str, demo: None, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session, session.begin():
        ids = list(session.scalars(select(Conversation.id).order_by(Conversation.id).limit(2)))
        session.execute(
            update(Conversation)
            .where(Conversation.id == ids[0])
            .values(agency_allowed=True, restricted=False)
        )
        session.execute(
            update(Conversation).where(Conversation.id == ids[1]).values(agency_allowed=False)
        )
        visible = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.agency_allowed.is_(True), Conversation.restricted.is_(False))
        )
    sign_in(page, live_server, "agency1@brightdesk.example", DEMO_PASSWORD)
    expect(page.get_by_test_id("inbox-total")).to_have_text(
        f"{visible} conversation{'' if visible == 1 else 's'}"
    )
    page.goto(f"{live_server}/conversations/{ids[1]}")
    expect(page.get_by_role("alert")).to_contain_text("not found")
    response = page.request.get(f"{live_server}/api/v1/conversations/{ids[1]}")
    assert response.status == 404
    page.goto(f"{live_server}/conversations/{ids[0]}")
    expect(page.get_by_test_id("message").first).to_be_visible()
