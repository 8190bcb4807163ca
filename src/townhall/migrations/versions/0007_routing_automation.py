"""routing automation: availability, automatic assignment reasons, SLA warnings and events

Revision ID: 0007
Revises: 0009
Create Date: 2026-11-23 15:32:34.049250
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("clock", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_sla_event_conversation_id_conversation"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_sla_event_org_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queue.id"], name=op.f("fk_sla_event_queue_id_queue")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_event")),
        sa.UniqueConstraint(
            "conversation_id",
            "clock",
            "stage",
            name=op.f("uq_sla_event_conversation_id_clock_stage"),
        ),
    )
    with op.batch_alter_table("sla_event", schema=None) as batch_op:
        batch_op.create_index("ix_sla_event_org_created", ["org_id", "created_at"], unique=False)

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_response_warn_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("resolution_warn_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=32), server_default="mention", nullable=False)
        )
        batch_op.add_column(sa.Column("text", sa.Text(), nullable=True))
        batch_op.alter_column("note_id", existing_type=sa.INTEGER(), nullable=True)

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "availability", sa.String(length=16), server_default="on_shift", nullable=False
            )
        )


def downgrade() -> None:
    # Notifications without a note (SLA warnings, escalations) cannot exist in the old schema.
    op.execute(sa.text("DELETE FROM notification WHERE note_id IS NULL"))
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("availability")

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.alter_column("note_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("text")
        batch_op.drop_column("kind")

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("resolution_warn_at")
        batch_op.drop_column("first_response_warn_at")

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_column("reason")

    with op.batch_alter_table("sla_event", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_event_org_created")

    op.drop_table("sla_event")
