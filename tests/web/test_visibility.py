"""Who sees which conversation: agency scope and restricted queues, by page and by API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import Org, item, make_org, store
from townhall.conversations import queries
from townhall.conversations.models import Conversation
from townhall.pipeline import understand_messages

from .conftest import login


def _three_conversations(sessions: sessionmaker[Session], org: Org) -> dict[str, int]:
    departments = org.departments
    store(
        sessions,
        org.id,
        item("in-house", text="complaint kept in-house"),
        item("routine", text="routine question"),
        item("hr", text="employee leak"),
    )
    with sessions() as session, session.begin():
        rows = {c.thread_key: c for c in session.scalars(select(Conversation))}
        rows["routine"].agency_allowed = True
        rows["hr"].restricted = True
        rows["hr"].owner_department_id = departments["HR"]
        return {key: c.id for key, c in rows.items()}


def test_agency_user_sees_only_what_the_agency_may_handle(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    org = make_org(sessions)
    ids = _three_conversations(sessions, org)
    login(client, "agency@demo.example")
    page = client.get("/inbox").text
    assert "routine question" in page
    assert "complaint kept in-house" not in page and "employee leak" not in page
    assert client.get(f"/conversations/{ids['in-house']}").status_code == 404
    assert client.get(f"/conversations/{ids['hr']}").status_code == 404
    assert client.get(f"/conversations/{ids['routine']}").status_code == 200
    assert client.get(f"/api/v1/conversations/{ids['in-house']}").status_code == 404
    assert [c["id"] for c in client.get("/api/v1/conversations").json()["items"]] == [
        ids["routine"]
    ]


def test_restricted_conversations_stay_in_their_department(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    org = make_org(sessions)
    ids = _three_conversations(sessions, org)
    login(client, "cs@demo.example")
    assert client.get(f"/conversations/{ids['hr']}").status_code == 404
    assert client.get(f"/conversations/{ids['in-house']}").status_code == 200
    client.cookies.clear()
    login(client, "hr@demo.example")
    assert client.get(f"/conversations/{ids['hr']}").status_code == 200
    client.cookies.clear()
    login(client, "admin@demo.example")
    assert client.get("/api/v1/conversations").json()["total"] == 3


def test_inbox_filters_and_search(client: TestClient, sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    store(
        sessions,
        org.id,
        item("a", text="my bag is lost"),
        item("b", text="great flight", platform="mastodon"),
        item("c", reply_to="a", text="still waiting for the suitcase", minute=5),
    )
    login(client, "admin@demo.example")
    # Search reads messages once the understanding step has (seconds after they arrive).
    assert client.get("/api/v1/conversations?q=suitcase").json()["total"] == 0
    with sessions() as session, session.begin():
        assert understand_messages(session, org.id)[0] == 3
    assert client.get("/api/v1/conversations?q=suitcase").json()["total"] == 1
    assert client.get("/api/v1/conversations?q=SUITCASE").json()["total"] == 1
    assert client.get("/api/v1/conversations?platform=mastodon").json()["total"] == 1
    assert client.get("/api/v1/conversations?status=closed").json()["total"] == 0
    partial = client.get("/inbox?q=bag", headers={"HX-Request": "true"})
    assert (
        partial.status_code == 200
        and "<html" not in partial.text
        and "my bag is lost" in partial.text
    )


def test_inbox_stops_counting_past_the_cap(
    client: TestClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past COUNT_CAP the inbox says "N+" and keeps paging while older conversations exist."""
    org = make_org(sessions)
    store(sessions, org.id, *(item(f"c{i}", handle=f"user{i}", minute=i) for i in range(5)))
    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    login(client, "admin@demo.example")
    first = client.get("/api/v1/conversations").json()
    assert (first["total"], first["total_capped"], first["pages"]) == (3, True, 2)
    assert [c["subject"] for c in first["items"]] == ["message c4", "message c3"]
    last = client.get("/api/v1/conversations?page=3").json()
    assert [c["subject"] for c in last["items"]] == ["message c0"]
    assert last["pages"] == 3
    page = client.get("/inbox").text
    assert "3+ conversations" in page and "Page 1 of 2+" in page
    # At or under the cap the count is exact, as it always was.
    monkeypatch.setattr(queries, "COUNT_CAP", 5)
    exact = client.get("/api/v1/conversations").json()
    assert (exact["total"], exact["total_capped"], exact["pages"]) == (5, False, 3)
    assert "5 conversations" in client.get("/inbox").text
