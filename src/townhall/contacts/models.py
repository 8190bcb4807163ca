"""Tables for the unified customer record: a contact and its identities on each platform."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from townhall.core.time import utcnow
from townhall.db import Base


class Contact(Base):
    __tablename__ = "contact"
    # The key an identity's (contact, organisation) pair refers to (see ContactIdentity).
    __table_args__ = (UniqueConstraint("id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Sales pipeline: none, new, qualified, accepted, rejected, won, lost.
    lead_status: Mapped[str] = mapped_column(String(32), default="none")
    is_journalist: Mapped[bool] = mapped_column(default=False)
    journalist_outlet: Mapped[str | None] = mapped_column(String(200))
    is_vip: Mapped[bool] = mapped_column(default=False)
    is_employee: Mapped[bool] = mapped_column(default=False)
    followers: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactIdentity(Base):
    """One handle on one platform; contacts are merged by these."""

    __tablename__ = "contact_identity"
    __table_args__ = (
        UniqueConstraint("org_id", "platform", "handle"),
        # An identity belongs to a contact of its own organisation: one check per row says
        # both that the contact exists and that the organisations agree (and, as the
        # contact's organisation exists, so does the identity's).
        ForeignKeyConstraint(["contact_id", "org_id"], ["contact.id", "contact.org_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int]
    contact_id: Mapped[int] = mapped_column(index=True)
    platform: Mapped[str] = mapped_column(String(32))
    # Stored lower-cased: handles are case-insensitive on every platform we know.
    handle: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    followers: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
