"""A platform that lives in memory: it parses interchange payloads and records what it sends."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from townhall.channels.base import OutboundReply, ParsedPayload, SendFailed, SendResult
from townhall.conversations.readers import validate_row
from townhall.conversations.schemas import InboundItem, RowError


@dataclass
class FakeConnector:
    """Payloads look like ``{"items": [<interchange rows>]}``; sends can be made to fail."""

    platform: str = "fake"
    sent: list[OutboundReply] = field(default_factory=list)
    fail_next: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def parse(self, payload: Mapping[str, Any]) -> ParsedPayload:
        rows = payload.get("items")
        if not isinstance(rows, list):
            return ParsedPayload(
                items=[], errors=[RowError(line=0, field="items", reason="must be a list")]
            )
        items: list[InboundItem] = []
        errors: list[RowError] = []
        for index, row in enumerate(rows, start=1):
            parsed = validate_row(index, row)
            (errors if isinstance(parsed, RowError) else items).append(parsed)  # type: ignore[arg-type]
        return ParsedPayload(items=items, errors=errors)

    def send_reply(self, reply: OutboundReply) -> SendResult:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise SendFailed("fake platform unavailable", retryable=True)
        self.sent.append(reply)
        external_id = f"fake-out-{next(self._ids)}"
        return SendResult(external_id=external_id, url=f"https://fake.example/{external_id}")
