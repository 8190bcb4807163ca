"""Notifications: the page, the unread badge, reading one or all, only one's own."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Conversation
from townhall.inbox.actions import do_add_note
from townhall.inbox.models import Notification
from townhall.inbox.notifications import unread_count
from web.conftest import login

from .conftest import InboxWorld


def _mention(sessions: sessionmaker[Session], world: InboxWorld, body: str) -> None:
    with sessions() as session, session.begin():
        conversation = session.get(Conversation, world.conversation_id)
        assert conversation is not None
        do_add_note(session, conversation, world.users["cs"], body)


def test_badge_page_and_reading(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    _mention(sessions, world, "@lena please check the wording")
    _mention(sessions, world, "@legal and again")
    csrf = login(client, "lena@demo.example")
    badge = client.get("/notifications/badge")
    assert 'data-testid="unread-badge"' in badge.text and ">2</span>" in badge.text
    page = client.get("/notifications")
    assert page.text.count('data-testid="notification"') == 2
    assert f'href="/conversations/{world.conversation_id}#notes"' in page.text
    assert "Cs mentioned you" in page.text and "please check the wording" in page.text
    with sessions() as session:
        first, second = session.scalars(select(Notification.id).order_by(Notification.id)).all()
    assert client.post(f"/notifications/{first}/read", data={"csrf_token": csrf}).status_code == 303
    assert ">1</span>" in client.get("/notifications/badge").text
    assert client.post("/notifications/read-all", data={"csrf_token": csrf}).status_code == 303
    assert "unread-badge" not in client.get("/notifications/badge").text
    # Someone else's notification does not exist for you.
    client.cookies.clear()
    csrf = login(client, "cs@demo.example")
    assert (
        client.post(f"/notifications/{second}/read", data={"csrf_token": csrf}).status_code == 404
    )


def test_opening_the_conversation_reads_its_mentions(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    _mention(sessions, world, "@lead can you take this?")
    login(client, "lead@demo.example")
    assert ">1</span>" in client.get("/notifications/badge").text
    client.get(f"/conversations/{world.conversation_id}")
    assert "unread-badge" not in client.get("/notifications/badge").text


def test_notifications_of_conversations_out_of_sight_are_not_shown(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    _mention(sessions, world, "@lena please check")
    with sessions() as session, session.begin():
        conversation = session.get(Conversation, world.conversation_id)
        assert conversation is not None
        conversation.restricted = True  # e.g. moved to HR: Legal may no longer see it
    with sessions() as session:
        assert unread_count(session, world.users["legal"]) == 0


def test_sla_warnings_and_escalations_are_listed_with_their_text(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, world.conversation_id)
        session.add(
            Notification(
                org_id=conversation.org_id,
                user_id=world.users["legal"].id,
                conversation_id=conversation.id,
                kind="sla_breach",
                text="First response SLA breached in Legal",
            )
        )
    login(client, "lena@demo.example")
    page = client.get("/notifications")
    assert page.text.count('data-testid="notification"') == 1
    assert "SLA breached" in page.text and "First response SLA breached in Legal" in page.text
    assert f'href="/conversations/{world.conversation_id}"' in page.text
