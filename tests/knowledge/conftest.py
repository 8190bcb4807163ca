"""A small knowledge base on top of the inbox world (answers written through the real action)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from inbox.conftest import InboxWorld, make_world
from townhall.knowledge.actions import KbAnswerInput, do_create_kb_answer
from townhall.web import create_app

ANSWERS = {
    "Wi-Fi on board": (
        "All our A320neo aircraft have Wi-Fi; messaging is free.",
        ["is there wifi on the flight?", "do you have internet on board?", "is wifi free?"],
    ),
    "Travelling with pets": (
        "Cats and dogs up to 8 kg travel in the cabin for EUR 50.",
        ["can I bring my dog on the plane?", "do you allow pets in the cabin?", "can my cat fly?"],
    ),
    "Online check-in": (
        "Online check-in opens 30 hours before departure.",
        ["when does online check-in open?", "how do I check in online?", "can I check in early?"],
    ),
    "Refund for a cancelled flight": (
        "A cancelled flight is refunded within 7 working days.",
        ["how do I get a refund?", "my flight was cancelled, can I get my money back?"],
    ),
}


def seed_answers(sessions: sessionmaker[Session], org_id: int) -> dict[str, int]:
    ids = {}
    with sessions() as session, session.begin():
        for title, (answer, examples) in ANSWERS.items():
            row = do_create_kb_answer(
                session, org_id, KbAnswerInput(title, answer, examples, "en"), None
            )
            ids[title] = row.id
    return ids


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> InboxWorld:
    return make_world(sessions)


@pytest.fixture
def answers(sessions: sessionmaker[Session], world: InboxWorld) -> dict[str, int]:
    return seed_answers(sessions, world.org.id)


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(), follow_redirects=False)
