"""End to end in headless Chromium: an admin adds a webhook and deals with a dead letter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import PASSWORD
from inbox.conftest import make_world
from townhall.conversations.models import Conversation
from townhall.core.time import utcnow
from townhall.governance.models import User
from townhall.inbox.actions import do_set_status
from townhall.integrations.delivery import SCHEDULE, deliver_webhooks
from townhall.integrations.models import WebhookDelivery, WebhookSubscription

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_add_a_webhook_then_retry_its_dead_delivery(
    page: Page, live_server: str, sessions: sessionmaker[Session], database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("browser flows run once, on the embedded default")
    world = make_world(sessions)
    sign_in(page, live_server, "admin@demo.example", PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.get_by_role("link", name="Webhooks").click()
    # Nothing listens on port 9: every delivery fails, quickly.
    page.fill("input[name=url]", "http://127.0.0.1:9/townhall")
    page.fill("input[name=description]", "CRM sync")
    page.check("input[value='conversation.status_changed']")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_test_id("webhook-secret")).to_contain_text("whsec_")
    expect(page.get_by_test_id("webhook-row")).to_contain_text("CRM sync")
    screenshot(page, "admin-webhooks")

    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        do_set_status(session, conversation, "open", session.get_one(User, world.users["cs"].id))
    now = utcnow()
    for _attempt in range(SCHEDULE.max_attempts):
        now += timedelta(hours=2)
        deliver_webhooks(sessions, now=now)

    page.get_by_role("link", name="Dead letters", exact=True).click()
    row = page.get_by_test_id("dead-letter-row")
    expect(row).to_contain_text("conversation.status_changed")
    expect(row).to_contain_text("ConnectError")
    screenshot(page, "admin-dead-letters")
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_test_id("dead-letter-row")).to_have_count(0)
    with sessions() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert delivery.status == "failed" and delivery.next_attempt_at is not None
        assert session.scalars(select(WebhookSubscription.description)).one() == "CRM sync"
