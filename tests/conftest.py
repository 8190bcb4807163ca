"""Test fixtures: every database test runs on SQLite and on this machine's PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from factories import CountingUnderstander
from townhall import db, migrations
from townhall.analytics.views import forget_dashboards
from townhall.channels.webhook import forget_channels
from townhall.inbox.presence import registry as presence_registry
from townhall.knowledge.queries import forget_knowledge_bases
from townhall.models import Base

os.environ.setdefault("TOWNHALL_ENV", "test")
# Tests drive the pipeline explicitly; a background thread would race with their assertions.
os.environ.setdefault("TOWNHALL_EMBEDDED_WORKER", "false")
os.environ.setdefault("TOWNHALL_SECRET_KEY", uuid.uuid4().hex + uuid.uuid4().hex)

POSTGRES_ADMIN_URL = os.environ.get(
    "TOWNHALL_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _fresh_postgres_database() -> str:
    """A new database for this test process, so parallel workers never share tables."""
    name = f"townhall_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database URL per backend for the whole test session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'townhall.db'}"
        engine = db.make_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        yield url
        return
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but not reachable at {POSTGRES_ADMIN_URL}")
        pytest.skip("PostgreSQL not reachable")
    url = _fresh_postgres_database()
    engine = db.make_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    yield url
    _drop_postgres_database(url)


@pytest.fixture(scope="session")
def _engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def engine(database_url: str, _engines: dict[str, Engine]) -> Engine:
    """The backend's engine, emptied before the test and installed as the process's engine."""
    if database_url not in _engines:
        _engines[database_url] = db.make_engine(database_url)
    engine = _engines[database_url]
    _empty_all_tables(engine)
    db.use_engine(engine)
    # In-process state keyed by ids that the emptied tables will hand out again.
    presence_registry.clear()
    forget_knowledge_bases()
    forget_dashboards()
    forget_channels()
    return engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory()


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture
def understander(monkeypatch: pytest.MonkeyPatch) -> CountingUnderstander:
    """A fast stand-in for the understanding models that counts what it was asked."""
    fake = CountingUnderstander()
    monkeypatch.setattr("townhall.understanding.get_understander", lambda: fake)
    return fake


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
