"""POST /hooks/{channel}: verify, store the raw event once, acknowledge; never a 500."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import Channel, item, make_channel, make_org
from townhall.channels.models import InboundEvent
from townhall.conversations.models import Message
from townhall.core.signing import signed_headers
from townhall.metrics import webhook_deliveries
from townhall.web import create_app


@pytest.fixture
def channel(sessions: sessionmaker[Session]) -> Channel:
    org = make_org(sessions)
    return make_channel(sessions, org.id)


@pytest.fixture
def client(sessions: sessionmaker[Session]) -> TestClient:
    return TestClient(create_app())


def deliver(client: TestClient, channel: Channel, body: bytes, **headers: str) -> Any:
    signed = signed_headers(channel.secret, body)
    signed.update(headers)
    return client.post(f"/hooks/{channel.key}", content=body, headers=signed)


def payload(*rows: dict[str, Any]) -> bytes:
    return json.dumps({"items": list(rows)}).encode()


def events(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(InboundEvent)) or 0


def test_a_valid_delivery_is_stored_raw_and_acknowledged(
    client: TestClient, channel: Channel, sessions: sessionmaker[Session]
) -> None:
    body = payload(item("100", text="my bag never arrived"))
    before = webhook_deliveries.labels("accepted")._value.get()
    response = deliver(client, channel, body)
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "event_id": response.json()["event_id"]}
    with sessions() as session:
        event = session.get_one(InboundEvent, response.json()["event_id"])
        assert (event.status, event.external_id, event.body) == ("pending", "100", body.decode())
        assert event.channel_account_id == channel.id
        # Acknowledged only: parsing into messages is the workers' job.
        assert session.scalar(select(func.count()).select_from(Message)) == 0
    assert webhook_deliveries.labels("accepted")._value.get() == before + 1


def test_a_repeated_delivery_is_a_duplicate_of_the_same_event(
    client: TestClient, channel: Channel, sessions: sessionmaker[Session]
) -> None:
    body = payload(item("1"), item("2"))
    first = deliver(client, channel, body).json()
    # The platform retries later with a new signature and the items in another order.
    again = deliver(client, channel, payload(item("2"), item("1")))
    assert again.status_code == 202
    assert again.json() == {"status": "duplicate", "event_id": first["event_id"]}
    assert events(sessions) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b"not json",
            {"item": None, "field": "body", "reason": "is not valid JSON (Expecting value)"},
        ),
        (
            b"\xff\xfe",
            {"item": None, "field": "body", "reason": "is not valid UTF-8 (invalid start byte)"},
        ),
        (b"[1, 2]", {"item": None, "field": "body", "reason": "must be a JSON object"}),
        (b'{"items": 3}', {"item": None, "field": "items", "reason": "must be a list"}),
        (
            b'{"items": []}',
            {"item": None, "field": "items", "reason": "the delivery contains no items"},
        ),
        (
            payload({**item("1"), "created_at": "2026-11-01T10:00:00"}),
            {
                "item": 1,
                "field": "created_at",
                "reason": "time has no timezone (add Z or an offset such as +02:00)",
            },
        ),
        (
            payload(item("1"), {**item("2"), "text": "  "}),
            {"item": 2, "field": "text", "reason": "text is empty"},
        ),
        (
            payload(item("1", platform="facebook")),
            {"item": 1, "field": "platform", "reason": "is 'facebook' but this channel is on 'x'"},
        ),
    ],
)
def test_malformed_bodies_get_400_naming_the_field_and_nothing_is_stored(
    client: TestClient,
    channel: Channel,
    sessions: sessionmaker[Session],
    body: bytes,
    expected: dict[str, Any],
) -> None:
    response = deliver(client, channel, body)
    assert response.status_code == 400, response.text
    assert expected in response.json()["detail"]
    assert events(sessions) == 0


def test_bad_signatures_and_unknown_channels_get_401_and_nothing_is_stored(
    client: TestClient, channel: Channel, sessions: sessionmaker[Session]
) -> None:
    body = payload(item("1"))
    wrong = replace(channel, secret="not-the-secret")
    cases = [
        (client.post(f"/hooks/{channel.key}", content=body), "missing X-Townhall-Timestamp"),
        (deliver(client, wrong, body), "does not match"),
        (deliver(client, channel, body, **{"X-Townhall-Timestamp": "1000"}), "too old"),
        (
            client.post(
                f"/hooks/{channel.key}",
                content=body,
                headers=signed_headers(channel.secret, body, timestamp=4_000_000_000),
            ),
            "in the future",
        ),
        (
            client.post(
                "/hooks/no-such-channel", content=body, headers=signed_headers(channel.secret, body)
            ),
            "unknown channel",
        ),
        (client.post("/hooks/%20..%2F", content=body), "unknown channel"),
    ]
    for response, reason in cases:
        assert response.status_code == 401, response.text
        assert reason in response.json()["detail"]
    assert events(sessions) == 0


def test_a_rotated_secret_refuses_the_old_one(
    client: TestClient, channel: Channel, sessions: sessionmaker[Session]
) -> None:
    from townhall.channels.actions import do_rotate_webhook_secret

    with sessions() as session, session.begin():
        _account, new_secret = do_rotate_webhook_secret(session, channel.key)
    body = payload(item("1"))
    assert deliver(client, channel, body).status_code == 401
    rotated = replace(channel, secret=new_secret)
    assert deliver(client, rotated, body).status_code == 202


def test_a_rotated_secret_refuses_the_old_one_even_after_the_channel_was_remembered(
    client: TestClient, channel: Channel, sessions: sessionmaker[Session]
) -> None:
    from townhall.channels.actions import do_rotate_webhook_secret

    assert deliver(client, channel, payload(item("1"))).status_code == 202  # now remembered
    with sessions() as session, session.begin():
        _account, new_secret = do_rotate_webhook_secret(session, channel.key)
    old = deliver(client, channel, payload(item("2")))
    assert old.status_code == 401, old.text
    assert deliver(client, channel, payload(item("1"))).status_code == 401  # even a duplicate
    rotated = replace(channel, secret=new_secret)
    assert deliver(client, rotated, payload(item("2"))).json()["status"] == "accepted"
    # And the other way round: the new secret is remembered, the old one still refused.
    assert deliver(client, channel, payload(item("3"))).status_code == 401
    assert events(sessions) == 2


def test_a_channel_whose_webhooks_were_switched_off_refuses_deliveries_at_once(
    client: TestClient, channel: Channel, sessions: sessionmaker[Session]
) -> None:
    from townhall.channels.models import ChannelAccount

    assert deliver(client, channel, payload(item("1"))).status_code == 202
    with sessions() as session, session.begin():
        session.get_one(ChannelAccount, channel.id).webhook_secret = None
    response = deliver(client, channel, payload(item("2")))
    assert response.status_code == 401
    assert "unknown channel" in response.json()["detail"]
    assert events(sessions) == 1


def test_an_oversized_body_gets_413(
    client: TestClient, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from townhall.config import get_settings

    monkeypatch.setattr(get_settings(), "webhook_max_bytes", 2048)
    body = payload(item("1", text="x" * 5000))
    response = deliver(client, channel, body)
    assert response.status_code == 413
    assert response.json()["detail"][0]["field"] == "body"


# Bodies a hostile or broken sender might sign: random bytes, random JSON, and real items with
# one field replaced by something random.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def _mutated_item_body(draw: st.DrawFn) -> bytes:
    row: dict[str, Any] = item(str(draw(st.integers(0, 10**6))))
    key = draw(st.sampled_from([*row, "author.handle", "author.followers"]))
    value = draw(_json)
    if key.startswith("author."):
        row["author"] = {**row["author"], key.split(".", 1)[1]: value}
    else:
        row[key] = value
    return json.dumps({"items": [row]}).encode()


_bodies = (
    st.binary(max_size=200)
    | _json.map(lambda value: json.dumps(value).encode())
    | st.dictionaries(st.just("items"), _json).map(lambda value: json.dumps(value).encode())
    | _mutated_item_body()
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_bodies)
def test_fuzzed_signed_bodies_never_get_a_server_error(
    client: TestClient, channel: Channel, sessions: sessionmaker[Session], body: bytes
) -> None:
    before = events(sessions)
    response = deliver(client, channel, body)
    assert response.status_code in (202, 400), response.text
    if response.status_code == 400:
        assert all(problem["field"] and problem["reason"] for problem in response.json()["detail"])
        assert events(sessions) == before
    else:
        assert response.json()["status"] in ("accepted", "duplicate")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=100),
    timestamp=st.text(max_size=15),
    signature=st.text(max_size=80),
    key=st.text(min_size=1, max_size=70),
)
def test_fuzzed_headers_and_keys_never_get_a_server_error(
    client: TestClient,
    channel: Channel,
    sessions: sessionmaker[Session],
    body: bytes,
    timestamp: str,
    signature: str,
    key: str,
) -> None:
    headers = {"X-Townhall-Timestamp": timestamp, "X-Townhall-Signature": signature}
    for path_key in (channel.key, quote(key, safe="")):
        try:
            response = client.post(f"/hooks/{path_key}", content=body, headers=headers)
        except UnicodeEncodeError:
            continue  # httpx refuses non-ASCII header values before sending: not our case
        assert response.status_code in (401, 404, 405), response.text
    assert events(sessions) == 0
