"""The interchange format: one inbound or outbound item as every channel and import speaks it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import to_json

from townhall.core.time import UtcDatetime, parse_aware

ItemKind = Literal["mention", "reply", "direct_message", "comment", "post"]
Direction = Literal["inbound", "outbound"]


def _drop_nul(value: Any) -> Any:
    # NUL is never meaningful in a post, and PostgreSQL cannot store it in a text column.
    return value.replace("\x00", "") if isinstance(value, str) else value


NoNul = BeforeValidator(_drop_nul)
# NoNul comes after the constraints so it wraps them: it still runs first, and the
# constraints stay inside pydantic-core instead of becoming Python validators.
Token = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul
]
# A source's own fields are kept as the raw payload up to this size (JSON characters): room
# for a platform's metadata, not for a file smuggled in beside a post.
MAX_RAW_PAYLOAD = 20_000
# Far beyond any real account, and within every database's integer column.
MAX_FOLLOWERS = 2**31 - 1


class Author(BaseModel):
    # Fields the format has no place for are kept (see InboundItem.source_extras).
    model_config = ConfigDict(extra="allow", frozen=True)

    handle: Token
    name: Annotated[str, StringConstraints(max_length=200), NoNul] | None = None
    followers: int = Field(default=0, ge=0, le=MAX_FOLLOWERS)

    @field_validator("handle")
    @classmethod
    def strip_at(cls, value: str) -> str:
        # "@Jane_Doe" and "jane_doe" are the same person on every platform we support.
        handle = value.lstrip("@").lower()
        if not handle:
            raise ValueError("handle is empty")
        return handle


class InboundItem(BaseModel):
    """One row of the interchange format (JSON Lines or CSV).

    A source's own fields beyond the format (a platform's like count, a language tag) are
    accepted and kept as the message's raw payload.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    platform: Annotated[
        str,
        StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=32),
        NoNul,
    ]
    external_id: Token
    kind: ItemKind = "mention"
    direction: Direction = "inbound"
    author: Author
    text: Annotated[str, StringConstraints(max_length=20_000), NoNul]
    created_at: datetime
    in_reply_to: Token | None = None
    url: Annotated[str, StringConstraints(max_length=2000), NoNul] | None = None

    @field_validator("created_at", mode="before")
    @classmethod
    def require_zone(cls, value: Any) -> Any:
        # Times without a zone are ambiguous across the organisation's offices: refuse them.
        if isinstance(value, str):
            try:
                return parse_aware(value)
            except OverflowError as error:  # e.g. year 1 with a +14:00 offset, in UTC
                raise ValueError("time is out of range") from error
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("time has no timezone (add Z or an offset such as +02:00)")
        return value

    @field_validator("in_reply_to", "url", mode="before")
    @classmethod
    def empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("text")
    @classmethod
    def text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value

    @model_validator(mode="after")
    def raw_payload_fits(self) -> InboundItem:
        if self.model_extra or self.author.model_extra:
            size = len(to_json(self.source_extras()))
            if size > MAX_RAW_PAYLOAD:
                raise ValueError(
                    f"fields beyond the interchange format take {size:,} characters as JSON;"
                    f" at most {MAX_RAW_PAYLOAD:,} are kept"
                )
        return self

    def source_extras(self) -> dict[str, Any]:
        """What the source sent beyond the interchange format, nested as it was sent."""
        extras = dict(self.model_extra or {})
        if self.author.model_extra:
            extras["author"] = dict(self.author.model_extra)
        return extras

    def record(self) -> ItemRecord:
        return ItemRecord(
            self.platform,
            self.external_id,
            self.kind,
            self.direction,
            self.author.handle,
            self.author.name,
            self.author.followers,
            self.text,
            self.created_at,
            self.in_reply_to,
            self.url,
            to_json(extras).decode() if (extras := self.source_extras()) else "{}",
        )


class ItemRecord(NamedTuple):
    """A validated item in the flat form ingest stores: cheap to build, to read and to pickle.

    A file import validates its rows in a second process and sends these back; rebuilding
    pydantic models on the storing side would cost as much as validating them did.
    """

    platform: str
    external_id: str
    kind: str
    direction: str
    handle: str
    name: str | None
    followers: int
    text: str
    created_at: datetime
    in_reply_to: str | None
    url: str | None
    # The message's raw payload: what the source sent beyond the format's fields (JSON text).
    # Everything else is in the record's own fields, so it is not stored twice.
    raw: str


class RowError(BaseModel):
    """Why one input row was rejected: the line, the field and the reason."""

    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


class IngestSummary(BaseModel):
    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    conversations_created: int = 0
    conversations_merged: int = 0

    def add(self, other: IngestSummary) -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class ConversationOut(BaseModel):
    id: int
    platform: str
    subject: str
    status: str
    priority: str
    message_count: int
    last_message_at: UtcDatetime
    contact_name: str | None
    queue: str | None
    owner_department: str | None
    restricted: bool
    agency_allowed: bool


class ConversationPageOut(BaseModel):
    items: list[ConversationOut]
    total: int
    page: int
    pages: int
    total_capped: bool = Field(
        default=False,
        description="True when more than `total` conversations match: counting stops at "
        "1,000, and `pages` then only says whether a next page exists.",
    )


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    platform: str
    external_id: str
    kind: str
    direction: str
    author_handle: str
    author_name: str | None
    text: str
    created_at: UtcDatetime
    in_reply_to: str | None
    url: str | None
    language: str | None
    sentiment: str | None
    sentiment_score: float | None
    intent: str | None
    intent_confidence: float | None
    risk_flags: list[str] | None
    urgency: str | None


class ConversationDetailOut(BaseModel):
    id: int
    platform: str
    subject: str
    status: str
    priority: str
    queue_id: int | None
    owner_department_id: int | None
    contact_id: int | None
    restricted: bool
    agency_allowed: bool
    messages: list[MessageOut]


class IngestResultOut(BaseModel):
    ingested: int
    duplicates: int
    rejected: int
    errors: list[RowError]
