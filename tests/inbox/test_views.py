"""The conversation page's forms: CSRF, read-only executives, agency scope, malformed input."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.models import Conversation, Message
from townhall.inbox.models import InternalNote, Notification, OutboxItem
from townhall.inbox.presence import PresenceRegistry, presence_events
from web.conftest import login

from .conftest import InboxWorld


def test_an_agent_works_a_conversation_through_the_forms(
    client: TestClient,
    sessions: sessionmaker[Session],
    world: InboxWorld,
) -> None:
    csrf = login(client, "cs@demo.example")
    cid = world.conversation_id
    page = client.get(f"/conversations/{cid}")
    assert page.status_code == 200
    assert 'id="reply-text"' in page.text and 'data-status="resolved"' in page.text
    for path, data in (
        ("claim", {}),
        ("reply", {"text": "We are looking into it."}),
        ("notes", {"body": "@legal can you check the liability wording?"}),
        ("status", {"status": "pending_customer"}),
    ):
        response = client.post(f"/conversations/{cid}/{path}", data={"csrf_token": csrf, **data})
        assert response.status_code == 303, (path, response.text)
    with sessions() as session:
        message = session.scalars(
            select(Message).where(Message.conversation_id == cid, Message.direction == "inbound")
        ).first()
        assert message is not None
        inbound_id = message.id
    response = client.post(
        f"/messages/{inbound_id}/correct",
        data={"csrf_token": csrf, "field": "sentiment", "label": "negative"},
    )
    assert response.status_code == 303
    response = client.post(
        f"/conversations/{cid}/transfer",
        data={"csrf_token": csrf, "queue_id": str(world.queues["Legal"]), "reason": "liability"},
    )
    assert response.status_code == 303
    with sessions() as session:
        conversation = session.get_one(Conversation, cid)
        assert conversation.status == "pending_customer"
        assert conversation.queue_id == world.queues["Legal"]
        assert session.scalar(select(OutboxItem.status)) == "pending"
        assert session.scalar(select(InternalNote.mentions)) == ["legal"]
        assert session.scalar(select(Notification.user_id)) == world.users["legal"].id
    page = client.get(f"/conversations/{cid}")
    assert "We are looking into it." in page.text and "liability wording" in page.text
    # An illegal move is a clear 422, not a 500.
    response = client.post(
        f"/conversations/{cid}/status", data={"csrf_token": csrf, "status": "new"}
    )
    assert response.status_code == 422


def test_the_inbox_list_shows_who_has_each_conversation(
    client: TestClient, world: InboxWorld
) -> None:
    csrf = login(client, "cs@demo.example")
    cid = world.conversation_id

    def assignee() -> str:
        page = client.get("/inbox")
        row = page.text.split(f'data-href="/conversations/{cid}"', 1)[1].split("</tr>", 1)[0]
        return row.split('data-testid="assignee">', 1)[1].split("</td>", 1)[0]

    assert "unassigned" in assignee()
    response = client.post(f"/conversations/{cid}/claim", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert assignee() == world.users["cs"].name


def test_forms_need_the_csrf_token(client: TestClient, world: InboxWorld) -> None:
    login(client, "cs@demo.example")
    response = client.post(f"/conversations/{world.conversation_id}/claim", data={})
    assert response.status_code == 403


def test_executives_are_read_only(client: TestClient, world: InboxWorld) -> None:
    csrf = login(client, "exec@demo.example")
    cid = world.conversation_id
    page = client.get(f"/conversations/{cid}")
    assert page.status_code == 200 and 'id="reply-text"' not in page.text
    for path, data in (
        ("claim", {}),
        ("reply", {"text": "hi"}),
        ("notes", {"body": "hi"}),
        ("status", {"status": "open"}),
        ("presence", {"state": "viewing"}),
    ):
        response = client.post(f"/conversations/{cid}/{path}", data={"csrf_token": csrf, **data})
        assert response.status_code == 403, path


def test_agency_cannot_touch_an_in_house_conversation(
    client: TestClient,
    world: InboxWorld,
) -> None:
    csrf = login(client, "agency@demo.example")
    cid = world.conversation_id
    for path, data in (
        ("claim", {}),
        ("reply", {"text": "hi"}),
        ("presence", {"state": "viewing"}),
    ):
        response = client.post(f"/conversations/{cid}/{path}", data={"csrf_token": csrf, **data})
        assert response.status_code == 404, path
    assert client.get(f"/conversations/{cid}/presence").status_code == 404


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/conversations/0/claim", {}),
        ("/conversations/99999999999/claim", {}),
        ("/conversations/{cid}/assign", {"user_id": "abc"}),
        ("/conversations/{cid}/assign", {"user_id": "2147483648"}),
        ("/conversations/{cid}/status", {"status": "archived"}),
        ("/conversations/{cid}/transfer", {"queue_id": "-1"}),
        ("/conversations/{cid}/presence", {"state": "dancing"}),
        ("/messages/{cid}/correct", {"field": "urgency", "label": "high"}),
    ],
)
def test_malformed_input_is_a_422(
    client: TestClient,
    world: InboxWorld,
    path: str,
    data: dict[str, str],
) -> None:
    csrf = login(client, "cs@demo.example")
    response = client.post(
        path.format(cid=world.conversation_id), data={"csrf_token": csrf, **data}
    )
    assert response.status_code == 422


def test_unknown_ids_are_404(client: TestClient, world: InboxWorld) -> None:
    csrf = login(client, "cs@demo.example")
    cid = world.conversation_id
    assert (
        client.post(
            f"/conversations/{cid}/assign", data={"csrf_token": csrf, "user_id": "999999"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/conversations/{cid}/transfer", data={"csrf_token": csrf, "queue_id": "999999"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/messages/999999/correct",
            data={"csrf_token": csrf, "field": "intent", "label": "spam"},
        ).status_code
        == 404
    )


def test_presence_registry_expires_and_streams_changes() -> None:
    now = [0.0]
    registry = PresenceRegistry(ttl=30, clock=lambda: now[0])
    registry.beat(1, 10, "Sam", "viewing")
    registry.beat(1, 11, "Alex", "replying")
    assert [(p.name, p.state) for p in registry.others(1, 10)] == [("Alex", "replying")]
    now[0] = 31
    assert registry.others(1, 10) == []
    registry.beat(1, 11, "Alex", "viewing")
    registry.beat(1, 11, "Alex", "left")
    assert registry.others(1, 10) == []

    async def collect() -> list[str]:
        registry.beat(2, 11, "Alex", "viewing")
        polls = iter([False, False, True])

        async def disconnected() -> bool:
            return next(polls)

        return [e async for e in presence_events(registry, 2, 10, disconnected, interval=0)]

    # In a thread of its own: Playwright's sync API may own this thread's event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        events = pool.submit(lambda: asyncio.run(collect())).result()
    assert events[0].startswith("retry:")
    assert events[1] == 'event: presence\ndata: [{"name": "Alex", "state": "viewing"}]\n\n'
    assert events[2] == ": keep-alive\n\n"


def test_presence_heartbeat(client: TestClient, world: InboxWorld) -> None:
    from townhall.inbox.presence import registry

    csrf = login(client, "cs@demo.example")
    cid = world.conversation_id
    response = client.post(
        f"/conversations/{cid}/presence", data={"csrf_token": csrf, "state": "replying"}
    )
    assert response.status_code == 204
    assert [p.name for p in registry.others(cid, 0)] == ["Cs"]
    client.post(f"/conversations/{cid}/presence", data={"csrf_token": csrf, "state": "left"})
    assert registry.others(cid, 0) == []
