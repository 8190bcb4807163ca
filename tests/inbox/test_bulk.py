"""Bulk actions: each conversation authorised on its own, partial failures reported, audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import item, store
from townhall.conversations.models import Conversation
from townhall.core.errors import Forbidden, ValidationFailed
from townhall.governance.models import AuditEvent
from townhall.inbox.actions import do_set_status
from townhall.inbox.bulk import BulkOutcome, do_bulk, parse_conversation_ids
from townhall.inbox.models import ConversationTag
from townhall.inbox.tags import check_tag, tags_for
from web.conftest import login

from .conftest import InboxWorld


def _ids(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {c.thread_key: c.id for c in session.scalars(select(Conversation))}


def test_summary_groups_the_reasons() -> None:
    outcome = BulkOutcome(
        "closed", done=list(range(18)), skipped=[(1, "not yours"), (2, "not yours")]
    )
    assert outcome.summary() == "18 closed, 2 skipped: not yours"


def test_bulk_close_with_a_partial_failure(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    store(sessions, world.org.id, item("m3", handle="cy", text="thanks!"))
    ids = _ids(sessions)
    with sessions() as session, session.begin():
        already = session.get(Conversation, ids["m3"])
        assert already is not None
        do_set_status(session, already, "closed", world.users["admin"])
        # m2 stays where routing put it (visible to the Customer Service agent), m1 too.
        outcome = do_bulk(
            session,
            world.users["cs"],
            [ids["m1"], ids["m2"], ids["m3"], 999_999],
            "status",
            status="closed",
        )
    assert sorted(outcome.done) == sorted([ids["m1"], ids["m2"]])
    assert outcome.summary() == (
        "2 closed, 1 skipped: the conversation is already closed, "
        "1 skipped: not found or not visible to you"
    )
    with sessions() as session:
        statuses = {c.thread_key: c.status for c in session.scalars(select(Conversation))}
        assert statuses == {"m1": "closed", "m2": "closed", "m3": "closed"}
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions[-3:] == ["conversation.status", "conversation.status", "conversation.bulk"]
        bulk = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "conversation.bulk")
        ).one()
        assert bulk.note == outcome.summary()
        assert bulk.after is not None and len(bulk.after["skipped"]) == 2


def test_agency_staff_only_change_what_the_agency_may_handle(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    ids = _ids(sessions)
    with sessions() as session, session.begin():
        m2 = session.get(Conversation, ids["m2"])
        assert m2 is not None
        m2.agency_allowed, m2.restricted = True, False
    with sessions() as session, session.begin():
        outcome = do_bulk(session, world.users["agency"], [ids["m1"], ids["m2"]], "claim")
        with pytest.raises(Forbidden):
            do_bulk(
                session, world.users["agency"], [ids["m2"]], "assign", user_id=world.users["cs"].id
            )
        with pytest.raises(Forbidden):
            do_bulk(session, world.users["exec"], [ids["m2"]], "claim")
    assert outcome.done == [ids["m2"]]
    assert outcome.skipped == [(ids["m1"], "not found or not visible to you")]


def test_assign_transfer_and_tag(sessions: sessionmaker[Session], world: InboxWorld) -> None:
    ids = _ids(sessions)
    both = [ids["m1"], ids["m2"]]
    with sessions() as session, session.begin():
        assigned = do_bulk(
            session, world.users["lead"], both, "assign", user_id=world.users["cs"].id
        )
        tagged = do_bulk(session, world.users["lead"], both, "tag", tag=" Outage  Nov ")
        again = do_bulk(session, world.users["lead"], both, "tag", tag="outage nov")
        moved = do_bulk(
            session, world.users["lead"], both, "transfer", queue_id=world.queues["Press"]
        )
        with pytest.raises(ValidationFailed) as invalid:
            do_bulk(session, world.users["lead"], both, "transfer", queue_id=None)
        assert invalid.value.field == "queue_id"
    assert len(assigned.done) == 2 and assigned.done_label == "assigned to Cs"
    assert len(tagged.done) == 2 and tagged.done_label == "tagged 'outage nov'"
    assert (
        again.summary()
        == "0 tagged 'outage nov', 2 skipped: the conversation is already tagged 'outage nov'"
    )
    assert len(moved.done) == 2
    with sessions() as session:
        assert sorted(session.scalars(select(ConversationTag.tag))) == ["outage nov"] * 2
        assert tags_for(session, ids["m1"]) == ["outage nov"]
        for conversation in session.scalars(select(Conversation)):
            assert conversation.queue_id == world.queues["Press"]
            # The Customer Service agent may not keep a PR conversation.
            assert conversation.assigned_user_id is None


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([], "select at least one"),
        (["1", "x"], "'x' is not a conversation id"),
        (["0"], "'0'"),
        (["9" * 5000], "is not a conversation id"),
        (["²"], "is not a conversation id"),
    ],
)
def test_bad_selections_are_named(values: list[str], problem: str) -> None:
    with pytest.raises(ValidationFailed) as invalid:
        parse_conversation_ids(values)
    assert invalid.value.field == "conversation_ids" and problem in invalid.value.reason


def test_bad_tags_are_named() -> None:
    for bad in ("", "-x", "a" * 65, "émoji 🎉"):
        with pytest.raises(ValidationFailed):
            check_tag(bad)


def test_the_bulk_form(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    ids = _ids(sessions)
    csrf = login(client, "cs@demo.example")
    page = client.get("/inbox")
    assert 'id="bulk-form"' in page.text and 'data-testid="row-select"' in page.text
    data = {
        "csrf_token": csrf,
        "action": "status",
        "status": "resolved",
        "conversation_ids": [str(ids["m1"]), str(ids["m2"])],
    }
    fragment = client.post("/inbox/bulk", data=data, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.headers["HX-Trigger"] == "inbox-changed"
    assert "2 resolved" in fragment.text
    page = client.post("/inbox/bulk", data=data)
    assert page.status_code == 200
    assert "0 resolved, 2 skipped: the conversation is already resolved" in page.text
    bad = client.post("/inbox/bulk", data={**data, "action": "delete"})
    assert bad.status_code == 422
    none = client.post(
        "/inbox/bulk", data={**data, "conversation_ids": []}, headers={"HX-Request": "true"}
    )
    assert "select at least one conversation" in none.text
    assert client.post("/inbox/bulk", data={**data, "csrf_token": "x"}).status_code == 403
    client.cookies.clear()
    login(client, "exec@demo.example")
    page = client.get("/inbox")
    assert 'id="bulk-form"' not in page.text
