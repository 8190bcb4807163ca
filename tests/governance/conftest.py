"""A web client and users of every role, built through the real actions."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from factories import PASSWORD, Org, make_org
from townhall.governance.actions import do_create_user
from townhall.governance.models import Role
from townhall.web import create_app


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(), follow_redirects=False)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the real form and return the session's CSRF token."""
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/inbox").text)


def make_org_with_every_role(sessions: sessionmaker[Session]) -> Org:
    """``make_org``'s users plus a department lead and a reviewer."""
    org = make_org(sessions)
    with sessions() as session, session.begin():
        for key, role, department in (
            ("lead", Role.LEAD, "Customer Service"),
            ("reviewer", Role.REVIEWER, "Customer Service"),
        ):
            org.users[key] = do_create_user(
                session,
                org_id=org.id,
                acting_user=None,
                email=f"{key}@demo.example",
                name=key.title(),
                password=PASSWORD,
                role=role,
                department_id=org.departments[department],
            )
    return org
