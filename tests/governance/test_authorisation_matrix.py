"""Every route × every role: who may use it, who is refused, who is not even told it exists.

The expectations are a table. A route of ``create_app()`` that the table does not classify
fails ``test_every_route_is_classified``: a new route is not done until it is in here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Mount

from factories import item, store
from townhall.conversations.models import Conversation, Message
from townhall.governance.models import User
from townhall.inbox.actions import do_add_note
from townhall.inbox.models import Notification
from townhall.integrations.actions import do_create_subscription
from townhall.knowledge.actions import KbAnswerInput, do_create_kb_answer
from townhall.routing.models import Queue
from townhall.web import create_app

from .conftest import login, make_org_with_every_role

# Outcome classes.
ALLOW = "allow"  # 2xx, 3xx other than to the sign-in page, or 422 (authorised, input judged)
LOGIN = "redirect to /login"
UNAUTHORISED = "401"
FORBIDDEN = "403"
HIDDEN = "404"  # existence is not disclosed

ANONYMOUS = "anonymous"
ROLES = ("admin", "lead", "agent", "agency_agent", "reviewer", "executive")
SIGNED_IN = {
    "admin": "admin@demo.example",
    "lead": "lead@demo.example",  # Customer Service lead
    "agent": "cs@demo.example",  # Customer Service agent
    "agency_agent": "agency@demo.example",
    "reviewer": "reviewer@demo.example",  # Customer Service reviewer
    "executive": "exec@demo.example",
}

# Served by FastAPI or Starlette themselves, not by Townhall's code.
NOT_CLASSIFIED = {
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/docs/oauth2-redirect"),
}
STATIC_MOUNTS = {"/static"}


def roles(default: str, anonymous: str, **overrides: str) -> dict[str, str]:
    expected = dict.fromkeys(ROLES, default)
    expected.update(overrides)
    expected[ANONYMOUS] = anonymous
    return expected


@dataclass(frozen=True)
class Probe:
    """One request; ``{in_house}``, ``{agency}`` and ``{restricted}`` in the path are ids of
    a conversation kept in-house, one the agency may handle, and a restricted HR one."""

    path: str
    expect: dict[str, str]
    form: dict[str, str] | None = None
    json: Any = None
    note: str = ""
    stream: bool = False  # an endless response (server-sent events): only its start is read


def page_for_everyone() -> dict[str, str]:
    return roles(ALLOW, LOGIN)


def admin_page() -> dict[str, str]:
    return roles(FORBIDDEN, LOGIN, admin=ALLOW)


def kb_page() -> dict[str, str]:
    return roles(FORBIDDEN, LOGIN, admin=ALLOW, lead=ALLOW)


def admin_and_executive_page() -> dict[str, str]:
    return roles(FORBIDDEN, LOGIN, admin=ALLOW, executive=ALLOW)


KINDS = ("in_house", "agency", "restricted")


def per_conversation(
    path: str,
    anonymous: str,
    *,
    form: dict[str, str] | None = None,
    acting: bool = False,
    stream: bool = False,
    **overrides: dict[str, str],
) -> list[Probe]:
    """Three probes, one per kind of conversation: ``{c}`` in ``path`` and the form's values
    becomes ``in_house``, ``agency`` or ``restricted`` (``{{{c}}}`` is the conversation's id,
    ``{{{c}_message}}`` its first message's, ``{{{c}_queue}}`` its queue's). ``acting`` routes
    change state, so executives (read-only) are refused. ``overrides`` per kind."""
    refused = {"executive": FORBIDDEN} if acting else {}
    expected = {
        "in_house": roles(ALLOW, anonymous, agency_agent=HIDDEN, **refused),
        "agency": roles(ALLOW, anonymous, **refused),
        "restricted": roles(HIDDEN, anonymous, admin=ALLOW),
    }
    return [
        Probe(
            path.replace("{c}", kind),
            {**expected[kind], **overrides.get(kind, {})},
            form=None if form is None else {k: v.replace("{c}", kind) for k, v in form.items()},
            stream=stream,
        )
        for kind in KINDS
    ]


def conversation(prefix: str, anonymous: str) -> list[Probe]:
    return per_conversation(prefix + "{{c}}", anonymous)


MATRIX: dict[tuple[str, str], list[Probe]] = {
    # Public.
    ("GET", "/healthz"): [Probe("/healthz", roles(ALLOW, ALLOW))],
    ("GET", "/login"): [Probe("/login", roles(ALLOW, ALLOW))],
    ("POST", "/login"): [
        # Without the sign-in form's own token everyone is refused; signing in is covered by
        # tests/web/test_auth.py.
        Probe("/login", roles(FORBIDDEN, FORBIDDEN), form={"email": "x@y.z", "password": "x"})
    ],
    ("GET", "/"): [Probe("/", roles(ALLOW, ALLOW), note="redirects to /inbox")],
    # The inbox.
    ("GET", "/inbox"): [Probe("/inbox", page_for_everyone())],
    ("GET", "/conversations/{conversation_id}"): conversation("/conversations/", LOGIN),
    ("GET", "/conversations/{conversation_id}/presence"): per_conversation(
        "/conversations/{{c}}/presence", LOGIN, stream=True
    ),
    ("POST", "/conversations/{conversation_id}/presence"): per_conversation(
        "/conversations/{{c}}/presence",
        LOGIN,
        form={"state": "viewing"},
        acting=True,
        restricted={"executive": FORBIDDEN},  # refused for the role before the lookup
    ),
    ("POST", "/conversations/{conversation_id}/status"): per_conversation(
        "/conversations/{{c}}/status", LOGIN, form={"status": "open"}, acting=True
    ),
    ("POST", "/conversations/{conversation_id}/claim"): per_conversation(
        "/conversations/{{c}}/claim", LOGIN, form={}, acting=True
    ),
    ("POST", "/conversations/{conversation_id}/assign"): per_conversation(
        "/conversations/{{c}}/assign",
        LOGIN,
        form={"user_id": "{agent_user}"},
        acting=True,
        agency={"agency_agent": FORBIDDEN},  # agency staff may claim, not assign to others
    ),
    ("POST", "/conversations/{conversation_id}/notes"): per_conversation(
        "/conversations/{{c}}/notes", LOGIN, form={"body": "see @sales"}, acting=True
    ),
    ("POST", "/conversations/{conversation_id}/reply"): per_conversation(
        "/conversations/{{c}}/reply", LOGIN, form={"text": "Thank you!"}, acting=True
    ),
    ("POST", "/messages/{message_id}/correct"): per_conversation(
        "/messages/{{c}_message}/correct",
        LOGIN,
        form={"field": "intent", "label": "threat"},
        acting=True,
    ),
    ("POST", "/messages/{message_id}/approve"): per_conversation(
        # An inbound message is not waiting for approval: the approvers get 422 (ALLOW).
        "/messages/{{c}_message}/approve",
        LOGIN,
        form={},
        acting=True,
        in_house={"agent": FORBIDDEN, "reviewer": FORBIDDEN},
        agency={"agent": FORBIDDEN, "reviewer": FORBIDDEN, "agency_agent": FORBIDDEN},
    ),
    ("POST", "/messages/{message_id}/retry"): per_conversation(
        "/messages/{{c}_message}/retry", LOGIN, form={}, acting=True
    ),
    # The JSON API.
    ("GET", "/api/v1/conversations"): [Probe("/api/v1/conversations", roles(ALLOW, UNAUTHORISED))],
    ("GET", "/api/v1/conversations/{conversation_id}"): conversation(
        "/api/v1/conversations/", UNAUTHORISED
    ),
    ("POST", "/api/v1/items"): [
        Probe("/api/v1/items", roles(ALLOW, UNAUTHORISED, executive=FORBIDDEN), json=[])
    ],
    # Ownership audit (admins and executives).
    ("GET", "/advisor/audit"): [Probe("/advisor/audit", admin_and_executive_page())],
    ("GET", "/advisor/audit.json"): [Probe("/advisor/audit.json", admin_and_executive_page())],
    ("GET", "/advisor/audit/report.html"): [
        Probe("/advisor/audit/report.html", admin_and_executive_page())
    ],
    # Routing metrics: leads and admins; executives read them.
    ("GET", "/reports/routing"): [
        Probe(
            "/reports/routing?days=30",
            roles(FORBIDDEN, LOGIN, admin=ALLOW, lead=ALLOW, executive=ALLOW),
        )
    ],
    # Availability for automatic assignment: only people who are given work set it.
    ("POST", "/me/availability"): [
        Probe(
            "/me/availability",
            roles(FORBIDDEN, LOGIN, agent=ALLOW, lead=ALLOW, agency_agent=ALLOW),
            form={"availability": "away"},
        )
    ],
    ("GET", "/conversations/{conversation_id}/suggestions"): per_conversation(
        "/conversations/{{c}}/suggestions", LOGIN
    ),
    # Bulk actions: each conversation is authorised inside; an empty tag is judged (422).
    ("POST", "/inbox/bulk"): [
        Probe(
            "/inbox/bulk",
            roles(ALLOW, LOGIN, executive=FORBIDDEN),
            form={"action": "tag", "tag": "", "conversation_ids": "{in_house}"},
        )
    ],
    # Notifications: one's own only ({admin_notification} is the admin's).
    ("GET", "/notifications"): [Probe("/notifications", page_for_everyone())],
    ("GET", "/notifications/badge"): [Probe("/notifications/badge", page_for_everyone())],
    ("POST", "/notifications/read-all"): [
        Probe("/notifications/read-all", page_for_everyone(), form={})
    ],
    ("POST", "/notifications/{notification_id}/read"): [
        Probe(
            "/notifications/{admin_notification}/read",
            roles(HIDDEN, LOGIN, admin=ALLOW),
            form={},
            note="someone else's notification does not exist for you",
        )
    ],
    # Dashboards (read-only; executives, admins, in-house leads).
    ("GET", "/dashboards"): [
        Probe("/dashboards", roles(FORBIDDEN, LOGIN, admin=ALLOW, lead=ALLOW, executive=ALLOW))
    ],
    # The knowledge base: admins and in-house department leads.
    ("GET", "/admin/kb"): [Probe("/admin/kb", kb_page())],
    ("GET", "/admin/kb/new"): [Probe("/admin/kb/new", kb_page())],
    ("GET", "/admin/kb/{answer_id}"): [Probe("/admin/kb/{kb_answer}", kb_page())],
    ("POST", "/admin/kb"): [
        Probe("/admin/kb", kb_page(), form={"title": ""}, note="editors get 422: empty")
    ],
    ("POST", "/admin/kb/{answer_id}"): [
        Probe("/admin/kb/{kb_answer}", kb_page(), form={"title": ""}, note="422: empty")
    ],
    ("POST", "/admin/kb/{answer_id}/active"): [
        Probe(
            "/admin/kb/{kb_answer}/active",
            kb_page(),
            form={"active": "true"},
            note="editors get 422: it is already active",
        )
    ],
    # Administration.
    ("GET", "/admin/policy"): [Probe("/admin/policy", admin_page())],
    ("POST", "/admin/policy/validate"): [
        Probe("/admin/policy/validate", admin_page(), form={"text": ""})
    ],
    ("POST", "/admin/policy"): [
        Probe("/admin/policy", admin_page(), form={"text": ""}, note="admin gets 422: empty")
    ],
    ("GET", "/admin/audit"): [Probe("/admin/audit", admin_page())],
    ("GET", "/admin/audit.jsonl"): [Probe("/admin/audit.jsonl", admin_page())],
    # Outgoing webhooks and dead letters ({webhook} is a subscription of the organisation).
    ("GET", "/admin/webhooks"): [Probe("/admin/webhooks", admin_page())],
    ("POST", "/admin/webhooks"): [
        Probe("/admin/webhooks", admin_page(), form={"url": ""}, note="admin gets 422: no URL")
    ],
    ("POST", "/admin/webhooks/{subscription_id}/active"): [
        Probe(
            "/admin/webhooks/{webhook}/active",
            admin_page(),
            form={"active": "true"},
            note="admin gets 422: already enabled",
        )
    ],
    ("POST", "/admin/webhooks/{subscription_id}/rotate"): [
        Probe("/admin/webhooks/{webhook}/rotate", admin_page(), form={})
    ],
    ("GET", "/admin/dead-letters"): [Probe("/admin/dead-letters", admin_page())],
    ("POST", "/admin/dead-letters/{source}/{item_id}/retry"): [
        Probe(
            "/admin/dead-letters/replies/{agency_message}/retry",
            admin_page(),
            form={},
            note="admin gets 422: an inbound message is not a failed reply",
        )
    ],
    ("POST", "/admin/dead-letters/{source}/{item_id}/discard"): [
        Probe("/admin/dead-letters/replies/{agency_message}/discard", admin_page(), form={})
    ],
    # Transferring to the queue it is already in changes nothing, so it can run late.
    ("POST", "/conversations/{conversation_id}/transfer"): per_conversation(
        "/conversations/{{c}}/transfer", LOGIN, form={"queue_id": "{{c}_queue}"}, acting=True
    ),
    # Machines, not people: a webhook is authorised by its channel's signature alone (a signed-in
    # session grants nothing; tests/channels/test_webhook.py covers the signatures), and the
    # metrics are open unless TOWNHALL_METRICS_TOKEN is set (tests/test_metrics.py).
    ("POST", "/hooks/{channel}"): [
        Probe("/hooks/no-such-channel", roles(UNAUTHORISED, UNAUTHORISED), json={"items": []})
    ],
    ("GET", "/metrics"): [Probe("/metrics", roles(ALLOW, ALLOW))],
    # Signing out ends the session, so it is probed last.
    ("POST", "/logout"): [Probe("/logout", page_for_everyone(), form={})],
}

# Cells where the application does not (yet) do what the table says. Each must still deviate:
# once fixed, the test fails until the entry is removed here.
KNOWN_GAPS: dict[tuple[str, str, str], str] = {}

SIGN_IN_ROUTES = {("POST", "/login"), ("POST", "/logout")}
# A person's own reading state, not the organisation's data: executives may change it too.
PERSONAL_ROUTES = {("POST", "/notifications/read-all")}
# Department leads maintain the knowledge base with the admins.
ADMIN_AND_LEAD_PREFIXES = ("/admin/kb",)
# Authorised by their own credential instead of a person's sign-in (see their entries above).
MACHINE_ROUTES = {("POST", "/hooks/{channel}"), ("GET", "/metrics")}


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, descending into included routers."""

    def walk(routes: list[Any]) -> Iterator[tuple[str, str]]:
        for route in routes:
            if isinstance(route, Mount) and route.path in STATIC_MOUNTS:
                continue
            if hasattr(route, "effective_candidates"):  # FastAPI's included router
                yield from walk(route.effective_candidates())
                continue
            inner = getattr(route, "original_route", route)
            methods = getattr(inner, "methods", None)
            path = getattr(route, "path", None)
            if not methods or path is None:
                raise AssertionError(f"cannot classify route object {route!r}: teach app_routes")
            for method in sorted(methods - {"HEAD"}):
                yield method, path

    return walk(list(app.routes))


