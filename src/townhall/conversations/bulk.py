"""Bulk reads and writes for ingest: one statement per table and batch, on SQLite and PostgreSQL.

SQLAlchemy's executemany and multi-row ``INSERT … RETURNING`` prepare every value of every
row in Python, and psycopg parses a statement with thousands of placeholders; at ingest
volumes that, not the database, is the cost. Here PostgreSQL gets COPY (rows formatted by
psycopg's C code, and the server's fastest way in) and SQLite the driver's own executemany.
Rows are plain tuples in the order of ``columns``; JSON columns take JSON text.

New rows get their primary keys from here (``reserve_ids``) instead of RETURNING, so callers
know each row's id without matching rows back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, DateTime, String, Table, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def _is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def any_of(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` with one bound parameter however many values there are.

    An expanded IN list renders one placeholder per value (and SQLite caps their number);
    PostgreSQL takes an array, SQLite a JSON array read by ``json_each``.
    """
    if _is_postgres(session.connection()):
        # TEXT, not the column's VARCHAR(n): an explicit cast to VARCHAR(n) truncates, and a
        # truncated key could match another row.
        element = Text() if isinstance(column.type, String) else column.type
        return column == any_(bindparam(None, list(values), type_=ARRAY(element)))
    listed = func.json_each(json.dumps(list(values))).table_valued("value")
    return column.in_(select(listed.c.value))


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """Primary keys for ``count`` new rows of ``table``, to insert explicitly.

    PostgreSQL draws them from the column's sequence, which no other writer can reuse.
    SQLite has no sequence: the ids follow the largest stored one. If another writer takes
    them first, our insert fails (on the primary key, an IntegrityError that ``store_items``
    retries, or on SQLite's write lock) instead of sharing an id: a guess can fail, never mix.
    """
    if count == 0:
        return []
    connection = session.connection()
    name = table.name
    if _is_postgres(connection):
        ids = [
            row[0]
            for row in connection.exec_driver_sql(
                # The sequence is looked up once (a sub-select), not once per reserved id.
                "SELECT nextval((SELECT pg_get_serial_sequence(%s, 'id')::regclass)) "
                "FROM generate_series(1, %s)",
                (name, count),
            )
        ]
        if None in ids:
            raise RuntimeError(f"{name}.id has no sequence to reserve ids from")
        return ids
    largest = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(largest + 1, largest + 1 + count))


def _copy_rows(connection: Connection, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL's COPY on the session's own connection, so it joins its transaction."""
    import psycopg

    dbapi_connection = connection.connection.dbapi_connection
    assert isinstance(dbapi_connection, psycopg.Connection)
    try:
        with dbapi_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as error:
        # Raised as SQLAlchemy raises its own errors, so callers (store_items retrying on an
        # IntegrityError) treat a COPY like any other statement.
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # A batch repeats the same moments (every row's ingested_at, created_at of a thread).
    cache: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            result = cache[value] = convert(value)
            return result

    return converted


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``) in one statement."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    target = dialect.identifier_preparer.format_table(table)
    if _is_postgres(connection):
        _copy_rows(connection, f"COPY {target} ({names}) FROM STDIN", rows)
        return
    # SQLite stores datetimes as text in SQLAlchemy's format; reuse its converter so stored
    # values compare with those written through the ORM.
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, DateTime):
            processor = column_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                converters.append((index, _memoised(processor)))
    if converters:
        # Column by column: map and zip loop in C, a per-row Python loop would not.
        by_column = list(zip(*rows, strict=True))
        for index, convert in converters:
            by_column[index] = tuple(map(convert, by_column[index]))
        rows = list(zip(*by_column, strict=True))
    placeholders = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(
        f"INSERT INTO {target} ({names}) VALUES ({placeholders})", list(rows)
    )
