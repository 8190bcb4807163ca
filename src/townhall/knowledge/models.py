"""Tables for the knowledge base: one row per answer, with the questions it answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from townhall.core.time import utcnow
from townhall.db import Base


class KbAnswer(Base):
    """An answer to a routine question, written by the organisation (never by a model)."""

    __tablename__ = "kb_answer"
    __table_args__ = (Index("ix_kb_answer_org_active", "org_id", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    title: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    # How customers ask for this answer; the matcher learns from these.
    examples: Mapped[list[str]] = mapped_column(JSON, default=list)
    # An ISO 639-1 code when the answer is written for one language only (None: any).
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class AutoAnswer(Base):
    """An inbound message that was answered automatically; at most one answer per message."""

    __tablename__ = "auto_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    # Unique: re-running the pipeline, or two workers at once, never answer a message twice.
    inbound_message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), unique=True)
    reply_message_id: Mapped[int] = mapped_column(ForeignKey("message.id"))
    kb_answer_id: Mapped[int] = mapped_column(ForeignKey("kb_answer.id"))
    score: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
