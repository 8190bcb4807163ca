"""The pipeline stages: events become messages, messages are understood, conversations routed —
each exactly once, also with several workers at once on PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import Channel, CountingUnderstander, item, make_channel, make_org
from townhall.channels.models import InboundEvent
from townhall.conversations.models import Conversation, Message
from townhall.pipeline import (
    MAX_EVENT_ATTEMPTS,
    EventBatch,
    ingest_events,
    process_pending,
    record_failed_attempt,
    route_unrouted,
    understand_messages,
)
from townhall.routing.models import RoutingDecisionRecord


@pytest.fixture
def org_and_channel(sessions: sessionmaker[Session]) -> tuple[int, Channel]:
    org = make_org(sessions)
    return org.id, make_channel(sessions, org.id)


def postgres_only(sessions: sessionmaker[Session]) -> None:
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; concurrent claims are a PostgreSQL matter")


def add_events(
    sessions: sessionmaker[Session], org_id: int, channel: Channel, bodies: list[dict[str, Any]]
) -> None:
    with sessions() as session, session.begin():
        for number, body in enumerate(bodies):
            channel.deliver(session, f"delivery-{number}", json.dumps(body))


def counts(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        return {
            "events": dict(
                session.execute(
                    select(InboundEvent.status, func.count()).group_by(InboundEvent.status)
                ).all()
            ),
            "messages": session.scalar(select(func.count()).select_from(Message)),
            "not_understood": session.scalar(
                select(func.count()).where(
                    Message.understood_at.is_(None), Message.direction == "inbound"
                )
            ),
            "unrouted": session.scalar(select(func.count()).where(Conversation.queue_id.is_(None))),
            "decisions_per_conversation": Counter(
                session.scalars(select(RoutingDecisionRecord.conversation_id)).all()
            ),
        }


def test_events_become_understood_routed_messages(
    sessions: sessionmaker[Session],
    org_and_channel: tuple[int, Channel],
    understander: CountingUnderstander,
) -> None:
    org_id, channel = org_and_channel
    add_events(
        sessions,
        org_id,
        channel,
        [
            {"items": [item("1", text="where is my bag")]},
            {
                "items": [
                    item("2", reply_to="1", handle="acme", direction="outbound"),
                    item("3", reply_to="1"),
                ]
            },
            # Parent arrives after its reply: the reply waited in the parent's conversation.
            {"items": [item("5", reply_to="4", handle="bob")]},
            {"items": [item("4", handle="bob")]},
            {"items": [item("1", text="a platform's retry of item 1")]},
        ],
    )
    summary = process_pending(sessions, org_id)
    state = counts(sessions)
    assert state["events"] == {"processed": 5}
    assert state["messages"] == 5 and state["not_understood"] == 0 and state["unrouted"] == 0
    assert sorted(state["decisions_per_conversation"].values()) == [1, 1]
    assert summary.events_processed == 5 and summary.messages_understood == 4
    assert summary.routed == 2
    assert sum(understander.seen.values()) == 4  # inbound only, each once


def test_an_event_that_cannot_become_messages_is_a_dead_letter_and_others_go_through(
    sessions: sessionmaker[Session],
    org_and_channel: tuple[int, Channel],
    understander: CountingUnderstander,
) -> None:
    org_id, channel = org_and_channel
    add_events(
        sessions,
        org_id,
        channel,
        [{"items": [item("1")]}, {"items": [{"platform": "x"}]}, {"items": [item("2")]}],
    )
    summary = process_pending(sessions, org_id)
    assert (summary.events_processed, summary.events_failed) == (2, 1)
    with sessions() as session:
        failed = session.scalars(select(InboundEvent).where(InboundEvent.status == "failed")).one()
        assert failed.external_id == "delivery-1"
        assert failed.last_error is not None and "external_id: Field required" in failed.last_error
        assert failed.attempts == 1
    # A dead letter is never picked up again.
    assert process_pending(sessions, org_id).work_done == 0
    assert counts(sessions)["messages"] == 2


def test_a_batch_that_keeps_failing_is_given_up_after_a_few_attempts(
    sessions: sessionmaker[Session],
    org_and_channel: tuple[int, Channel],
    understander: CountingUnderstander,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org_id, channel = org_and_channel
    add_events(sessions, org_id, channel, [{"items": [item("1")]}])

    def broken_store(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError("disk on fire")

    monkeypatch.setattr("townhall.pipeline._store_events", broken_store)
    for attempt in range(1, MAX_EVENT_ATTEMPTS + 1):
        with pytest.raises(OSError, match="disk on fire"):
            process_pending(sessions, org_id)
        with sessions() as session:
            event = session.scalars(select(InboundEvent)).one()
            assert event.attempts == attempt
            assert event.status == ("failed" if attempt == MAX_EVENT_ATTEMPTS else "pending")
    assert "disk on fire" in (event.last_error or "")


def test_two_workers_never_understand_the_same_message(
    sessions: sessionmaker[Session], understander: CountingUnderstander
) -> None:
    from factories import store

    postgres_only(sessions)
    org = make_org(sessions)
    store(sessions, org.id, *(item(str(n), handle=f"user{n}") for n in range(20)))
    first, second = sessions(), sessions()
    with first.begin(), second.begin():
        claimed_first, _ = understand_messages(first, org.id, limit=8)
        # The first transaction is still open: its rows are locked, the second skips them.
        claimed_second, _ = understand_messages(second, org.id, limit=50)
        assert (claimed_first, claimed_second) == (8, 12)
    first.close()
    second.close()
    assert counts(sessions)["not_understood"] == 0
    assert set(understander.seen.values()) == {1}


def test_only_one_worker_ingests_an_organisation_at_a_time(
    sessions: sessionmaker[Session],
    org_and_channel: tuple[int, Channel],
    understander: CountingUnderstander,
) -> None:
    postgres_only(sessions)
    org_id, channel = org_and_channel
    add_events(sessions, org_id, channel, [{"items": [item(str(n))]} for n in range(6)])
    first, second = sessions(), sessions()
    with first.begin(), second.begin():
        one = ingest_events(first, org_id, limit=4)
        two = ingest_events(second, org_id)
        assert (len(one.claimed), one.busy) == (4, False)
        assert (two.claimed, two.busy) == ([], True)
    first.close()
    second.close()
    with sessions() as session, session.begin():
        rest = ingest_events(session, org_id, batch=EventBatch())
    assert rest.processed == 2
    assert counts(sessions)["messages"] == 6


def test_concurrent_workers_route_every_conversation_exactly_once(
    sessions: sessionmaker[Session],
    org_and_channel: tuple[int, Channel],
    understander: CountingUnderstander,
) -> None:
    postgres_only(sessions)
    org_id, channel = org_and_channel
    add_events(
        sessions,
        org_id,
        channel,
        [{"items": [item(str(n), handle=f"user{n % 37}")]} for n in range(300)],
    )
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                with sessions() as session, session.begin():
                    ingest_events(session, org_id, limit=25)
                with sessions() as session, session.begin():
                    understand_messages(session, org_id, limit=20)
                with sessions() as session, session.begin():
                    route_unrouted(session, org_id, limit=15)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    process_pending(sessions, org_id)  # whatever the threads left
    state = counts(sessions)
    assert state["events"] == {"processed": 300}
    assert state["messages"] == 300 and state["not_understood"] == 0 and state["unrouted"] == 0
    assert len(state["decisions_per_conversation"]) == 300
    assert set(state["decisions_per_conversation"].values()) == {1}
    assert set(understander.seen.values()) == {1}


def test_a_conversation_waits_for_its_messages_to_be_understood_before_routing(
    sessions: sessionmaker[Session], understander: CountingUnderstander
) -> None:
    from factories import store

    org = make_org(sessions)
    store(sessions, org.id, item("1"))
    with sessions() as session, session.begin():
        assert route_unrouted(session, org.id) == []
    with sessions() as session, session.begin():
        understand_messages(session, org.id)
    with sessions() as session, session.begin():
        assert len(route_unrouted(session, org.id)) == 1
    with sessions() as session:
        decision = session.scalars(select(RoutingDecisionRecord)).one()
        assert decision.kind == "complaint"  # from the understanding, not the "other" fallback


def test_record_failed_attempt_ignores_events_already_done(
    sessions: sessionmaker[Session],
    org_and_channel: tuple[int, Channel],
    understander: CountingUnderstander,
) -> None:
    org_id, channel = org_and_channel
    add_events(sessions, org_id, channel, [{"items": [item("1")]}])
    process_pending(sessions, org_id)
    with sessions() as session:
        event_id = session.scalars(select(InboundEvent.id)).one()
    record_failed_attempt(sessions, [event_id], "late failure report")
    with sessions() as session:
        event = session.get_one(InboundEvent, event_id)
        assert (event.status, event.attempts, event.last_error) == ("processed", 1, None)
