"""Tables for the organisation's accounts on each platform and the raw events they deliver."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from townhall.core.time import utcnow
from townhall.db import Base


def new_channel_key() -> str:
    """A public, URL-safe, unguessable name for a channel in webhook URLs (96 random bits).

    Hex, not base64: a key starting with "-" would be read as an option by the CLI.
    """
    return secrets.token_hex(12)


class ChannelAccount(Base):
    """The organisation's own account on one platform (e.g. @acme_air on X)."""

    __tablename__ = "channel_account"
    __table_args__ = (UniqueConstraint("org_id", "platform", "handle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    platform: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    # Which registered connector speaks to this account ("fake" in tests and the demo).
    connector: Mapped[str] = mapped_column(String(64), default="fake")
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    # The channel's name in its webhook URL (/hooks/{key}); public, so it grants nothing alone.
    key: Mapped[str] = mapped_column(String(64), unique=True, default=new_channel_key)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundEventStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    # Could not be turned into messages; kept with its reason (a dead letter), never retried.
    FAILED = "failed"


class InboundEvent(Base):
    """One webhook delivery exactly as it arrived, stored before it is acknowledged.

    Workers turn pending events into messages (see ``townhall.pipeline.ingest_events``).
    """

    __tablename__ = "inbound_event"
    __table_args__ = (
        # A platform's retry of the same delivery is recognised and stored once.
        UniqueConstraint("channel_account_id", "external_id"),
        # Workers look only for pending events; the partial index stays as small as the backlog.
        Index(
            "ix_inbound_event_pending",
            "org_id",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_account.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=InboundEventStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
