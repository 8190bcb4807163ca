"""Alembic environment: runs migrations on the engine the caller configured."""

from __future__ import annotations

from alembic import context

from townhall.db import get_engine
from townhall.models import Base

engine = context.config.attributes.get("engine") or get_engine()

with engine.connect() as connection:
    # render_as_batch lets ALTER TABLE work on SQLite the same way as on PostgreSQL.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
