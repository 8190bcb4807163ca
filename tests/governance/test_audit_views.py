"""The audit log pages for admins, the JSON Lines export, and audited views of sensitive
conversations."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import Org, item, make_org, store
from townhall.conversations.models import Conversation
from townhall.governance import audit
from townhall.governance.models import AuditEvent, User
from townhall.governance.tokens import do_create_token
from townhall.governance.views_audit import AUDIT_PAGE_SIZE

from .conftest import login


def _conversations(sessions: sessionmaker[Session], org: Org) -> dict[str, int]:
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
        rows["hr"].owner_department_id = org.departments["HR"]
        return {key: c.id for key, c in rows.items()}


def _actions(html: str) -> list[str]:
    return re.findall(r'data-testid="audit-action">([^<]+)', html)


def _views(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "conversation.view")
                .order_by(AuditEvent.id)
            )
        )


def test_views_of_sensitive_conversations_are_audited(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    org = make_org(sessions)
    ids = _conversations(sessions, org)
    login(client, "agency@demo.example")
    assert client.get(f"/conversations/{ids['routine']}").status_code == 200
    assert client.get(f"/api/v1/conversations/{ids['routine']}").status_code == 200
    assert client.get(f"/conversations/{ids['in-house']}").status_code == 404  # not visible
    client.cookies.clear()
    login(client, "cs@demo.example")
    assert client.get(f"/conversations/{ids['in-house']}").status_code == 200  # not sensitive
    client.cookies.clear()
    login(client, "hr@demo.example")
    assert client.get(f"/conversations/{ids['hr']}").status_code == 200

    views = _views(sessions)
    assert [(v.actor_label, v.object_id, (v.after or {}).get("via")) for v in views] == [
        ("agency@demo.example", str(ids["routine"]), "page"),
        ("agency@demo.example", str(ids["routine"]), "api"),
        ("hr@demo.example", str(ids["hr"]), "page"),
    ]
    assert views[0].after == {
        "restricted": False,
        "agency_allowed": True,
        "agency_user": True,
        "via": "page",
    }
    assert views[2].after is not None and views[2].after["restricted"] is True
    with sessions() as session:
        assert audit.verify(session, org.id) == []


def test_admin_reads_the_log_newest_first_with_before_and_after(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    org = make_org(sessions)
    with sessions() as session, session.begin():
        audit.record(
            session,
            org_id=org.id,
            actor=None,
            action="conversation.transfer",
            object_type="conversation",
            object_id=7,
            before={"department": "Sales"},
            after={"department": "Customer Service"},
        )
    login(client, "admin@demo.example")
    page = client.get("/admin/audit")
    assert page.status_code == 200
    html = page.text
    actions = _actions(html)
    assert actions[:2] == ["user.login", "conversation.transfer"]  # newest first
    assert actions[-1] == "organisation.create"
    assert "&#34;department&#34;: &#34;Sales&#34;" in html or '"department": "Sales"' in html
    assert "Customer Service" in html

    only = client.get("/admin/audit", params={"action": "conversation.transfer"}).text
    assert _actions(only) == ["conversation.transfer"]
    prefix = client.get("/admin/audit", params={"action": "user."}).text
    assert _actions(prefix) == ["user.login"] + ["user.create"] * 5
    by_actor = client.get("/admin/audit", params={"actor": "ADMIN@demo"}).text
    assert _actions(by_actor) == ["user.login"]
    assert client.get("/admin/audit", params={"action": "bad action!"}).status_code == 422


def test_audit_log_pages(client: TestClient, sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    with sessions() as session, session.begin():
        for n in range(AUDIT_PAGE_SIZE + 5):
            audit.record(
                session, org_id=org.id, actor=None, action="test.bulk", object_type="x", object_id=n
            )
    login(client, "admin@demo.example")
    first = client.get("/admin/audit", params={"action": "test.bulk"}).text
    assert first.count('data-testid="audit-row"') == AUDIT_PAGE_SIZE
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = client.get("/admin/audit", params={"action": "test.bulk", "page": 2}).text
    assert second.count('data-testid="audit-row"') == 5
    # A page past the end shows the last one rather than an empty list.
    assert "Page 2 of 2" in client.get("/admin/audit", params={"page": 99}).text


def test_export_streams_the_chain_and_is_itself_audited(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    org = make_org(sessions)
    login(client, "admin@demo.example")
    response = client.get("/admin/audit.jsonl")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert rows[0]["prev_hash"] == audit.GENESIS_HASH
    assert all(rows[i]["prev_hash"] == rows[i - 1]["hash"] for i in range(1, len(rows)))
    assert {"id", "actor", "action", "before", "after", "created_at", "hash"} <= set(rows[0])

    filtered = client.get("/admin/audit.jsonl", params={"action": "user.create"}).text
    assert [json.loads(line)["action"] for line in filtered.splitlines()] == ["user.create"] * 5
    with sessions() as session:
        exports = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "audit_log.export")
        ).all()
        assert len(exports) == 2 and exports[1].after == {"action": "user.create", "actor": None}
        assert audit.verify(session, org.id) == []


def test_only_signed_in_admins_see_the_log(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    org = make_org(sessions)
    assert client.get("/admin/audit").headers["location"].startswith("/login")
    for email in ("cs@demo.example", "agency@demo.example", "exec@demo.example"):
        login(client, email)
        assert client.get("/admin/audit").status_code == 403, email
        assert client.get("/admin/audit.jsonl").status_code == 403, email
        client.cookies.clear()
    with sessions() as session, session.begin():
        admin = session.get_one(User, org.users["admin"].id)
        _, secret = do_create_token(session, user=admin, name="all", scopes=["read", "write"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/admin/audit.jsonl", headers=headers).status_code == 403
