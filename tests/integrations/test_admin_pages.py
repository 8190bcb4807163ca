"""/admin/webhooks and /admin/dead-letters: forms with CSRF, audited, clear errors, retry and discard."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from inbox.conftest import InboxWorld
from townhall.channels.fake.connector import FakeConnector
from townhall.conversations.models import Conversation, Message
from townhall.core.time import utcnow
from townhall.governance.models import AuditEvent, User
from townhall.inbox.actions import do_reply, do_set_status
from townhall.inbox.models import OutboxItem
from townhall.inbox.outbox import MAX_ATTEMPTS, deliver_pending
from townhall.integrations.delivery import SCHEDULE, deliver_webhooks
from townhall.integrations.models import WebhookDelivery, WebhookSubscription
from townhall.web import create_app
from web.conftest import login

from .conftest import Receiver, subscribe


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(), follow_redirects=False)


def _audit_actions(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_an_admin_adds_disables_and_rotates_a_webhook(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    csrf = login(client, "admin@demo.example")
    assert "No webhooks yet" in client.get("/admin/webhooks").text
    form = {
        "url": "https://crm.example/hooks/townhall",
        "description": "CRM",
        "event_types": ["message.replied", "conversation.routed"],
    }
    assert client.post("/admin/webhooks", data=form).status_code == 403  # no CSRF token
    created = client.post("/admin/webhooks", data={**form, "csrf_token": csrf})
    assert created.status_code == 201
    with sessions() as session:
        subscription = session.scalars(select(WebhookSubscription)).one()
        secret = subscription.secret
    assert subscription.event_types == ["conversation.routed", "message.replied"]
    # Shown once, in full, right after creation; afterwards only its first characters.
    assert secret.startswith("whsec_") and secret in created.text
    listing = client.get("/admin/webhooks").text
    assert secret not in listing and secret[:10] in listing
    sid = subscription.id
    response = client.post(
        f"/admin/webhooks/{sid}/active", data={"csrf_token": csrf, "active": "false"}
    )
    assert response.status_code == 303
    assert re.search(r'data-testid="webhook-state">disabled<', client.get("/admin/webhooks").text)
    rotated = client.post(f"/admin/webhooks/{sid}/rotate", data={"csrf_token": csrf})
    assert rotated.status_code == 200
    with sessions() as session:
        new_secret = session.get_one(WebhookSubscription, sid).secret
    assert new_secret != secret and new_secret in rotated.text
    assert _audit_actions(sessions)[-3:] == [
        "webhook.create",
        "webhook.disable",
        "webhook.rotate_secret",
    ]
    with sessions() as session:
        after = [e.after for e in session.scalars(select(AuditEvent))]
    assert not any(s in str(after) for s in (secret, new_secret)), "secrets leaked to the audit"


def test_bad_webhook_input_gets_a_clear_error_and_no_500(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    csrf = login(client, "admin@demo.example")
    for data, message in (
        ({"url": "ftp://x.example", "event_types": ["message.replied"]}, "url: must be an http"),
        ({"url": "https://x.example", "event_types": []}, "event_types: choose at least one"),
        (
            {"url": "https://x.example", "event_types": ["message.deleted"]},
            "unknown event type",
        ),
        ({"url": "https://u:p@x.example", "event_types": ["message.replied"]}, "password"),
        ({"url": "http://[::1", "event_types": ["message.replied"]}, "url: not a valid URL"),
        (
            {"url": "http://169.254.169.254/latest", "event_types": ["message.replied"]},
            "169.254.169.254 is not an address",
        ),
    ):
        response = client.post("/admin/webhooks", data={**data, "csrf_token": csrf})
        assert response.status_code == 422, (data, response.text)
        assert message in response.text.replace("&#39;", "'"), data
    with sessions() as session:
        assert session.scalars(select(WebhookSubscription)).first() is None
    for path in ("/admin/webhooks/99999/rotate", "/admin/webhooks/abc/rotate"):
        response = client.post(path, data={"csrf_token": csrf})
        assert response.status_code in (404, 422), path
    response = client.post("/admin/dead-letters/nope/1/retry", data={"csrf_token": csrf})
    assert response.status_code == 404


def test_dead_letters_are_listed_retried_and_discarded(
    client: TestClient,
    sessions: sessionmaker[Session],
    world: InboxWorld,
    receiver: Receiver,
) -> None:
    subscribe(sessions, world, receiver.url, ["conversation.status_changed"])
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        cs = session.get_one(User, world.users["cs"].id)
        do_set_status(session, conversation, "open", cs)
        do_set_status(session, conversation, "resolved", cs)
        reply_id = do_reply(session, conversation, "Your bag is on its way.", cs).id
    # Everything fails until it gives up: two dead deliveries and one dead reply.
    receiver.plan = [(500, 0.0)] * 100
    down = FakeConnector(platform="x", fail_next=100)
    now = utcnow()
    for _attempt in range(max(SCHEDULE.max_attempts, MAX_ATTEMPTS)):
        now += timedelta(hours=2)
        deliver_webhooks(sessions, now=now)
        deliver_pending(sessions, lambda _name: down, now=now)
    with sessions() as session:
        deliveries = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    assert [d.status for d in deliveries] == ["dead", "dead"]

    csrf = login(client, "admin@demo.example")
    page = client.get("/admin/dead-letters")
    assert page.status_code == 200
    rows = re.findall(r'data-source="(\w+)" data-id="(\d+)"', page.text)
    assert sorted(rows) == sorted(
        [("replies", str(reply_id)), *(("webhooks", str(d.id)) for d in deliveries)]
    )
    assert "HTTP 500" in page.text and "fake platform unavailable" in page.text

    retried, discarded = deliveries
    assert client.post(f"/admin/dead-letters/webhooks/{retried.id}/retry").status_code == 403
    for path in (
        f"/admin/dead-letters/webhooks/{retried.id}/retry",
        f"/admin/dead-letters/webhooks/{discarded.id}/discard",
        f"/admin/dead-letters/replies/{reply_id}/discard",
    ):
        assert client.post(path, data={"csrf_token": csrf}).status_code == 303, path
    # Discarding twice is refused with a reason, not a 500.
    again = client.post(
        f"/admin/dead-letters/replies/{reply_id}/discard", data={"csrf_token": csrf}
    )
    assert again.status_code == 422
    with sessions() as session:
        assert session.get_one(WebhookDelivery, retried.id).status == "failed"
        assert session.get_one(WebhookDelivery, discarded.id).status == "discarded"
        assert session.get_one(Message, reply_id).delivery_status == "discarded"
        assert session.scalars(select(OutboxItem.status)).one() == "discarded"
    assert 'data-testid="dead-letter-row"' not in client.get("/admin/dead-letters").text
    assert _audit_actions(sessions)[-3:] == ["webhook.retry", "webhook.discard", "reply.discard"]
    # The retried delivery goes out on the next pass once the receiver is back.
    receiver.plan = []
    assert deliver_webhooks(sessions).delivered == [retried.id]


def test_a_dead_reply_can_be_queued_again_from_the_page(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        reply_id = do_reply(
            session, conversation, "Hello!", session.get_one(User, world.users["cs"].id)
        ).id
    down = FakeConnector(platform="x", fail_next=MAX_ATTEMPTS)
    now = utcnow()
    for _attempt in range(MAX_ATTEMPTS):
        now += timedelta(hours=2)
        deliver_pending(sessions, lambda _name: down, now=now)
    csrf = login(client, "admin@demo.example")
    response = client.post(
        f"/admin/dead-letters/replies/{reply_id}/retry", data={"csrf_token": csrf}
    )
    assert response.status_code == 303
    assert deliver_pending(sessions, lambda _name: down).sent == [reply_id]