def test_every_route_is_classified() -> None:
    routes = set(app_routes(create_app()))
    unclassified = sorted(routes - set(MATRIX) - NOT_CLASSIFIED)
    assert not unclassified, (
        "routes without an entry in MATRIX (say who may use them): "
        + ", ".join(f"{m} {p}" for m, p in unclassified)
    )
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"MATRIX entries for routes that no longer exist: {stale}"


def test_the_table_follows_the_rules() -> None:
    """The rules every entry must obey, so a new entry cannot quietly loosen them."""
    for (method, path), probes in MATRIX.items():
        for probe in probes:
            where = f"{method} {path} ({probe.path})"
            if (method, path) in MACHINE_ROUTES:
                # Nobody's role changes what a machine credential allows.
                assert len(set(probe.expect.values())) == 1, where
                continue
            allowed = {r for r in ROLES if probe.expect[r] == ALLOW}
            if path.startswith(ADMIN_AND_LEAD_PREFIXES):
                assert allowed == {"admin", "lead"}, where
            elif path.startswith("/admin/"):
                assert allowed == {"admin"}, where
            if method != "GET" and (method, path) not in SIGN_IN_ROUTES | PERSONAL_ROUTES:
                assert probe.expect["executive"] in (FORBIDDEN, HIDDEN), where
            if "{in_house" in probe.path or "{restricted" in probe.path:
                assert probe.expect["agency_agent"] == HIDDEN, where
            if "{restricted" in probe.path:
                assert {r for r in ROLES if probe.expect[r] == ALLOW} == {"admin"}, where
            if path.startswith("/api/"):
                assert probe.expect[ANONYMOUS] == UNAUTHORISED, where
            elif path not in {"/", "/login", "/healthz"}:
                assert probe.expect[ANONYMOUS] == LOGIN, where


