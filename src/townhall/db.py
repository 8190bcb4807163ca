"""Database engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from townhall.config import get_settings

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web app read while ingest writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Up to 64 MB of page cache (SQLite's default is 2 MB) and a checkpoint every ~40 MB of
    # WAL instead of every 4 MB: a bulk import touches index pages all over the file, and
    # with the defaults it re-read and re-wrote them on every batch (30,000 items: 226 MB
    # written and 290 MB read, against 40 MB and 8 MB with these settings and ingest's
    # batches). Durability is unchanged: every commit is in the WAL before it returns, and
    # a checkpoint only copies it into the database file.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# A pooled connection back in the pool for less than this is handed out again without a ping:
# it worked a moment ago, and a ping on every checkout costs each request a round trip
# (HikariCP skips its check within 500 ms for the same reason). If the server went away
# meanwhile, that one statement fails, SQLAlchemy sees the disconnect and renews the pool.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool throws this connection away and checks out another (or a new one).
            raise DisconnectionError("connection failed its ping") from exc

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


def make_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    _ping_idle_connections(engine)
    return engine


_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def _load_models() -> None:
    # Every table must be known before the first query resolves foreign keys.
    import townhall.models  # noqa: F401


def get_engine() -> Engine:
    global _engine, _session_factory
    _load_models()
    if _engine is None:
        _engine = make_engine()
        _session_factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def configure(url: str) -> Engine:
    """Point the process at another database (tests, CLI --database)."""
    global _engine, _session_factory
    _load_models()
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
    _session_factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def use_engine(engine: Engine) -> None:
    """Point the process at an engine someone else owns (tests switch between databases)."""
    global _engine, _session_factory
    _load_models()
    _engine = engine
    _session_factory = sessionmaker(engine, expire_on_commit=False)


def session_factory() -> sessionmaker[Session]:
    get_engine()
    assert _session_factory is not None
    return _session_factory


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction: actions flush, this boundary commits (or rolls back on error)."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
