"""The /admin/policy page and the conversation page's "Why is this here?" section."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from factories import PASSWORD, item, make_org, store
from townhall.conversations.models import Conversation
from townhall.routing.flows import route_all_pending
from townhall.routing.models import PolicyVersion
from townhall.routing.policy import default_policy_text
from townhall.web import create_app
from web.conftest import csrf_from


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(), follow_redirects=False)


def _login(client: TestClient, email: str) -> str:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/inbox").text)


def test_only_admins_see_the_policy_page(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    csrf = _login(client, "cs@demo.example")
    assert client.get("/admin/policy").status_code == 403
    assert client.post("/admin/policy", data={"csrf_token": csrf, "text": "x"}).status_code == 403
    client.cookies.clear()
    _login(client, "agency@demo.example")
    assert client.get("/admin/policy").status_code == 403
    client.cookies.clear()
    assert client.get("/admin/policy").status_code == 303  # to the login page


def test_admin_validates_and_applies_a_policy(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    csrf = _login(client, "admin@demo.example")
    page = client.get("/admin/policy")
    assert page.status_code == 200
    assert "No policy applied yet" in page.text and "Townhall default" in page.text
    text = default_policy_text()
    line = text[: text.index("owner: PR")].count("\n") + 1
    broken = text.replace("owner: PR", "owner: Press Office", 1)
    fragment = client.post("/admin/policy/validate", data={"csrf_token": csrf, "text": broken})
    assert fragment.status_code == 200
    assert f"line {line}, column" in fragment.text and "Press Office" in fragment.text
    for garbage in ("", ":\n  - [", "a: b: c", "\x00", "[1, 2]", "kinds: *nope"):
        response = client.post("/admin/policy/validate", data={"csrf_token": csrf, "text": garbage})
        assert response.status_code == 200
        assert "problem" in response.text
    refused = client.post("/admin/policy", data={"csrf_token": csrf, "text": broken})
    assert refused.status_code == 422
    assert "Press Office" in refused.text and f"line {line}" in refused.text
    assert client.post(
        "/admin/policy", data={"csrf_token": "forged", "text": text}
    ).status_code == (403)
    applied = client.post("/admin/policy", data={"csrf_token": csrf, "text": text})
    assert applied.status_code == 303
    page = client.get("/admin/policy").text
    assert "version 1" in page
    renamed = text.replace("name: Townhall default", "name: Second")
    fragment = client.post("/admin/policy/validate", data={"csrf_token": csrf, "text": renamed})
    assert "Valid policy" in fragment.text and "name changed" in fragment.text
    assert client.post("/admin/policy", data={"csrf_token": csrf, "text": renamed}).status_code == (
        303
    )
    history = client.get("/admin/policy?version=1")
    assert history.status_code == 200 and "Version 1" in history.text
    assert client.get("/admin/policy?version=abc").status_code == 422
    too_long = client.post("/admin/policy", data={"csrf_token": csrf, "text": "x" * 200_001})
    assert too_long.status_code == 422
    with sessions() as session:
        versions = session.scalars(select(PolicyVersion).order_by(PolicyVersion.number)).all()
        assert [(v.number, v.active, v.author_label) for v in versions] == [
            (1, False, "admin@demo.example"),
            (2, True, "admin@demo.example"),
        ]


def test_conversation_page_explains_the_routing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    org = make_org(sessions)
    store(sessions, org.id, item("q1", text="what time is it"))
    with sessions() as session:
        conversation_id = session.scalars(select(Conversation.id)).one()
    _login(client, "admin@demo.example")
    page = client.get(f"/conversations/{conversation_id}").text
    assert "Why is this here?" in page and "Not routed yet" in page
    route_all_pending(sessions, org.id)
    page = client.get(f"/conversations/{conversation_id}").text
    assert "queue Agency first line: default for other" in page
    assert "policy version 1" in page
