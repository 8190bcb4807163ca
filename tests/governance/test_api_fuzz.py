"""Fuzz the JSON API from its own OpenAPI document: no input may produce a server error."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from factories import item, make_org, store
from townhall.governance.models import User
from townhall.governance.tokens import SCOPES, do_create_token
from townhall.web import create_app

MAX_EXAMPLES = 30

# The fuzzing is about the API's handling of input, so it runs on SQLite only (time); what it
# found is pinned below by regression tests that run on every backend.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
def test_api_survives_schema_driven_fuzzing(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    store(
        sessions,
        org.id,
        item("1", text="my bag is lost"),
        item("2", reply_to="1", text="still waiting", minute=3),
        item("3", platform="mastodon", handle="kim", text="great flight"),
    )
    with sessions() as session, session.begin():
        admin = session.get_one(User, org.users["admin"].id)
        _, secret = do_create_token(session, user=admin, name="fuzz", scopes=list(SCOPES))

    app = create_app()
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = sorted(operation.label for operation in operations)
    assert "GET /api/v1/conversations/{conversation_id}" in labels
    assert "POST /api/v1/items" in labels

    for operation in operations:
        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.label != "GET /healthz":  # nothing to get wrong: no parameters
            modes.append(schemathesis.GenerationMode.NEGATIVE)

        @given(case=st.one_of(*(operation.as_strategy(mode) for mode in modes)))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # The generated Authorization header is replaced by a token with every scope, so
            # the requests reach the code behind authentication.
            headers = {
                k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
            }
            headers["Authorization"] = f"Bearer {secret}"
            case.headers = headers
            case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])

        check()


# The API declares items as free-form objects (each is checked and reported by position), so
# the schema-driven fuzzer mostly produces rows that are rejected early. These are close to
# the interchange format, to reach ingestion itself.
_text = st.text(max_size=60)
_edge_ints = st.one_of(st.integers(-5, 5), st.integers(2**31 - 2, 2**31), st.integers(2**62, 2**80))
_times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2)).map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2026-13-01"]),
    _text,
)
_valid_time = st.just("2026-11-01T10:00:00Z")
_items = st.fixed_dictionaries(
    {
        "platform": st.one_of(st.sampled_from(["x", "mastodon", " Bluesky "]), _text),
        "external_id": st.one_of(st.sampled_from(["1", "2", " 3 "]), _text),
        "author": st.one_of(
            st.fixed_dictionaries(
                {"handle": st.one_of(st.sampled_from(["jane", "@Jane"]), _text)},
                optional={"name": _text, "followers": _edge_ints},
            ),
            _text,
        ),
        "text": st.one_of(
            st.just("hello"), _text, st.just("\x00nul"), st.text(min_size=19_990, max_size=20_010)
        ),
        "created_at": st.one_of(_valid_time, _times),
    },
    optional={
        "kind": st.sampled_from(["mention", "reply", "direct_message", "comment", "post", "x"]),
        "direction": st.sampled_from(["inbound", "outbound", "sideways"]),
        "in_reply_to": st.one_of(st.sampled_from(["1", "2", "", "missing"]), _text),
        "url": st.one_of(st.just("https://example.org/p/1"), _text),
        "extra": _edge_ints,
    },
)


@sqlite_only
def test_item_submission_survives_near_valid_items(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    with sessions() as session, session.begin():
        admin = session.get_one(User, org.users["admin"].id)
        _, secret = do_create_token(session, user=admin, name="fuzz", scopes=["ingest"])
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {secret}"})

    @given(items=st.lists(_items, max_size=4))
    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(items: list[dict[str, Any]]) -> None:
        response = client.post("/api/v1/items", json=items)
        assert response.status_code < 500, (items, response.text)
        body = response.json()
        assert body["ingested"] + body["duplicates"] + body["rejected"] == len(items), body

    check()


VALID = {
    "platform": "x",
    "external_id": "e1",
    "author": {"handle": "jane"},
    "text": "hello",
    "created_at": "2026-11-01T10:00:00Z",
}


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        # Each of these answered 500 before (found by fuzzing): now a rejected row or stored.
        ({"author": {"handle": "jane", "followers": 2**70}}, "rejected"),  # integer overflow
        ({"created_at": "0001-01-01T00:00:00+14:00"}, "rejected"),  # before year 1 in UTC
        ({"created_at": "9999-12-31T23:59:59-12:00"}, "rejected"),  # after year 9999 in UTC
        ({"text": "nul\x00inside"}, "ingested"),  # PostgreSQL refuses NUL in text
        ({"text": "\x00"}, "rejected"),  # nothing left: the text is empty
        ({"external_id": "\x00"}, "rejected"),
        ({"platform": "x\x00"}, "ingested"),
        ({"url": "https://example.org/\x00"}, "ingested"),
        ({"author": {"handle": "jane", "name": "Ja\x00ne"}}, "ingested"),
    ],
)
def test_items_that_used_to_crash_ingestion(
    sessions: sessionmaker[Session], change: dict[str, Any], outcome: str
) -> None:
    org = make_org(sessions)
    with sessions() as session, session.begin():
        admin = session.get_one(User, org.users["admin"].id)
        _, secret = do_create_token(session, user=admin, name="t", scopes=["ingest", "read"])
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {secret}"})
    response = client.post("/api/v1/items", json=[{**VALID, **change}])
    assert response.status_code == 200, response.text
    assert response.json()[outcome] == 1, response.json()
    listing = client.get("/api/v1/conversations").json()
    for row in listing["items"]:
        detail = client.get(f"/api/v1/conversations/{row['id']}")
        assert detail.status_code == 200
        assert all("\x00" not in m["text"] for m in detail.json()["messages"])
