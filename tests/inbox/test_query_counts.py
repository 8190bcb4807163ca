"""The busiest pages run a fixed number of SQL queries, however long the thread or list (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from factories import item, make_org, store
from townhall.conversations.models import Conversation
from townhall.routing.actions import do_apply_policy
from townhall.routing.flows import route_all_pending
from townhall.web import create_app
from web.conftest import login

from .conftest import manual_assignment_policy


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _traffic(
    sessions: sessionmaker[Session], org_id: int, conversations: int, replies: int
) -> None:
    rows = []
    for c in range(conversations):
        rows.append(item(f"c{c}", handle=f"user{c}", minute=c % 60))
        for r in range(replies):
            rows.append(
                item(f"c{c}-r{r}", reply_to=f"c{c}", handle=f"user{c}", minute=(c + r + 1) % 60)
            )
    store(sessions, org_id, *rows)
    route_all_pending(sessions, org_id)


@pytest.mark.parametrize("path", ["/inbox", "/conversations/{id}"])
def test_page_queries_do_not_grow_with_data(
    engine: Engine, sessions: sessionmaker[Session], path: str
) -> None:
    org = make_org(sessions)
    with sessions() as session, session.begin():
        # Whether the newest conversation happens to be auto-assigned would change the count.
        do_apply_policy(session, org.id, manual_assignment_policy(), None)
    client = TestClient(create_app(), follow_redirects=False)
    counts = []
    for size in (3, 30):
        _traffic(sessions, org.id, conversations=size, replies=size // 3)
        login(client, "admin@demo.example")
        with sessions() as session:
            newest = session.scalar(select(Conversation.id).order_by(Conversation.id.desc()))
        with counting(engine) as statements:
            response = client.get(path.format(id=newest))
        assert response.status_code == 200
        counts.append(len(statements))
        client.cookies.clear()
    assert counts[0] == counts[1], (
        f"{path}: {counts[0]} queries with little data, {counts[1]} with more"
    )
    assert counts[1] <= 25
