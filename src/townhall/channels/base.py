"""The connector protocol: what every platform integration provides, in small typed dataclasses.

Connectors never import ORM models. Inbound, a connector turns a platform's payload into
items of the interchange format (``InboundItem``), which the ingest step stores. Outbound, it
publishes a reply and says what the platform called it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from townhall.conversations.schemas import InboundItem, RowError


@dataclass(frozen=True)
class OutboundReply:
    """A reply to publish: on ``platform``, from the organisation's account ``account_handle``."""

    platform: str
    account_handle: str
    text: str
    in_reply_to: str | None  # the platform's id of the message being answered
    direct: bool = False  # a private message instead of a public reply
    recipient_handle: str | None = None


@dataclass(frozen=True)
class SendResult:
    external_id: str
    url: str | None = None


class SendFailed(Exception):
    """The platform refused or could not be reached; ``retryable`` says whether to try again."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.retryable = retryable


@dataclass(frozen=True)
class ParsedPayload:
    items: list[InboundItem]
    errors: list[RowError]


@runtime_checkable
class Connector(Protocol):
    """One platform. A new platform is one new module implementing this."""

    platform: str

    def parse(self, payload: Mapping[str, Any]) -> ParsedPayload:
        """Turn one webhook delivery or poll result into interchange items (and bad-item errors)."""
        ...

    def send_reply(self, reply: OutboundReply) -> SendResult:
        """Publish a reply; raise SendFailed when it did not go out."""
        ...
