"""A small organisation for the automatic assignment, SLA sweep and report tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import PASSWORD, Org, item, make_org, store
from townhall.conversations.models import Conversation, Message
from townhall.governance.actions import do_create_user
from townhall.governance.models import Role, User
from townhall.routing.actions import do_apply_policy, route_pending
from townhall.routing.models import Queue
from townhall.routing.policy import default_policy_text


@dataclass
class Team:
    org: Org
    users: dict[str, User]
    queues: dict[str, int]


def policy_with(**assignment: str) -> str:
    """The default policy with some queues' assignment changed (queue name → mode)."""
    text = default_policy_text()
    for name, mode in assignment.items():
        text, count = re.subn(
            rf"(  - name: {re.escape(name)}\n(?:    .*\n)*?    assignment: )\w+",
            rf"\g<1>{mode}",
            text,
        )
        assert count == 1, name
    return text


def make_team(
    sessions: sessionmaker[Session],
    slug: str = "demo",
    *,
    policy: str | None = None,
    cs_capacity: int = 2,
    agency_capacity: int = 2,
) -> Team:
    """Default structure plus: a Customer Service lead and two agents, two agency agents
    (one speaks Spanish), a PR lead; the factory's agents are away so only these get work."""
    org = make_org(sessions, slug)
    with sessions() as session, session.begin():
        do_apply_policy(session, org.id, policy or default_policy_text(), None)
        for user in org.users.values():
            session.get_one(User, user.id).availability = "away"
        users = {}
        for key, role, department, agency, capacity, languages in (
            ("cs_lead", Role.LEAD, "Customer Service", None, cs_capacity, "en"),
            ("cs1", Role.AGENT, "Customer Service", None, cs_capacity, "en"),
            ("cs2", Role.AGENT, "Customer Service", None, cs_capacity, "en"),
            ("agency_en", Role.AGENCY_AGENT, None, org.agency_id, agency_capacity, "en"),
            ("agency_es", Role.AGENCY_AGENT, None, org.agency_id, agency_capacity, "en,es"),
            ("pr_lead", Role.LEAD, "PR", None, 5, "en"),
        ):
            user = do_create_user(
                session,
                org_id=org.id,
                acting_user=None,
                email=f"{key.replace('_', '.')}@{slug}.example",
                name=key.replace("_", " ").title(),
                password=PASSWORD,
                role=role,
                department_id=org.departments[department] if department else None,
                agency_id=agency,
            )
            user.capacity = capacity
            user.languages = languages
            users[key] = user
        queues = {
            q.name: q.id for q in session.scalars(select(Queue).where(Queue.org_id == org.id))
        }
    return Team(org=org, users={**org.users, **users}, queues=queues)


def arrive(
    sessions: sessionmaker[Session],
    team: Team,
    key: str,
    *,
    minute: int = 0,
    route: bool = True,
    text: str | None = None,
    **understanding: Any,
) -> int:
    """Store one inbound message, set what understanding found, route it; the conversation id."""
    store(sessions, team.org.id, item(key, handle=f"h-{key}", minute=minute, text=text))
    with sessions() as session, session.begin():
        conversation = session.scalars(
            select(Conversation).where(
                Conversation.org_id == team.org.id, Conversation.thread_key == key
            )
        ).one()
        fields = {"intent": "complaint", "sentiment": "negative", **understanding}
        session.execute(
            update(Message).where(Message.conversation_id == conversation.id).values(**fields)
        )
        if route:
            route_pending(session, team.org.id, [conversation.id])
        return conversation.id
