"""The engine's pool: a pooled connection the server dropped is replaced, not handed out."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from townhall import db


def test_a_connection_dropped_while_idle_in_the_pool_is_replaced(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to drop the connection")
    private = db.make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with private.connect() as connection:
            pid = connection.scalar(text("SELECT pg_backend_pid()"))
        with engine.connect() as other:  # the server ends the pooled connection
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # Idle long enough to be pinged on its next checkout.
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        with private.connect() as connection:
            assert connection.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        private.dispose()


def test_a_connection_used_a_moment_ago_is_handed_out_without_a_ping(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite engines do not ping")
    private = db.make_engine(engine.url.render_as_string(hide_password=False))
    pings: list[object] = []
    monkeypatch.setattr(private.dialect, "do_ping", pings.append)
    try:
        for _ in range(3):
            with private.connect() as connection:
                connection.execute(text("SELECT 1"))
        assert pings == []
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        with private.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert len(pings) == 1
    finally:
        private.dispose()
