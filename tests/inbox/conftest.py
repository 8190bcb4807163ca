"""An organisation with the default policy applied and a few routed conversations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from factories import Org, item, make_org, store
from townhall.conversations.models import Conversation
from townhall.governance.actions import do_create_user
from townhall.governance.models import Role, User
from townhall.routing.actions import do_apply_policy, route_pending
from townhall.routing.models import Queue
from townhall.routing.policy import default_policy_text
from townhall.understanding import Understander, get_understander
from townhall.web import create_app


@dataclass
class InboxWorld:
    org: Org
    users: dict[str, User]
    conversation_id: int  # in-house, in a Customer Service queue
    queues: dict[str, int]  # queue name → id


def manual_assignment_policy() -> str:
    """The default policy with every queue assigned by hand: these tests assign themselves."""
    return re.sub(r"assignment: \w+", "assignment: manual", default_policy_text())


def make_world(sessions: sessionmaker[Session]) -> InboxWorld:
    org = make_org(sessions)
    with sessions() as session, session.begin():
        do_apply_policy(session, org.id, manual_assignment_policy(), None)
        lead = do_create_user(
            session,
            org_id=org.id,
            acting_user=None,
            email="lead@demo.example",
            name="Lead",
            password="correct-horse-battery",
            role=Role.LEAD,
            department_id=org.departments["Customer Service"],
        )
        legal = do_create_user(
            session,
            org_id=org.id,
            acting_user=None,
            email="lena@demo.example",
            name="Lena Legal",
            password="correct-horse-battery",
            role=Role.REVIEWER,
            department_id=org.departments["Legal"],
        )
        users = {**org.users, "lead": lead, "legal": legal}
    store(sessions, org.id, item("m1", text="My bag never arrived, please help"))
    store(sessions, org.id, item("m2", handle="bob", text="When is your next webinar?"))
    with sessions() as session, session.begin():
        route_pending(session, org.id)
        queues = {
            q.name: q.id for q in session.scalars(select(Queue).where(Queue.org_id == org.id))
        }
        conversation = session.scalars(
            select(Conversation).where(Conversation.thread_key == "m1")
        ).one()
        cs_queue = session.scalars(
            select(Queue).where(
                Queue.org_id == org.id,
                Queue.department_id == org.departments["Customer Service"],
                Queue.restricted.is_(False),
            )
        ).first()
        assert cs_queue is not None
        conversation.queue_id = cs_queue.id
        conversation.owner_department_id = cs_queue.department_id
        conversation.agency_allowed = False
        conversation.restricted = False
        conversation_id = conversation.id
    return InboxWorld(org=org, users=users, conversation_id=conversation_id, queues=queues)


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> InboxWorld:
    return make_world(sessions)


@pytest.fixture
def understander() -> Iterator[Understander]:
    """A process-wide understander without corrections learnt by earlier tests."""
    get_understander.cache_clear()
    yield get_understander()
    get_understander.cache_clear()


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(), follow_redirects=False)
