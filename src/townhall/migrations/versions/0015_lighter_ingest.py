"""ingest writes less: routed-only queue indexes, search after understanding, one key check

Revision ID: 0015
Revises: 0014

Ingest creates conversations without a queue, and routing's update rewrites the row (and
every index entry) anyway, so the two queue orderings now hold routed conversations only.
On PostgreSQL the trigram search index covers searchable messages only (understood inbound
messages and the organisation's replies): the understanding step's update indexes each
message once, where before ingest indexed it and that update indexed it again. Search no
longer matches conversation subjects separately (a subject is the start of one of the
conversation's messages), so the subject's trigram index goes.

A message refers to its conversation by (conversation, organisation) and an identity to its
contact by (contact, organisation): one foreign-key check per row instead of two, and the
database now also refuses a message or identity whose organisation differs from its
conversation's or contact's (ingest never wrote one).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Kept equal to conversations.models (what migrations ran must not move).
FILTER_COLUMNS = (
    "org_id",
    "queue_id",
    "status",
    "platform",
    "owner_department_id",
    "agency_allowed",
    "restricted",
)
QUEUE_INDEXES = {
    "ix_conversation_queue": ["queue_id", "status", "last_message_at", "id"],
    "ix_conversation_queue_recent": ["queue_id", "last_message_at", "id"],
}
ROUTED = "queue_id IS NOT NULL"
SEARCHABLE_MESSAGE = "(understood_at IS NOT NULL OR direction = 'outbound')"


def _queue_indexes(where: str | None) -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        for name, keys in QUEUE_INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(
                name,
                keys,
                unique=False,
                postgresql_include=[c for c in FILTER_COLUMNS if c not in keys],
                postgresql_where=sa.text(where) if where else None,
                sqlite_where=sa.text(where) if where else None,
            )


def _trigram_index_exists() -> bool:
    # Migration 0006 skips the trigram indexes where pg_trgm could not be created.
    found = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_message_text_trgm'")
    )
    return found.first() is not None


def _message_trigram_index(where: str | None) -> None:
    op.drop_index("ix_message_text_trgm", table_name="message")
    op.create_index(
        "ix_message_text_trgm",
        "message",
        ["text"],
        postgresql_using="gin",
        postgresql_ops={"text": "gin_trgm_ops"},
        postgresql_where=sa.text(where) if where else None,
    )


# (child table, its key column, parent table): the child's key and organisation refer to the
# parent's (id, org_id) instead of two separate foreign keys.
TENANT_KEYS = (
    ("message", "conversation_id", "conversation"),
    ("contact_identity", "contact_id", "contact"),
)


def _tenant_keys() -> None:
    for child, column, parent in TENANT_KEYS:
        with op.batch_alter_table(parent, schema=None) as batch_op:
            batch_op.create_unique_constraint(f"uq_{parent}_id_org_id", ["id", "org_id"])
        with op.batch_alter_table(child, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{child}_org_id_organisation", type_="foreignkey")
            batch_op.drop_constraint(f"fk_{child}_{column}_{parent}", type_="foreignkey")
            batch_op.create_foreign_key(
                f"fk_{child}_{column}_{parent}", parent, [column, "org_id"], ["id", "org_id"]
            )


def _separate_keys() -> None:
    for child, column, parent in TENANT_KEYS:
        with op.batch_alter_table(child, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{child}_{column}_{parent}", type_="foreignkey")
            batch_op.create_foreign_key(f"fk_{child}_{column}_{parent}", parent, [column], ["id"])
            batch_op.create_foreign_key(
                f"fk_{child}_org_id_organisation", "organisation", ["org_id"], ["id"]
            )
        with op.batch_alter_table(parent, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{parent}_id_org_id", type_="unique")


def upgrade() -> None:
    _tenant_keys()
    _queue_indexes(ROUTED)
    if op.get_bind().dialect.name == "postgresql" and _trigram_index_exists():
        op.drop_index("ix_conversation_subject_trgm", table_name="conversation")
        _message_trigram_index(SEARCHABLE_MESSAGE)


def downgrade() -> None:
    _separate_keys()
    _queue_indexes(None)
    if op.get_bind().dialect.name == "postgresql" and _trigram_index_exists():
        _message_trigram_index(None)
        op.create_index(
            "ix_conversation_subject_trgm",
            "conversation",
            ["subject"],
            postgresql_using="gin",
            postgresql_ops={"subject": "gin_trgm_ops"},
        )
