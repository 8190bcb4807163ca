"""The resolution clock pauses while a conversation waits on the customer (and the sweep
finds paused clocks through a partial index).

Revision ID: 0014
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resolution_paused_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_conversation_resolution_paused",
            ["org_id"],
            unique=False,
            postgresql_where=sa.text("resolution_paused_at IS NOT NULL"),
            sqlite_where=sa.text("resolution_paused_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_resolution_paused")
        batch_op.drop_column("resolution_paused_at")
