"""Conversation thread keys fit "dm:" plus the longest handle (203 characters).

Revision ID: 0010
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.alter_column(
            "thread_key",
            existing_type=sa.String(length=200),
            type_=sa.String(length=210),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.alter_column(
            "thread_key",
            existing_type=sa.String(length=210),
            type_=sa.String(length=200),
            existing_nullable=False,
        )
