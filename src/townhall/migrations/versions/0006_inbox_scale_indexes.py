"""inbox indexes for large organisations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 15:45:00

The inbox lists newest activity first, 50 rows a page, optionally for one status or queue.
Each of those orderings now has an index ending in (last_message_at, id) that yields the
page in order; on PostgreSQL the indexes also INCLUDE the columns the visibility rule and
the filters test, so counting and filtering are index-only. ``ix_conversation_inbox`` and
``ix_conversation_queue`` gain ``id`` and the included columns (same leading columns, so
they serve everything they served before).

PostgreSQL only: a partial index serves agency staff's queue lists (they see only
``agency_allowed AND NOT restricted``, so an in-house queue is empty for them), extended
statistics tell the planner how queue, agency and restricted go
together (no agency conversation in an in-house queue), and pg_trgm GIN indexes serve the
inbox search (``ILIKE '%word%'``). Where the extension cannot be created (no privilege) the
trigram indexes are skipped with a warning and search scans, as it does on SQLite.
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Kept equal to conversations.models.INBOX_FILTER_COLUMNS (what migrations ran must not move).
FILTER_COLUMNS = (
    "org_id",
    "queue_id",
    "status",
    "platform",
    "owner_department_id",
    "agency_allowed",
    "restricted",
)
INBOX_INDEXES = {
    "ix_conversation_inbox": ["org_id", "status", "last_message_at", "id"],
    "ix_conversation_queue": ["queue_id", "status", "last_message_at", "id"],
    "ix_conversation_recent": ["org_id", "last_message_at", "id"],
    "ix_conversation_queue_recent": ["queue_id", "last_message_at", "id"],
}
OLD_INDEXES = {
    "ix_conversation_inbox": ["org_id", "status", "last_message_at"],
    "ix_conversation_queue": ["queue_id", "status", "last_message_at"],
}
STATISTICS = "st_conversation_routing"


def _trigram_available() -> bool:
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as error:
        warnings.warn(
            f"pg_trgm could not be created ({error.orig}); inbox search will scan", stacklevel=1
        )
        return False
    return True


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        for name in OLD_INDEXES:
            batch_op.drop_index(name)
        for name, keys in INBOX_INDEXES.items():
            batch_op.create_index(
                name,
                keys,
                unique=False,
                postgresql_include=[c for c in FILTER_COLUMNS if c not in keys],
            )
    if not postgresql:
        return
    op.create_index(
        "ix_conversation_agency_queue",
        "conversation",
        ["queue_id", "last_message_at", "id"],
        postgresql_where=sa.text("agency_allowed AND NOT restricted"),
        postgresql_include=["org_id", "status", "platform"],
    )
    op.execute(
        f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} (dependencies, mcv) "
        "ON queue_id, owner_department_id, agency_allowed, restricted FROM conversation"
    )
    if _trigram_available():
        op.create_index(
            "ix_conversation_subject_trgm",
            "conversation",
            ["subject"],
            postgresql_using="gin",
            postgresql_ops={"subject": "gin_trgm_ops"},
        )
        op.create_index(
            "ix_message_text_trgm",
            "message",
            ["text"],
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_message_text_trgm")
        op.execute("DROP INDEX IF EXISTS ix_conversation_subject_trgm")
        op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
        op.drop_index("ix_conversation_agency_queue", table_name="conversation")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        for name in INBOX_INDEXES:
            batch_op.drop_index(name)
        for name, keys in OLD_INDEXES.items():
            batch_op.create_index(name, keys, unique=False)
