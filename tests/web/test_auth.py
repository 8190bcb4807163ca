"""Sign-in, CSRF, lockout, API tokens and the error pages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from factories import make_org
from townhall.governance.models import User
from townhall.governance.tokens import do_create_token
from townhall.web import create_app

from .conftest import csrf_from, login


def test_pages_redirect_to_login_and_api_answers_401(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    assert client.get("/inbox").headers["location"] == "/login?next=/inbox"
    response = client.get("/api/v1/conversations")
    assert response.status_code == 401
    assert "API token" in response.json()["detail"]


def test_login_sets_httponly_samesite_cookie_and_logout_needs_csrf(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "email": "ADMIN@demo.example",
            "password": "correct-horse-battery",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "townhall_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/inbox").status_code == 200
    assert client.post("/logout", data={}).status_code == 403
    session_csrf = csrf_from(client.get("/inbox").text)
    assert client.post("/logout", data={"csrf_token": session_csrf}).status_code == 303
    assert client.get("/inbox").status_code == 303


def test_login_without_form_token_is_refused(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    response = client.post(
        "/login", data={"email": "admin@demo.example", "password": "correct-horse-battery"}
    )
    assert response.status_code == 403
    assert "townhall_session" not in response.headers.get("set-cookie", "")


def test_wrong_passwords_lock_the_account(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    for _ in range(5):
        token = csrf_from(client.get("/login").text)
        response = client.post(
            "/login",
            data={"email": "cs@demo.example", "password": "wrong-password!", "csrf_token": token},
        )
        assert response.status_code == 401
    assert "locked" in response.text
    token = csrf_from(client.get("/login").text)
    right = client.post(
        "/login",
        data={"email": "cs@demo.example", "password": "correct-horse-battery", "csrf_token": token},
    )
    assert right.status_code == 401
    assert "locked" in right.text


def test_unknown_user_and_open_redirect(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"email": "nobody@x.example", "password": "whatever-long", "csrf_token": token},
    )
    assert response.status_code == 401
    assert "Wrong email or password" in response.text
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "email": "admin@demo.example",
            "password": "correct-horse-battery",
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/inbox"


def test_api_token_scopes(client: TestClient, sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    with sessions() as session, session.begin():
        admin = session.get_one(User, org.users["admin"].id)
        _, read_only = do_create_token(session, user=admin, name="reader", scopes=["read"])
        _, ingester = do_create_token(session, user=admin, name="importer", scopes=["ingest"])
    item = {
        "platform": "x",
        "external_id": "9",
        "author": {"handle": "a"},
        "text": "hi",
        "created_at": "2026-11-01T00:00:00Z",
    }
    assert (
        client.post(
            "/api/v1/items", json=[item], headers={"Authorization": f"Bearer {read_only}"}
        ).status_code
        == 403
    )
    response = client.post(
        "/api/v1/items",
        json=[item, {"platform": "x"}],
        headers={"Authorization": f"Bearer {ingester}"},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["ingested"], body["rejected"]) == (1, 1)
    assert body["errors"][0]["line"] == 2 and body["errors"][0]["field"] == "external_id"
    listing = client.get("/api/v1/conversations", headers={"Authorization": f"Bearer {read_only}"})
    assert listing.json()["total"] == 1
    assert (
        listing.json()["items"][0]["last_message_at"].endswith("Z")
        or "+00:00" in listing.json()["items"][0]["last_message_at"]
    )
    assert (
        client.get("/api/v1/conversations", headers={"Authorization": "Bearer th_nope"}).status_code
        == 401
    )


def test_malformed_requests_get_4xx_not_500(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    login(client, "admin@demo.example")
    for path in (
        "/inbox?page=0",
        "/inbox?page=abc",
        "/inbox?status=bogus",
        "/inbox?queue=1;drop",
        "/conversations/99999999999999",
        "/conversations/abc",
        "/api/v1/conversations?queue_id=-1",
        "/api/v1/conversations/0",
    ):
        response = client.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code)
    assert (
        client.post(
            "/api/v1/items", content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 422
    )
    assert client.post("/api/v1/items", json={"not": "a list"}).status_code == 422
    assert client.get("/conversations/123").status_code == 404


def test_health_and_openapi(client: TestClient, sessions: sessionmaker[Session]) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/conversations" in spec["paths"] and "/api/v1/items" in spec["paths"]


def test_a_change_is_committed_before_it_is_acknowledged(
    engine: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 303 after a form means the change is stored: a failed commit is never reported done."""
    org = make_org(sessions)
    client = TestClient(create_app(), follow_redirects=False, raise_server_exceptions=False)
    csrf = login(client, "cs@demo.example")

    def failing_commit(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("the database went away"))

    monkeypatch.setattr(Session, "commit", failing_commit)
    response = client.post("/me/availability", data={"availability": "away", "csrf_token": csrf})
    monkeypatch.undo()
    assert response.status_code == 503, response.status_code
    with sessions() as session:
        assert session.get_one(User, org.users["cs"].id).availability == "on_shift"


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    from townhall.web import SECURITY_HEADERS

    for response in (
        client.get("/login"),
        client.get("/inbox"),  # a redirect
        client.get("/api/v1/conversations"),  # a 401
        client.post("/hooks/nope", content=b"{}"),  # the webhook's own JSON answer
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (response.request.url, name)
