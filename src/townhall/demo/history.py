"""The demo's past: who wrote each imported reply, and which conversations the team has closed.

The generated traffic arrives as platform history: the brand's replies carry no author and
every conversation starts out "new". Left so, the demo's inbox would be weeks of untouched
backlog and its dashboards would show no agency work at all. This plays the history the way
the organisation would have worked it: each replied conversation was taken by someone allowed
to take it (the agency first where the policy lets it, never on a restricted conversation),
that person wrote the replies, and old answered conversations are resolved. Recent and
unanswered ones stay open for the people trying the product.

Seeded and idempotent: only replies without an author and conversations still "new" change.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation, ConversationStatus, Message
from townhall.core.time import ensure_aware
from townhall.governance.models import Role, User
from townhall.inbox.models import Assignment
from townhall.routing.auto_assign import auto_assign
from townhall.routing.models import RoutingDecisionRecord
from townhall.routing.sla_pause import pause_resolution

# Share of agency-allowed conversations the agency answered (it is the first line there).
AGENCY_SHARE = 0.75
# Answered conversations quiet for this long were resolved; newer ones wait on the customer.
RESOLVED_AFTER = timedelta(days=1)
# A customer's answer to a reply was dealt with (in a DM, or it said thanks) after this long.
FOLLOW_UP_HANDLED_AFTER = timedelta(days=3)
_CLOSED, _RESOLVED = ConversationStatus.CLOSED, ConversationStatus.RESOLVED
# Unanswered conversations the team dealt with without a public reply, by kind: after how
# long, what share of them, and how they ended. Chatter that needs no answer was closed; risk
# cases were handled off the platform by their owners; most customer questions went to a DM
# or the phone. What is left of the old ones is the missed work the demo's reports show.
HANDLED_UNANSWERED: dict[str, tuple[timedelta, float, ConversationStatus]] = {
    "spam": (timedelta(hours=2), 1.0, _CLOSED),
    **{
        kind: (timedelta(days=3), 1.0, _CLOSED)
        for kind in ("feedback_praise", "campaign_reply", "strategic", "other")
    },
    **{
        kind: (timedelta(days=2), 1.0, _RESOLVED)
        for kind in (
            "threat",
            "impersonation_phishing",
            "protest",
            "employee_conduct",
            "confidential_disclosure",
        )
    },
    **{
        kind: (timedelta(days=3), 0.8, _RESOLVED)
        for kind in ("support_request", "complaint", "sales_lead", "press_inquiry")
    },
}
_WORKING_ROLES = {Role.AGENT.value, Role.LEAD.value, Role.AGENCY_AGENT.value}


@dataclass(frozen=True)
class HistorySummary:
    replies_attributed: int
    resolved: int
    closed: int
    by_agency: int


@dataclass(frozen=True)
class _People:
    agency: list[User]
    by_department: dict[int, list[User]]
    admin: User

    def pick(self, rng: random.Random, conversation: Conversation) -> User:
        """Someone allowed to take the conversation, as routing's assignment rules say."""
        agency_may = conversation.agency_allowed and not conversation.restricted and self.agency
        if agency_may and rng.random() < AGENCY_SHARE:
            return rng.choice(self.agency)
        in_house = self.by_department.get(conversation.owner_department_id or 0, [])
        return rng.choice(in_house) if in_house else self.admin


def _people(session: Session, org_id: int) -> _People:
    users = list(session.scalars(select(User).where(User.org_id == org_id).order_by(User.id)))
    working = [u for u in users if u.role in _WORKING_ROLES]
    by_department: dict[int, list[User]] = defaultdict(list)
    for user in working:
        if user.agency_id is None and user.department_id is not None:
            by_department[user.department_id].append(user)
    admin = next(u for u in users if u.role == Role.ADMIN.value)
    return _People([u for u in working if u.agency_id is not None], by_department, admin)


