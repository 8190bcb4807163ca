"""End to end in headless Chromium: work one conversation, and the collision warning."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Conversation
from townhall.demo.load import ADMIN_EMAIL, DEMO_PASSWORD, load_demo
from townhall.governance.models import Department
from townhall.routing.models import Queue

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def conversation_id(sessions: sessionmaker[Session], database_url: str) -> int:
    if not database_url.startswith("sqlite"):
        pytest.skip("browser flows run once, on the embedded default")
    load_demo(sessions, conversations=60, end=datetime(2026, 11, 20, tzinfo=UTC))
    with sessions() as session, session.begin():
        cs = session.scalars(select(Department.id).where(Department.name == "Customer Service"))
        queue = session.scalars(
            select(Queue).where(Queue.department_id == cs.one(), Queue.restricted.is_(False))
        ).first()
        assert queue is not None
        conversation = session.scalars(select(Conversation).order_by(Conversation.id)).first()
        assert conversation is not None
        conversation.queue_id = queue.id
        conversation.owner_department_id = queue.department_id
        conversation.restricted = False
        conversation.status = "new"
        return conversation.id


def test_work_a_conversation_with_a_collision_warning(
    page: Page, browser: Browser, live_server: str, conversation_id: int
) -> None:
    url = f"{live_server}/conversations/{conversation_id}"
    sign_in(page, live_server, "cs.agent@skyward.example", DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.goto(url)
    expect(page.get_by_test_id("message").first).to_be_visible()

    # A second person opens the same conversation: both see the warning, live.
    other = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        admin = other.new_page()
        admin.set_default_timeout(10_000)
        sign_in(admin, live_server, ADMIN_EMAIL, DEMO_PASSWORD)
        expect(admin).to_have_url(re.compile(r"/inbox$"))
        admin.goto(url)
        expect(admin.get_by_test_id("presence")).to_contain_text("Sam Agent is also viewing")
        expect(page.get_by_test_id("presence")).to_contain_text("Alex Admin is also viewing")
        admin.locator("#reply-text").fill("Drafting…")
        expect(page.get_by_test_id("presence")).to_contain_text("Alex Admin is also replying")
        screenshot(page, "collision-warning")
    finally:
        other.close()

    # Reply: "r" focuses the composer.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("r")
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("Sorry to hear that! We are checking with the team now.")
    page.get_by_role("button", name="Send reply").click()
    reply = page.get_by_test_id("message").filter(has_text="We are checking with the team")
    expect(reply).to_be_visible()
    expect(reply.get_by_test_id("delivery")).to_have_text("pending")

    # A note mentioning another department.
    page.fill("#note-body", "@legal is our compensation wording OK here?")
    page.get_by_role("button", name="Add note").click()
    note = page.get_by_test_id("note").filter(has_text="compensation wording")
    expect(note).to_contain_text("@legal")

    # Correct the classification of the customer's message.
    first = page.get_by_test_id("message").first
    first.get_by_text("Correct classification").click()
    intent = first.get_by_label("Intent")
    target = "sales_lead" if intent.input_value() == "complaint" else "complaint"
    intent.select_option(target)
    first.get_by_role("button", name="Save intent").click()
    expect(page.get_by_test_id("message").first.locator(".chip.intent")).to_have_text(
        target.replace("_", " ")
    )
    screenshot(page, "conversation-worked")

    # Transfer to Legal.
    transfer = page.get_by_test_id("transfer")
    transfer.get_by_label("Transfer to queue").select_option(label="Legal")
    transfer.get_by_label("Transfer reason").fill("compensation wording")
    transfer.get_by_role("button", name="Transfer").click()
    expect(page.locator(".meta")).to_contain_text("Queue: Legal")
    screenshot(page, "conversation-transferred")
    page.goto("about:blank")
