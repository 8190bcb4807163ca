"""Knowledge-base admin: validation per field, who may edit, audit rows, the matcher cache."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import item, store
from inbox.conftest import InboxWorld
from townhall.core.errors import Forbidden
from townhall.demo.knowledge import DEMO_ANSWERS, seed_knowledge_base
from townhall.governance.models import AuditEvent
from townhall.knowledge.actions import (
    KbAnswerInput,
    KbAnswerInvalid,
    check_kb_answer,
    do_create_kb_answer,
    do_set_kb_answer_active,
    do_update_kb_answer,
)
from townhall.knowledge.models import KbAnswer
from townhall.knowledge.queries import knowledge_base_for, question_text, suggestions_for
from web.conftest import login


def test_every_wrong_field_is_named() -> None:
    errors = check_kb_answer(KbAnswerInput("", "", ["only one"], "english"))
    assert set(errors) == {"title", "answer", "examples", "language"}
    assert "at least 2" in errors["examples"]
    assert check_kb_answer(KbAnswerInput("t", "a", ["one", "two"], None)) == {}
    too_long = KbAnswerInput("t" * 201, "a" * 2001, ["q"] * 2, "en")
    assert set(check_kb_answer(too_long)) == {"title", "answer"}


def test_form_lines_become_distinct_examples() -> None:
    data = KbAnswerInput.from_form(
        " Pets ", " Yes. ", "can my dog fly?\n\n can my dog fly? \ncats?", "EN"
    )
    assert data == KbAnswerInput("Pets", "Yes.", ["can my dog fly?", "cats?"], "en")


def test_handles_and_links_are_not_part_of_the_question() -> None:
    assert question_text("@SkywardAir is there wifi on SK12? https://t.co/x") == (
        "is there wifi on SK12?"
    )
    assert question_text("Hi @SkywardAir, can my cat fly?") == "Hi, can my cat fly?"


def test_admin_creates_edits_and_deactivates_through_the_pages(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    csrf = login(client, "admin@demo.example")
    empty = client.get("/admin/kb")
    assert empty.status_code == 200 and "No answers yet" in empty.text
    assert client.get("/admin/kb/new").status_code == 200
    bad = client.post(
        "/admin/kb",
        data={"csrf_token": csrf, "title": "", "answer": "Yes", "examples": "one", "language": "x"},
    )
    assert bad.status_code == 422
    for field in ("title", "examples", "language"):
        assert f'data-testid="error-{field}"' in bad.text
    assert 'data-testid="error-answer"' not in bad.text
    assert ">Yes</textarea>" in bad.text  # what was typed is kept
    created = client.post(
        "/admin/kb",
        data={
            "csrf_token": csrf,
            "title": "Pets",
            "answer": "Cats and dogs fly in the cabin.",
            "examples": "can my dog fly?\ncan I bring my cat?",
            "language": "en",
        },
    )
    assert created.status_code == 303
    with sessions() as session:
        answer = session.scalars(select(KbAnswer)).one()
        answer_id = answer.id
    assert "Pets" in client.get("/admin/kb").text
    edit = client.get(f"/admin/kb/{answer_id}")
    assert "can I bring my cat?" in edit.text
    updated = client.post(
        f"/admin/kb/{answer_id}",
        data={
            "csrf_token": csrf,
            "title": "Travelling with pets",
            "answer": "Cats and dogs up to 8 kg fly in the cabin.",
            "examples": "can my dog fly?\ncan I bring my cat?",
            "language": "",
        },
    )
    assert updated.status_code == 303
    off = client.post(f"/admin/kb/{answer_id}/active", data={"csrf_token": csrf, "active": "false"})
    assert off.status_code == 303
    again = client.post(
        f"/admin/kb/{answer_id}/active", data={"csrf_token": csrf, "active": "false"}
    )
    assert again.status_code == 422
    assert client.post("/admin/kb", data={"title": "x"}).status_code == 403  # no CSRF token
    with sessions() as session:
        answer = session.get(KbAnswer, answer_id)
        assert answer is not None
        assert (answer.title, answer.language, answer.active) == (
            "Travelling with pets",
            None,
            False,
        )
        assert answer.updated_by_id == world.users["admin"].id
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "kb_answer").order_by(AuditEvent.id)
        ).all()
        assert [e.action for e in events] == ["kb.create", "kb.update", "kb.deactivate"]
        assert events[1].before == {
            "title": "Pets",
            "answer": "Cats and dogs fly in the cabin.",
            "language": "en",
        }


def test_leads_may_edit_agents_and_agency_may_not(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    data = KbAnswerInput("Pets", "Yes.", ["can my dog fly?", "cats?"], None)
    with sessions() as session, session.begin():
        answer = do_create_kb_answer(session, world.org.id, data, world.users["lead"])
        for key in ("cs", "agency", "exec", "legal"):
            with pytest.raises(Forbidden):
                do_update_kb_answer(session, answer, data, world.users[key])
        with pytest.raises(KbAnswerInvalid) as invalid:
            do_update_kb_answer(session, answer, KbAnswerInput(), world.users["lead"])
        assert set(invalid.value.errors) == {"title", "answer", "examples"}


def test_the_matcher_is_rebuilt_only_when_answers_change(
    sessions: sessionmaker[Session], world: InboxWorld, answers: dict[str, int]
) -> None:
    with sessions() as session:
        first = knowledge_base_for(session, world.org.id)
        assert knowledge_base_for(session, world.org.id) is first
        assert len(first.answers) == len(answers)
        top = suggestions_for(session, world.org.id, "@SkywardAir can I take my dog with me?")
        assert [s.title for s in top][:1] == ["Travelling with pets"]
        assert top[0].score >= 0.45
        assert [s.score for s in top] == sorted((s.score for s in top), reverse=True)
    with sessions() as session, session.begin():
        pets = session.get(KbAnswer, answers["Travelling with pets"])
        assert pets is not None
        do_set_kb_answer_active(session, pets, False, world.users["admin"])
    with sessions() as session:
        rebuilt = knowledge_base_for(session, world.org.id)
        assert rebuilt is not first
        assert answers["Travelling with pets"] not in rebuilt.answers
        top = suggestions_for(session, world.org.id, "can I take my dog with me?")
        assert "Travelling with pets" not in [s.title for s in top]
    with sessions() as session, session.begin():
        wifi = session.get(KbAnswer, answers["Wi-Fi on board"])
        assert wifi is not None
        data = KbAnswerInput(wifi.title, "Wi-Fi is free for everyone now.", wifi.examples, "en")
        do_update_kb_answer(session, wifi, data, world.users["admin"])
    with sessions() as session:
        edited = knowledge_base_for(session, world.org.id)
        assert edited is not rebuilt
        assert edited.answers[answers["Wi-Fi on board"]].answer == "Wi-Fi is free for everyone now."


def test_suggestions_fragment_for_the_latest_inbound_message(
    client: TestClient, sessions: sessionmaker[Session], world: InboxWorld, answers: dict[str, int]
) -> None:
    # The customer asks a routine question in the same thread: the latest message counts.
    store(sessions, world.org.id, item("m1b", text="and can my dog fly with me?", reply_to="m1"))
    login(client, "cs@demo.example")
    page = client.get(f"/conversations/{world.conversation_id}")
    assert f'hx-get="/conversations/{world.conversation_id}/suggestions"' in page.text
    fragment = client.get(f"/conversations/{world.conversation_id}/suggestions")
    assert fragment.status_code == 200
    assert fragment.text.count('data-testid="suggestion"') >= 1
    assert "% match" in fragment.text and 'data-insert="Cats and dogs' in fragment.text
    # The agency may not see this in-house conversation, nor its suggestions.
    client.cookies.clear()
    login(client, "agency@demo.example")
    assert client.get(f"/conversations/{world.conversation_id}/suggestions").status_code == 404


def test_no_suggestions_without_a_knowledge_base(client: TestClient, world: InboxWorld) -> None:
    login(client, "cs@demo.example")
    fragment = client.get(f"/conversations/{world.conversation_id}/suggestions")
    assert fragment.status_code == 200
    assert 'data-testid="suggestion"' not in fragment.text
    assert "nothing for this question" in fragment.text


def test_the_demo_knowledge_base_is_seeded_once(
    sessions: sessionmaker[Session], world: InboxWorld
) -> None:
    with sessions() as session, session.begin():
        assert seed_knowledge_base(session, world.org.id) == len(DEMO_ANSWERS) >= 15
        assert seed_knowledge_base(session, world.org.id) == 0