def _kinds(session: Session, org_id: int) -> dict[int, str]:
    """Each conversation's kind as its latest routing decision saw it."""
    rows = session.execute(
        select(RoutingDecisionRecord.conversation_id, RoutingDecisionRecord.kind)
        .where(RoutingDecisionRecord.org_id == org_id)
        .order_by(RoutingDecisionRecord.id)
    )
    return {conversation_id: kind for conversation_id, kind in rows if kind}


def _take(
    session: Session, conversation: Conversation, user: User, at: datetime, reason: str
) -> None:
    session.execute(
        update(Assignment)
        .where(Assignment.conversation_id == conversation.id, Assignment.ended_at.is_(None))
        .values(ended_at=at)
    )
    session.add(
        Assignment(conversation_id=conversation.id, user_id=user.id, assigned_at=at, reason=reason)
    )
    conversation.assigned_user_id = user.id


def play_history(session: Session, org_id: int, *, seed: int, now: datetime) -> HistorySummary:
    """Attribute the imported replies and resolve what the team had finished by ``now``."""
    people = _people(session, org_id)
    kinds = _kinds(session, org_id)
    replies: dict[int, list[Message]] = defaultdict(list)
    for message in session.scalars(
        select(Message)
        .where(
            Message.org_id == org_id,
            Message.direction == "outbound",
            Message.author_user_id.is_(None),
            Message.automatic.is_(False),
        )
        .order_by(Message.conversation_id, Message.created_at, Message.id)
    ):
        replies[message.conversation_id].append(message)
    attributed = resolved = closed = by_agency = 0
    conversations = session.scalars(
        select(Conversation)
        .where(Conversation.org_id == org_id, Conversation.status == ConversationStatus.NEW.value)
        .order_by(Conversation.id)
    )
    for conversation in conversations:
        # One generator per conversation: a re-run after a crash picks the same people.
        rng = random.Random(seed * 1_000_003 + conversation.id)
        started = ensure_aware(conversation.first_message_at)
        last = ensure_aware(conversation.last_message_at)
        answered = replies.get(conversation.id, [])
        if answered:
            author = people.pick(rng, conversation)
            first_reply = ensure_aware(answered[0].created_at)
            taken = max(started, first_reply - timedelta(minutes=rng.randint(1, 30)))
            _take(session, conversation, author, taken, "demo history")
            for message in answered:
                message.author_user_id = author.id
            attributed += len(answered)
            by_agency += len(answered) if author.agency_id is not None else 0
            conversation.first_response_at = conversation.first_response_at or first_reply
            customer_wrote_last = ensure_aware(answered[-1].created_at) < last
            if now - last > (FOLLOW_UP_HANDLED_AFTER if customer_wrote_last else RESOLVED_AFTER):
                conversation.status = ConversationStatus.RESOLVED.value
                conversation.resolved_at = min(now, last + timedelta(minutes=rng.randint(1, 90)))
                resolved += 1
            elif customer_wrote_last:
                conversation.status = ConversationStatus.OPEN.value  # waiting on its assignee
            else:
                conversation.status = ConversationStatus.PENDING_CUSTOMER.value
                pause_resolution(conversation, ensure_aware(answered[-1].created_at))
            continue
        handled = HANDLED_UNANSWERED.get(kinds.get(conversation.id, ""))
        if handled is None:
            continue
        after, share, ending = handled
        if now - last > after and rng.random() < share:
            author = people.pick(rng, conversation)
            ended = last + after / 2
            _take(session, conversation, author, last + after / 4, "demo history")
            conversation.status = ending.value
            if ending == ConversationStatus.RESOLVED:
                conversation.resolved_at = ended
                resolved += 1
            else:
                closed += 1
    session.flush()
    # Resolving freed the agents' capacity: the queues hand out their waiting work again.
    auto_assign(session, org_id, now=now)
    return HistorySummary(attributed, resolved, closed, by_agency)
