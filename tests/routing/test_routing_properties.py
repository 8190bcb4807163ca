"""Property: whatever understanding says, routing puts a conversation in exactly one live queue
and never shows the agency a conversation the policy keeps in-house."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import item, make_org, store
from townhall.contacts.models import Contact
from townhall.conversations.models import Conversation, Message
from townhall.core.taxonomy import RISK_FLAGS, SENTIMENTS
from townhall.governance.models import User
from townhall.governance.permissions import conversation_visibility
from townhall.routing.flows import route_all_pending
from townhall.routing.models import Queue, RoutingDecisionRecord
from townhall.routing.policy import KINDS, default_policy

understanding = st.fixed_dictionaries(
    {
        # Unknown intents too; without control characters, which PostgreSQL text cannot hold.
        "intent": st.none()
        | st.sampled_from(KINDS)
        | st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12),
        "risk_flags": st.none() | st.lists(st.sampled_from(RISK_FLAGS), unique=True, max_size=3),
        "sentiment": st.none() | st.sampled_from(SENTIMENTS),
        "sentiment_score": st.none() | st.floats(-1, 1),
        "language": st.none() | st.sampled_from(["en", "es", "fr", "de"]),
    }
)
author = st.fixed_dictionaries(
    {
        "is_vip": st.booleans(),
        "is_journalist": st.booleans(),
        "is_employee": st.booleans(),
        "followers": st.integers(0, 50_000),
    }
)
words = st.sampled_from(["hello", "refund", "hacked", "my account", "flight", "fraud", "delay"])


def test_every_conversation_lands_in_one_live_queue_and_agency_sees_only_what_it_may(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    numbers = itertools.count()
    in_house_kinds = {k for k, entry in default_policy().kinds.items() if not entry.agency_allowed}

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        st.lists(
            st.tuples(understanding, author, st.lists(words, min_size=1, max_size=4)),
            min_size=1,
            max_size=4,
        )
    )
    def check(batch: list[tuple[dict[str, Any], dict[str, Any], list[str]]]) -> None:
        keys = []
        for fields, contact, text in batch:
            number = next(numbers)
            keys.append(f"p{number}")
            store(sessions, org.id, item(f"p{number}", handle=f"a{number}", text=" ".join(text)))
            with sessions() as session, session.begin():
                conversation = session.scalars(
                    select(Conversation).where(Conversation.thread_key == f"p{number}")
                ).one()
                session.execute(
                    update(Message)
                    .where(Message.conversation_id == conversation.id)
                    .values(**fields)
                )
                session.execute(
                    update(Contact).where(Contact.id == conversation.contact_id).values(**contact)
                )
        route_all_pending(sessions, org.id)
        with sessions() as session:
            live = {
                q.id
                for q in session.scalars(
                    select(Queue).where(Queue.org_id == org.id, Queue.retired_at.is_(None))
                )
            }
            conversations = session.scalars(
                select(Conversation).where(Conversation.thread_key.in_(keys))
            ).all()
            assert len(conversations) == len(keys)
            for conversation in conversations:
                assert conversation.queue_id in live
                decisions = session.scalars(
                    select(RoutingDecisionRecord).where(
                        RoutingDecisionRecord.conversation_id == conversation.id
                    )
                ).all()
                assert len(decisions) == 1
                decision = decisions[0]
                assert decision.queue_id == conversation.queue_id
                if decision.kind in in_house_kinds:
                    assert conversation.agency_allowed is False
            agency = session.get(User, org.users["agency"].id)
            assert agency is not None
            visible = session.scalars(
                select(Conversation).where(conversation_visibility(agency))
            ).all()
            for conversation in visible:
                decision = session.scalars(
                    select(RoutingDecisionRecord).where(
                        RoutingDecisionRecord.conversation_id == conversation.id
                    )
                ).one()
                assert decision.detail["agency_allowed"] is True
                assert decision.detail["visibility"] == "normal"
                assert decision.kind not in in_house_kinds

    check()
