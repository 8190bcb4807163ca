"""Tables for routing: queues, versions of the ownership policy and every routing decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from townhall.core.time import utcnow
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
    # Set when the active policy no longer has this queue: kept for history, nothing routes here.
    retired_at: Mapped[datetime | None]


class PolicyVersion(Base):
    """One applied version of an organisation's ownership policy; exactly one is active."""

    __tablename__ = "policy_version"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        # The database itself refuses a second active version (partial unique index).
        Index(
            "uq_policy_version_one_active",
            "org_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    author_label: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=False)


class RoutingDecisionRecord(Base):
    """Where a conversation was sent and why: by the policy, or by a person (``by_user_id``)."""

    __tablename__ = "routing_decision"
    __table_args__ = (
        Index("ix_routing_decision_conversation", "conversation_id", "created_at"),
        Index("ix_routing_decision_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_version.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id"))
    owner_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    kind: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16))
    agency_allowed: Mapped[bool]
    restricted: Mapped[bool]
    matched_rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The policy's decision as plain data (rules.RoutingDecision.to_dict); empty for manual moves.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    explanation: Mapped[str] = mapped_column(Text)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaEvent(Base):
    """An SLA warning or breach of one conversation's clock, acted on exactly once.

    The unique key is the claim: whichever worker inserts the row first sends the
    notifications and runs the escalation; every other worker's insert is refused.
    """

    __tablename__ = "sla_event"
    __table_args__ = (
        UniqueConstraint("conversation_id", "clock", "stage"),
        Index("ix_sla_event_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id"))
    clock: Mapped[str] = mapped_column(String(16))  # "first_response" or "resolution"
    stage: Mapped[str] = mapped_column(String(16))  # "warning" or "breach"
    due_at: Mapped[datetime]
    # What was done: who was told, priority before and after, the queue it moved to.
    actions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
