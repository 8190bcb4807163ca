"""The connector protocol, the registry and the fake connector."""

from __future__ import annotations

import pytest

from townhall.channels.base import Connector, OutboundReply, SendFailed
from townhall.channels.fake.connector import FakeConnector
from townhall.channels.registry import get_connector
from townhall.core.errors import NotFound


def test_registry_finds_the_fake_connector_by_entry_point() -> None:
    connector = get_connector("fake")
    assert isinstance(connector, Connector)
    with pytest.raises(NotFound):
        get_connector("carrier-pigeon")


def test_parse_keeps_good_items_and_explains_bad_ones() -> None:
    parsed = FakeConnector().parse(
        {
            "items": [
                {
                    "platform": "fake",
                    "external_id": "1",
                    "author": {"handle": "a"},
                    "text": "hi",
                    "created_at": "2026-11-01T00:00:00Z",
                },
                {"platform": "fake", "external_id": "2", "author": {"handle": "a"}, "text": "hi"},
            ]
        }
    )
    assert [i.external_id for i in parsed.items] == ["1"]
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "created_at")]
    assert FakeConnector().parse({"items": "nope"}).errors[0].field == "items"


def test_send_reply_records_and_can_fail() -> None:
    connector = FakeConnector(fail_next=1)
    reply = OutboundReply(platform="fake", account_handle="brand", text="hello", in_reply_to="1")
    with pytest.raises(SendFailed) as failure:
        connector.send_reply(reply)
    assert failure.value.retryable
    result = connector.send_reply(reply)
    assert result.external_id == "fake-out-1"
    assert connector.sent == [reply]
