"""Ingest: idempotency, threading in any arrival order, contact merging and bad rows."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import item, make_org, store
from townhall.contacts.models import Contact, ContactIdentity
from townhall.conversations import ingest
from townhall.conversations.flows import ingest_rows
from townhall.conversations.models import Conversation, Message
from townhall.conversations.readers import read_jsonl, validate_row
from townhall.conversations.schemas import InboundItem, RowError


def threads(session: Session) -> set[frozenset[str]]:
    """The stored grouping: one set of external ids per conversation."""
    groups: dict[int, set[str]] = {}
    for conversation_id, external_id in session.execute(
        select(Message.conversation_id, Message.external_id)
    ):
        groups.setdefault(conversation_id, set()).add(external_id)
    return {frozenset(g) for g in groups.values()}


def test_reply_joins_parent_conversation(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    store(
        sessions, org.id, item("1"), item("2", reply_to="1", handle="brand", direction="outbound")
    )
    store(sessions, org.id, item("3", reply_to="2", minute=5))
    with sessions() as session:
        assert threads(session) == {frozenset({"1", "2", "3"})}
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.message_count == 3
        assert conversation.subject == "message 1"
        assert conversation.thread_key == "1"


def test_parent_arriving_later_pulls_waiting_replies_in(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    # Deepest reply first, each in its own batch: the hardest order.
    store(sessions, org.id, item("3", reply_to="2", minute=3))
    store(sessions, org.id, item("1", minute=1))
    store(sessions, org.id, item("4", reply_to="1", minute=4))
    with sessions() as session:
        assert threads(session) == {frozenset({"3"}), frozenset({"1", "4"})}
    summary = store(sessions, org.id, item("2", reply_to="1", minute=2))
    assert summary.conversations_merged == 1
    with sessions() as session:
        assert threads(session) == {frozenset({"1", "2", "3", "4"})}
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.message_count == 4
        assert conversation.subject == "message 1"


def test_siblings_wait_together_for_their_parent(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    store(sessions, org.id, item("b", reply_to="root", minute=2, handle="bob"))
    store(sessions, org.id, item("c", reply_to="root", minute=3, handle="carl"))
    store(sessions, org.id, item("root", minute=1))
    with sessions() as session:
        assert threads(session) == {frozenset({"root", "b", "c"})}
        assert session.scalar(select(Conversation.thread_key)) == "root"


def test_same_external_id_on_two_platforms_is_two_messages(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    summary = store(sessions, org.id, item("1", platform="x"), item("1", platform="mastodon"))
    assert summary.ingested == 2


def test_contacts_merge_by_platform_handle(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    store(sessions, org.id, item("1", handle="Jane_Doe"))
    store(
        sessions,
        org.id,
        item("2", handle="@jane_doe"),
        item("3", handle="jane_doe", platform="mastodon"),
    )
    with sessions() as session:
        identities = session.execute(select(ContactIdentity.platform, ContactIdentity.handle)).all()
        assert sorted(identities) == [("mastodon", "jane_doe"), ("x", "jane_doe")]
        # One contact per platform identity until a person merges them across platforms.
        assert session.scalar(select(func.count()).select_from(Contact)) == 2
        x_contact = session.scalar(
            select(ContactIdentity.contact_id).where(ContactIdentity.platform == "x")
        )
        assert set(
            session.scalars(select(Conversation.contact_id).where(Conversation.platform == "x"))
        ) == {x_contact}


def test_direct_messages_continue_one_thread_per_author(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    store(
        sessions,
        org.id,
        item("d1", kind="direct_message"),
        item("d2", kind="direct_message", minute=9),
    )
    store(sessions, org.id, item("d3", kind="direct_message", handle="other"))
    with sessions() as session:
        assert threads(session) == {frozenset({"d1", "d2"}), frozenset({"d3"})}


def test_new_inbound_reopens_resolved_conversation(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    store(sessions, org.id, item("1"), item("a"), item("b", handle="bob"))
    resolved_at = datetime(2026, 11, 1, 11, 0, tzinfo=UTC)
    with sessions() as session, session.begin():
        for conversation in session.scalars(select(Conversation)):
            conversation.status = "closed" if conversation.thread_key == "b" else "resolved"
            conversation.resolved_at = resolved_at
    store(
        sessions,
        org.id,
        item("2", reply_to="1", minute=30),  # the customer writes again
        item("a2", reply_to="a", minute=31, direction="outbound"),  # our own follow-up
        item("b2", reply_to="b", minute=32, handle="bob"),
    )
    with sessions() as session:
        states = {
            c.thread_key: (c.status, c.resolved_at) for c in session.scalars(select(Conversation))
        }
    # Reopened as a person reopening does: the resolution clock runs again, and reports no
    # longer count the conversation resolved. Our own message reopens nothing.
    assert states["1"] == ("open", None) and states["b"] == ("open", None)
    assert states["a"][0] == "resolved" and states["a"][1] is not None


def test_file_with_duplicates_out_of_order_replies_and_bad_rows(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    lines = [
        json.dumps(item("r2", reply_to="r1", minute=2)),  # 1: reply before its parent
        json.dumps(item("r1", minute=1)),  # 2
        "{not json",  # 3
        json.dumps({**item("bad-time"), "created_at": "2026-11-01T10:00:00"}),  # 4: no zone
        json.dumps({**item("bad-kind"), "kind": "tweet"}),  # 5
        json.dumps(item("r1", minute=1)),  # 6: duplicate in the same file
        "",  # 7: blank lines are ignored
        json.dumps({k: v for k, v in item("no-text").items() if k != "text"}),  # 8
        json.dumps(item("r3", reply_to="r2", minute=3)),  # 9
        json.dumps([1, 2]),  # 10
    ]
    result = ingest_rows(sessions, org.id, read_jsonl(lines), batch_size=2)
    assert result.summary.ingested == 3
    assert result.summary.duplicates == 1
    assert result.summary.rejected == 5
    assert [(e.line, e.field) for e in result.errors] == [
        (3, None),
        (4, "created_at"),
        (5, "kind"),
        (8, "text"),
        (10, None),
    ]
    assert "timezone" in result.errors[1].reason
    again = ingest_rows(sessions, org.id, read_jsonl(lines), batch_size=3)
    assert (again.summary.ingested, again.summary.duplicates, again.summary.rejected) == (0, 4, 5)
    with sessions() as session:
        assert threads(session) == {frozenset({"r1", "r2", "r3"})}


def _forest(rng: random.Random, size: int) -> list[dict[str, object]]:
    rows = []
    for index in range(size):
        parent = rng.choice([None, None, *[r["external_id"] for r in rows]]) if rows else None
        rows.append(item(f"m{index}", reply_to=parent, minute=index % 60, handle=f"u{index % 5}"))  # type: ignore[arg-type]
    return rows


def _expected_threads(rows: list[dict[str, object]]) -> set[frozenset[str]]:
    parent = {r["external_id"]: r.get("in_reply_to") for r in rows}

    def root(node: object) -> object:
        while parent.get(node):
            node = parent[node]
        return node

    groups: dict[object, set[str]] = {}
    for r in rows:
        groups.setdefault(root(r["external_id"]), set()).add(str(r["external_id"]))
    return {frozenset(g) for g in groups.values()}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), size=st.integers(1, 25), batch=st.integers(1, 7))
def test_any_arrival_order_gives_the_same_threads(
    sessions: sessionmaker[Session], seed: int, size: int, batch: int
) -> None:
    from conftest import _empty_all_tables

    _empty_all_tables(sessions.kw["bind"])
    org = make_org(sessions)
    rng = random.Random(seed)
    rows = _forest(rng, size)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    for start in range(0, len(shuffled), batch):
        store(sessions, org.id, *shuffled[start : start + batch])
    with sessions() as session:
        assert threads(session) == _expected_threads(rows)
        counts = dict(session.execute(select(Conversation.id, Conversation.message_count)).all())
        actual = dict(
            session.execute(
                select(Message.conversation_id, func.count()).group_by(Message.conversation_id)
            ).all()
        )
        assert counts == actual


def test_item_stored_by_a_concurrent_writer_is_a_duplicate_not_an_error(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique constraint is the final guard: the bulk insert fails, the batch is re-read."""
    org = make_org(sessions)
    store(sessions, org.id, item("1"))
    real = ingest._existing_messages
    calls = {"n": 0}

    def stale_once(*args: Any, **kwargs: Any) -> dict[tuple[str, str], int]:
        # The first look-up answers as if it ran before the other writer committed "1".
        calls["n"] += 1
        return {} if calls["n"] == 1 else real(*args, **kwargs)

    monkeypatch.setattr(ingest, "_existing_messages", stale_once)
    with sessions() as session, session.begin():
        summary = ingest.store_items(
            session, org.id, [InboundItem.model_validate(r) for r in (item("1"), item("2"))]
        )
    assert (summary.ingested, summary.duplicates) == (1, 1)
    with sessions() as session:
        assert threads(session) == {frozenset({"1"}), frozenset({"2"})}
        assert session.scalar(select(func.sum(Conversation.message_count))) == 2


