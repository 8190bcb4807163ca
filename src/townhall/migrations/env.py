"""Alembic environment: runs migrations on the engine the caller configured."""

from __future__ import annotations

from alembic import context

from townhall.db import get_engine
from townhall.models import Base

engine = context.config.attributes.get("engine") or get_engine()


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave out of autogenerate the indexes declared for another database only.

    ``Index(...).ddl_if(dialect="postgresql")`` (the trigram search indexes) is honoured by
    ``create_all`` but not by Alembic's comparison, which would ask for them on SQLite too.
    """
    ddl_if = getattr(obj, "_ddl_if", None)
    if type_ == "index" and not reflected and ddl_if is not None and ddl_if.dialect:
        return bool(ddl_if.dialect == engine.dialect.name)
    return True


with engine.connect() as connection:
    # render_as_batch lets ALTER TABLE work on SQLite the same way as on PostgreSQL.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
