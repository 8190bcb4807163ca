"""Knowledge base, automatic answers, conversation tags

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 15:32:29.274978
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_kb_answer_org_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_kb_answer_updated_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_answer")),
    )
    with op.batch_alter_table("kb_answer", schema=None) as batch_op:
        batch_op.create_index("ix_kb_answer_org_active", ["org_id", "active"], unique=False)

    op.create_table(
        "conversation_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["user_account.id"],
            name=op.f("fk_conversation_tag_added_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_conversation_tag_conversation_id_conversation"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_conversation_tag_org_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_tag")),
        sa.UniqueConstraint(
            "conversation_id", "tag", name=op.f("uq_conversation_tag_conversation_id_tag")
        ),
    )
    with op.batch_alter_table("conversation_tag", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_tag_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_conversation_tag_org_id"), ["org_id"], unique=False)

    op.create_table(
        "auto_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("inbound_message_id", sa.Integer(), nullable=False),
        sa.Column("reply_message_id", sa.Integer(), nullable=False),
        sa.Column("kb_answer_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_auto_answer_conversation_id_conversation"),
        ),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["message.id"],
            name=op.f("fk_auto_answer_inbound_message_id_message"),
        ),
        sa.ForeignKeyConstraint(
            ["kb_answer_id"], ["kb_answer.id"], name=op.f("fk_auto_answer_kb_answer_id_kb_answer")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_auto_answer_org_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["reply_message_id"],
            ["message.id"],
            name=op.f("fk_auto_answer_reply_message_id_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_answer")),
        sa.UniqueConstraint("inbound_message_id", name=op.f("uq_auto_answer_inbound_message_id")),
    )
    with op.batch_alter_table("auto_answer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auto_answer_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_auto_answer_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("automatic", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("automatic")

    with op.batch_alter_table("auto_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auto_answer_org_id"))
        batch_op.drop_index(batch_op.f("ix_auto_answer_conversation_id"))

    op.drop_table("auto_answer")
    with op.batch_alter_table("conversation_tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_tag_org_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_tag_conversation_id"))

    op.drop_table("conversation_tag")
    with op.batch_alter_table("kb_answer", schema=None) as batch_op:
        batch_op.drop_index("ix_kb_answer_org_active")

    op.drop_table("kb_answer")