def test_ids_reserved_in_bulk_never_collide_with_ordinary_inserts(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    store(sessions, org.id, item("1", handle="ann"), item("2", handle="bob"))
    with sessions() as session, session.begin():
        # Written the ordinary way (the ORM, the database picking the id) between two imports.
        session.add(Contact(org_id=org.id, display_name="Walk-in"))
    store(sessions, org.id, item("3", handle="carl"), item("4", reply_to="9", handle="dora"))
    with sessions() as session:
        names = dict(
            session.execute(
                select(ContactIdentity.handle, Contact.display_name).join(
                    Contact, Contact.id == ContactIdentity.contact_id
                )
            ).all()
        )
        assert names == {"ann": "Ann", "bob": "Bob", "carl": "Carl", "dora": "Dora"}
        assert session.scalar(select(func.count()).select_from(Contact)) == 5
        # Everything the item said is in the message's columns: its raw payload is empty.
        raw = session.scalars(select(Message.raw).where(Message.external_id == "4")).one()
        assert raw == {}


def test_a_sources_own_fields_are_kept_as_the_raw_payload(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    row = {**item("1"), "likes": 12, "lang": "en"}
    row["author"] = {**row["author"], "verified": True}
    store(sessions, org.id, row)
    with sessions() as session:
        message = session.scalars(select(Message).where(Message.external_id == "1")).one()
        assert message.raw == {"likes": 12, "lang": "en", "author": {"verified": True}}
        assert (message.author_handle, message.text) == ("jane", "message 1")


def test_an_oversized_raw_payload_rejects_its_row_and_keeps_the_others(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    lines = [
        json.dumps({**item("big"), "attachment": "x" * 30_000}),
        json.dumps({**item("small"), "likes": 3}),
    ]
    result = ingest_rows(sessions, org.id, read_jsonl(lines))
    assert (result.summary.ingested, result.summary.rejected) == (1, 1)
    [error] = result.errors
    assert error.line == 1 and "fields beyond the interchange format take 30," in error.reason
    with sessions() as session:
        assert session.scalars(select(Message.external_id)).all() == ["small"]


def test_blank_ids_are_refused_after_stripping_and_a_blank_parent_means_none() -> None:
    blank_id = validate_row(7, {**item("  "), "platform": " x "})
    assert isinstance(blank_id, RowError) and (blank_id.line, blank_id.field) == (7, "external_id")
    assert "at least 1 character" in blank_id.reason
    blank_platform = validate_row(8, {**item("1"), "platform": " \x00 "})
    assert isinstance(blank_platform, RowError) and blank_platform.field == "platform"
    root = validate_row(9, {**item("2"), "in_reply_to": "  ", "url": ""})
    assert isinstance(root, InboundItem) and root.in_reply_to is None and root.url is None


def test_a_failing_reader_stops_the_import_after_the_batches_already_committed(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)

    def rows() -> Iterator[tuple[int, Any]]:
        yield from read_jsonl([json.dumps(item(str(n))) for n in range(5)])
        raise OSError("the export file went away")

    with pytest.raises(OSError, match="went away"):
        ingest_rows(sessions, org.id, rows(), batch_size=2)
    with sessions() as session:
        # Batches are read ahead in a thread, but only whole batches were ever written.
        assert set(session.scalars(select(Message.external_id))) == {"0", "1", "2", "3"}
    assert not [t for t in threading.enumerate() if t.name == "townhall-ingest-reader"]


def test_direct_messages_from_the_longest_handle_thread_too(
    sessions: sessionmaker[Session],
) -> None:
    # A handle may be 200 characters; the conversation's key for its direct messages must fit.
    org = make_org(sessions)
    longest = "h" * 200
    store(
        sessions,
        org.id,
        item("d1", kind="direct_message", handle=longest),
        item("d2", kind="direct_message", handle=longest, minute=9),
    )
    with sessions() as session:
        assert threads(session) == {frozenset({"d1", "d2"})}


def test_jsonl_rows_read_as_decoding_then_validating_reads_them() -> None:
    """The one-pass JSON path accepts, normalises and refuses exactly what the long path does."""
    good = item("1", handle="@Ann")
    lines = [
        json.dumps(good),
        json.dumps({**good, "author": {"handle": "Bob", "followers": True}}),
        json.dumps({**good, "author": {"handle": "Bob", "followers": 1.0}}),
        json.dumps({**good, "text": "a\u0000b", "created_at": 1_700_000_000}),
        json.dumps({**good, "in_reply_to": " ", "url": ""}),
        json.dumps(good)[:-1] + ', "external_id": "2"}',  # a repeated key: the last one wins
        json.dumps({**good, "text": "lone \ud800 surrogate"}),
        json.dumps({**good, "author": {"handle": "Bob", "followers": float("nan")}}),
        json.dumps(good).replace('"text": "', '"text": "\t'),  # a raw control character
        json.dumps(good)[:-1] + ",}",
        json.dumps(good) + " extra",
        json.dumps([good]),
        json.dumps({**good, "created_at": "2026-10-01T10:00:00"}),
        json.dumps({**good, "external_id": 7}),
    ]

    def long_path(number: int, line: str) -> InboundItem | RowError:
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            return RowError(line=number, field=None, reason=f"invalid JSON: {exc.msg}")
        return validate_row(number, data)

    expected = [(n, long_path(n, line)) for n, line in enumerate(lines, start=1)]
    assert list(read_jsonl(line.encode() for line in lines)) == expected
    assert sum(isinstance(parsed, InboundItem) for _, parsed in expected) == 6