def outcome(response: httpx.Response) -> str:
    status = response.status_code
    if status in (302, 303, 307) and response.headers.get("location", "").startswith(
        "/login?next="
    ):
        return LOGIN
    return {401: UNAUTHORISED, 403: FORBIDDEN, 404: HIDDEN}.get(
        status, ALLOW if status < 400 or status == 422 else f"status {status}"
    )


def _world(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Three conversations, each in a queue that matches what it is, and their ids."""
    org = make_org_with_every_role(sessions)
    store(
        sessions,
        org.id,
        item("in-house", text="why are you focusing on this market?"),
        item("agency", text="when is your webinar?"),
        item("restricted", text="an employee posted our roadmap"),
    )
    queue_of = {"in-house": "Customer care", "agency": "Routine support", "restricted": "HR"}
    ids: dict[str, int] = {"agent_user": org.users["cs"].id}
    with sessions() as session, session.begin():
        queues = {q.name: q for q in session.scalars(select(Queue).where(Queue.org_id == org.id))}
        for conversation in session.scalars(select(Conversation)):
            queue = queues[queue_of[conversation.thread_key]]
            conversation.queue_id = queue.id
            conversation.owner_department_id = queue.department_id
            conversation.agency_allowed = queue.agency_allowed
            conversation.restricted = queue.restricted
            kind = conversation.thread_key.replace("-", "_")
            ids[kind] = conversation.id
            ids[f"{kind}_queue"] = queue.id
            ids[f"{kind}_message"] = (
                session.scalars(
                    select(Message.id).where(Message.conversation_id == conversation.id)
                ).first()
                or 0
            )
        ids["webhook"] = do_create_subscription(
            session,
            session.get_one(User, org.users["admin"].id),
            url="https://receiver.example/townhall",
            event_types=["message.replied"],
        ).id
    with sessions() as session, session.begin():
        admin = session.get(User, org.users["admin"].id)
        agency_conversation = session.get(Conversation, ids["agency"])
        assert admin is not None and agency_conversation is not None
        do_add_note(session, agency_conversation, org.users["cs"], "@admin please look")
        ids["admin_notification"] = session.scalars(
            select(Notification.id).where(Notification.user_id == admin.id)
        ).one()
        ids["kb_answer"] = do_create_kb_answer(
            session,
            org.id,
            KbAnswerInput("Wi-Fi", "Yes, on every aircraft.", ["is there wifi?", "wifi?"]),
            None,
        ).id
    return ids


class _Started(Exception):
    """Raised from ``send`` once the response has started: its status is all we need."""


def stream_status(app: FastAPI, path: str, cookies: dict[str, str]) -> httpx.Response:
    """GET an endless response (server-sent events) and stop reading once it has started."""
    seen: dict[str, Any] = {}
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
    }
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
            seen["headers"] = [(k.decode(), v.decode()) for k, v in message["headers"]]
            raise _Started

    try:
        anyio.run(app, scope, receive, send)
    except BaseException as error:  # the app may wrap it in an exception group
        if "status" not in seen:
            raise
        del error
    return httpx.Response(seen["status"], headers=seen["headers"])


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_authorisation_matrix(role: str, sessions: sessionmaker[Session]) -> None:
    ids = _world(sessions)
    app = create_app()
    client = TestClient(app, follow_redirects=False)
    csrf = login(client, SIGNED_IN[role]) if role != ANONYMOUS else ""
    mismatches: list[str] = []
    fixed_gaps: list[str] = []
    for (method, route), probes in MATRIX.items():
        for probe in probes:
            path = probe.path.format(**ids)
            if probe.stream:
                response = stream_status(app, path, dict(client.cookies))
            else:
                form = None
                if probe.form is not None:
                    form = {k: v.format(**ids) for k, v in probe.form.items()}
                    form["csrf_token"] = csrf
                response = client.request(method, path, data=form, json=probe.json)
            assert response.status_code < 500, f"{method} {path} as {role}: {response.text}"
            got, want = outcome(response), probe.expect[role]
            gap = KNOWN_GAPS.get((method, route, role))
            if gap is not None:
                if got == want:
                    fixed_gaps.append(f"{method} {route}: remove it from KNOWN_GAPS")
                continue
            if got != want:
                mismatches.append(f"{method} {path}: expected {want}, got {got}")
    assert not mismatches, f"as {role}:\n" + "\n".join(mismatches)
    assert not fixed_gaps, f"as {role}, known gaps are fixed:\n" + "\n".join(fixed_gaps)
