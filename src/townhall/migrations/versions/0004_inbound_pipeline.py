"""inbound pipeline: webhook channel keys, raw inbound events, indexes of pending work

Revision ID: 0004
Revises: 0008
Create Date: 2026-11-23 15:40:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing accounts get a key before the column becomes required and unique.
    with op.batch_alter_table("channel_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    accounts = sa.table("channel_account", sa.column("id", sa.Integer), sa.column("key"))
    for (account_id,) in connection.execute(sa.select(accounts.c.id)).all():
        connection.execute(
            accounts.update().where(accounts.c.id == account_id).values(key=secrets.token_hex(12))
        )
    with op.batch_alter_table("channel_account", schema=None) as batch_op:
        batch_op.alter_column("key", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_channel_account_key"), ["key"])

    op.create_table(
        "inbound_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("channel_account_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_account_id"],
            ["channel_account.id"],
            name=op.f("fk_inbound_event_channel_account_id_channel_account"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_inbound_event_org_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_event")),
        sa.UniqueConstraint(
            "channel_account_id",
            "external_id",
            name=op.f("uq_inbound_event_channel_account_id_external_id"),
        ),
    )
    with op.batch_alter_table("inbound_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_event_pending",
            ["org_id", "id"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_not_understood",
            ["org_id", "id"],
            unique=False,
            postgresql_where=sa.text("understood_at IS NULL AND direction = 'inbound'"),
            sqlite_where=sa.text("understood_at IS NULL AND direction = 'inbound'"),
        )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_unrouted",
            ["org_id", "id"],
            unique=False,
            postgresql_where=sa.text("queue_id IS NULL"),
            sqlite_where=sa.text("queue_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_unrouted")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_not_understood")
    with op.batch_alter_table("inbound_event", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_event_pending")
    op.drop_table("inbound_event")
    with op.batch_alter_table("channel_account", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_channel_account_key"), type_="unique")
        batch_op.drop_column("key")
