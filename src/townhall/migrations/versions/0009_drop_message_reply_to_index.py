"""drop ix_message_reply_to: no query reads messages by the id they answer

Every look-up of a parent goes by its own (org, platform, external_id), which the unique
constraint already indexes; keeping this index only cost ingest one more b-tree insert per
message. Recreate it (downgrade) when a query starts filtering on in_reply_to.

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-23 16:02:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_reply_to")


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_reply_to", ["org_id", "platform", "in_reply_to"], unique=False
        )
