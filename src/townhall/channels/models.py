"""Tables for the organisation's accounts on each platform."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from townhall.core.time import utcnow
from townhall.db import Base


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
