"""Tables for the inbox workflow: assignments, notes, notifications, corrections and the outbox."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from townhall.core.time import utcnow
from townhall.db import Base


class Assignment(Base):
    """Who worked a conversation and when; the current one has no ended_at."""

    __tablename__ = "assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    # Automatic assignments say why ("assigned by least loaded: 2 of 5 open"); NULL for people.
    reason: Mapped[str | None] = mapped_column(Text)


class InternalNote(Base):
    """A note only the organisation sees; it can @mention a department or a person."""

    __tablename__ = "internal_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """Something a person must look at: an @mention in a note, or an SLA warning or escalation.

    ``kind`` is "mention" (``note_id`` set), "sla_warning", "sla_breach" or "escalation"
    (``text`` says what happened).
    """

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    note_id: Mapped[int | None] = mapped_column(ForeignKey("internal_note.id"))
    kind: Mapped[str] = mapped_column(String(32), default="mention", server_default="mention")
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class UnderstandingCorrection(Base):
    """An agent fixed the intent or sentiment of an inbound message; the model learns from it."""

    __tablename__ = "understanding_correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), index=True)
    field: Mapped[str] = mapped_column(String(16))
    old: Mapped[str | None] = mapped_column(String(64))
    new: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxStatus(enum.StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    PENDING = "pending"
    FAILED = "failed"
    SENT = "sent"
    # A failed reply a person chose not to send after all; kept for the record.
    DISCARDED = "discarded"


class OutboxItem(Base):
    """One reply waiting to go out through its channel's connector; kept until it is sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # NULL once sent, or when a failure is not worth retrying (a person must re-queue it).
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]


class InboxSettings(Base):
    """Per-organisation switches of the inbox workflow (one row per organisation, optional)."""

    __tablename__ = "inbox_settings"

    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    # Agency staff's replies wait for an in-house lead or admin before they go out.
    agency_replies_need_approval: Mapped[bool] = mapped_column(default=False)


class ConversationTag(Base):
    """A label people put on conversations ("refund-2026", "outage") to find and count them."""

    __tablename__ = "conversation_tag"
    __table_args__ = (UniqueConstraint("conversation_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    tag: Mapped[str] = mapped_column(String(64))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
