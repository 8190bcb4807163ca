"""Tables for queues: where routed conversations wait for their owner department or the agency."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from townhall.db import Base


class Queue(Base):
    __tablename__ = "queue"
    __table_args__ = (UniqueConstraint("org_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    # Whether agency staff may work this queue at all; each conversation also carries its own flag.
    agency_allowed: Mapped[bool] = mapped_column(default=False)
    # Restricted queues (Risk, HR) are visible only to their department and admins.
    restricted: Mapped[bool] = mapped_column(default=False)
