"""Tables for conversations (threads) and the inbound and outbound messages in them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from townhall.core.time import utcnow
from townhall.db import Base


class ConversationStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


# What the inbox's visibility rule and filters test (see the inbox indexes below).
INBOX_FILTER_COLUMNS = (
    "org_id",
    "queue_id",
    "status",
    "platform",
    "owner_department_id",
    "agency_allowed",
    "restricted",
)


# The queue orderings hold routed conversations only: ingest creates conversations without a
# queue, and routing's update (which moves the row anyway) is what puts them in.
ROUTED = "queue_id IS NOT NULL"
# Inbox search reads messages once the understanding step has read them (seconds after they
# arrive) and the organisation's own replies. Ingest therefore never pays for the trigram
# index: understanding rewrites each message row anyway, and that write indexes it once.
SEARCHABLE_MESSAGE = "(understood_at IS NOT NULL OR direction = 'outbound')"


def _inbox_index(name: str, *keys: str, where: str | None = None) -> Index:
    """An index for one inbox ordering that carries the filter columns (INCLUDE) on PostgreSQL."""
    include = [c for c in INBOX_FILTER_COLUMNS if c not in keys]
    if where is None:
        return Index(name, *keys, postgresql_include=include)
    return Index(
        name,
        *keys,
        postgresql_include=include,
        postgresql_where=text(where),
        sqlite_where=text(where),
    )


class Conversation(Base):
    __tablename__ = "conversation"
    # The thread key is the external id of the thread's root as far as it is known; a reply
    # whose parent has not arrived yet waits under its parent's id (see conversations.ingest).
    __table_args__ = (
        UniqueConstraint("org_id", "platform", "thread_key"),
        # The key a message's (conversation, organisation) pair refers to (see Message).
        UniqueConstraint("id", "org_id"),
        # The inbox lists newest activity first, 50 at a time, optionally for one status or
        # queue: each of these reads the first page straight off the index, in order. On
        # PostgreSQL they also carry the columns the visibility rule and the other filters
        # test, so counting and filtering never visit the table (index-only scans).
        _inbox_index("ix_conversation_inbox", "org_id", "status", "last_message_at", "id"),
        _inbox_index(
            "ix_conversation_queue", "queue_id", "status", "last_message_at", "id", where=ROUTED
        ),
        _inbox_index("ix_conversation_recent", "org_id", "last_message_at", "id"),
        _inbox_index(
            "ix_conversation_queue_recent", "queue_id", "last_message_at", "id", where=ROUTED
        ),
        # Agency staff see only "agency_allowed AND NOT restricted": a partial index answers
        # their queue lists (an in-house queue is empty for them) without reading the rest.
        Index(
            "ix_conversation_agency_queue",
            "queue_id",
            "last_message_at",
            "id",
            postgresql_where=text("agency_allowed AND NOT restricted"),
            postgresql_include=["org_id", "status", "platform"],
        ).ddl_if(dialect="postgresql"),
        # Workers look for conversations not routed yet; the partial index holds only those.
        Index(
            "ix_conversation_unrouted",
            "org_id",
            "id",
            postgresql_where=text("queue_id IS NULL"),
            sqlite_where=text("queue_id IS NULL"),
        ),
        # Every SLA sweep looks for paused clocks a customer's message restarted; the partial
        # index holds only the (few) paused conversations, so that costs no scan.
        Index(
            "ix_conversation_resolution_paused",
            "org_id",
            postgresql_where=text("resolution_paused_at IS NOT NULL"),
            sqlite_where=text("resolution_paused_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    platform: Mapped[str] = mapped_column(String(32))
    # An external id (up to 200) or "dm:" + a handle (up to 200): room for both.
    thread_key: Mapped[str] = mapped_column(String(210))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    channel_account_id: Mapped[int | None] = mapped_column(ForeignKey("channel_account.id"))
    status: Mapped[str] = mapped_column(String(32), default=ConversationStatus.NEW)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id"))
    owner_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    # Until routing says otherwise a conversation is in-house only and not restricted.
    agency_allowed: Mapped[bool] = mapped_column(default=False)
    restricted: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str] = mapped_column(String(280), default="")
    message_count: Mapped[int] = mapped_column(default=0)
    first_message_at: Mapped[datetime]
    last_message_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # SLA due times set by routing, in the business hours of the team the queue belongs to.
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    # When the policy's warning share of each target has passed (business hours too), so the
    # SLA sweep finds due warnings with one indexed comparison.
    first_response_warn_at: Mapped[datetime | None]
    resolution_warn_at: Mapped[datetime | None]
    # Set while the conversation waits on the customer: the resolution clock stands still
    # (routing.sla_pause moves the due times on by the pause when it runs again).
    resolution_paused_at: Mapped[datetime | None]
    # Tags (people's, routing rules' and escalation's) live in inbox.models.ConversationTag.


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("org_id", "platform", "external_id"),
        # A message belongs to a conversation of its own organisation: one check per row
        # says both that the conversation exists and that the organisations agree.
        ForeignKeyConstraint(
            ["conversation_id", "org_id"], ["conversation.id", "conversation.org_id"]
        ),
        Index("ix_message_conversation_created", "conversation_id", "created_at"),
        # No index on in_reply_to: parents are found by their own external id (migration 0009).
        # Inbox search is a substring match (ILIKE '%word%') over searchable messages; on
        # PostgreSQL a trigram index serves it. SQLite scans, which is fine at its scale.
        Index(
            "ix_message_text_trgm",
            "text",
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
            postgresql_where=text(SEARCHABLE_MESSAGE),
        ).ddl_if(dialect="postgresql"),
        # Workers look for inbound messages not understood yet; only those are in this index.
        Index(
            "ix_message_not_understood",
            "org_id",
            "id",
            postgresql_where=text("understood_at IS NULL AND direction = 'inbound'"),
            sqlite_where=text("understood_at IS NULL AND direction = 'inbound'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int]
    conversation_id: Mapped[int]
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="mention")
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    author_identity_id: Mapped[int | None] = mapped_column(ForeignKey("contact_identity.id"))
    author_handle: Mapped[str] = mapped_column(String(200))
    author_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    in_reply_to: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Filled by the understanding step; NULL until then.
    language: Mapped[str | None] = mapped_column(String(8))
    sentiment: Mapped[str | None] = mapped_column(String(16))
    sentiment_score: Mapped[float | None]
    intent: Mapped[str | None] = mapped_column(String(64))
    intent_confidence: Mapped[float | None]
    risk_flags: Mapped[list[str] | None] = mapped_column(JSON)
    urgency: Mapped[str | None] = mapped_column(String(16))
    kb_answer_id: Mapped[str | None] = mapped_column(String(200))
    kb_score: Mapped[float | None]
    understood_at: Mapped[datetime | None]
    # Outbound replies written in Townhall: who wrote them and whether they went out
    # (awaiting_approval, pending, failed, sent; NULL for messages that came from a platform).
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    delivery_status: Mapped[str | None] = mapped_column(String(32))
    # An outbound reply Townhall sent from the knowledge base without a person (see
    # knowledge.auto_answer); shown as "automatic answer" in the thread.
    automatic: Mapped[bool] = mapped_column(default=False, server_default=false())
