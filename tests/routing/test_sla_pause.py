"""The resolution clock stands still while a conversation waits on the customer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from factories import item, store
from townhall.conversations.models import Conversation
from townhall.core.time import ensure_aware
from townhall.governance.models import User
from townhall.inbox import actions
from townhall.routing.sla_sweep import sla_badge, sla_sweep

from .automation import Team, arrive, make_team

# The complaint arrives on Sunday 1 November 10:00 UTC. Customer care works 08:00-20:00
# London (UTC in November) on weekdays, so its 1,440 business minutes to resolve run
# Monday 08:00 to Tuesday 20:00, and the 80% warning falls on Tuesday 15:12.
DUE = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)
WARN = datetime(2026, 11, 3, 15, 12, tzinfo=UTC)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _set_status(
    sessions: sessionmaker[Session],
    team: Team,
    conversation_id: int,
    status: str,
    at: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> Conversation:
    monkeypatch.setattr(actions, "utcnow", lambda: at)
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, conversation_id)
        actions.do_set_status(
            session, conversation, status, session.get_one(User, team.users["cs_lead"].id)
        )
    with sessions() as session:
        return session.get_one(Conversation, conversation_id)


def _clock(conversation: Conversation) -> tuple[datetime, datetime]:
    assert conversation.resolution_due_at and conversation.resolution_warn_at
    return ensure_aware(conversation.resolution_due_at), ensure_aware(
        conversation.resolution_warn_at
    )


@pytest.fixture
def waiting(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> tuple[Team, int]:
    """A routed complaint that has been answered and waits on the customer since Monday 09:00."""
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "p")
    with sessions() as session, session.begin():
        conversation = session.get_one(Conversation, conversation_id)
        assert _clock(conversation) == (DUE, WARN)
        conversation.first_response_at = _at(2, 8, 30)  # only the resolution clock matters here
    paused = _set_status(
        sessions, team, conversation_id, "pending_customer", _at(2, 9), monkeypatch
    )
    assert ensure_aware(paused.resolution_paused_at) == _at(2, 9)  # type: ignore[arg-type]
    return team, conversation_id


def test_waiting_on_the_customer_is_not_counted_against_the_team(
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    waiting: tuple[Team, int],
) -> None:
    team, conversation_id = waiting
    # Long past the old due time, nothing warns or breaches while the clock stands still.
    with sessions() as session, session.begin():
        result = sla_sweep(session, team.org.id, _at(4, 12))
    assert (result.warnings, result.breaches, result.stale) == (0, 0, 0)
    with sessions() as session:
        assert sla_badge(session.get_one(Conversation, conversation_id), _at(4, 12)) is None
    # The agent takes it back on Monday 11:00: two business hours later, so the clock ends
    # two business hours later too (Tuesday 20:00 closes the day: Wednesday 10:00).
    resumed = _set_status(sessions, team, conversation_id, "open", _at(2, 11), monkeypatch)
    assert resumed.resolution_paused_at is None
    assert _clock(resumed) == (_at(4, 10), _at(3, 17, 12))


def test_a_customer_who_writes_again_restarts_the_clock_from_their_message(
    sessions: sessionmaker[Session], waiting: tuple[Team, int]
) -> None:
    team, conversation_id = waiting
    # The customer answers on Monday 10:30 (ingest reopens the conversation in bulk SQL).
    answer = item("p-2", handle="h-p", reply_to="p")
    answer["created_at"] = "2026-11-02T10:30:00Z"
    store(sessions, team.org.id, answer)
    with sessions() as session:
        reopened = session.get_one(Conversation, conversation_id)
        assert reopened.status == "open" and reopened.resolution_paused_at is not None
    with sessions() as session, session.begin():
        sla_sweep(session, team.org.id, _at(2, 10, 31))
    with sessions() as session:
        running = session.get_one(Conversation, conversation_id)
    assert running.resolution_paused_at is None
    assert _clock(running) == (_at(4, 9, 30), _at(3, 16, 42))


def test_a_clock_that_ran_out_before_the_pause_stays_breached(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    team = make_team(sessions)
    conversation_id = arrive(sessions, team, "late")
    with sessions() as session, session.begin():
        session.get_one(Conversation, conversation_id).first_response_at = _at(2, 8, 30)
    _set_status(sessions, team, conversation_id, "pending_customer", _at(4, 9), monkeypatch)
    resumed = _set_status(sessions, team, conversation_id, "open", _at(5, 9), monkeypatch)
    assert _clock(resumed) == (DUE, WARN)
