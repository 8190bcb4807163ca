"""Automatic answers: reply from the knowledge base to routine questions the policy allows.

Runs right after routing (``pipeline.process_pending``). A conversation gets an automatic
answer only when all of these hold:

- its latest routing decision came from the ownership policy and allows automatic answers
  (``auto_answer_allowed``; a person moving the conversation by hand turns it off);
- it is not restricted, still needs work, and nobody has answered the latest inbound message;
- that message is understood and carries no risk flag;
- it has not had an automatic answer before (a customer writing back gets a person);
- the knowledge base's best answer scores at least ``AUTO_ANSWER_MIN_SCORE``.

The reply goes out through the outbox like any other (marked ``automatic``), the conversation
moves to pending customer, and an audit row names the answer and its score. The ``auto_answer``
table is unique per inbound message, so re-runs and concurrent workers answer at most once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation, ConversationStatus, Message
from townhall.core.time import ensure_aware, utcnow
from townhall.governance import audit
from townhall.governance.models import Organisation
from townhall.inbox.actions import channel_account_for
from townhall.inbox.models import OutboxItem, OutboxStatus
from townhall.inbox.workflow import ACTIVE
from townhall.knowledge.models import AutoAnswer
from townhall.knowledge.queries import knowledge_base_for, question_text
from townhall.routing import sla_pause
from townhall.routing.models import RoutingDecisionRecord

# Chosen on CLINC150 validation data (bench/kb_threshold.py: a KB of 10 example questions
# for each of 150 answers, asked 3,000 in-scope and 100 out-of-scope questions). At 0.75,
# 98.7% of the questions answered automatically get the right answer and a third of all
# questions are answered; at 0.70 it is 98.1% and 45%, at 0.80 99.1% and 22%. A wrong
# automatic answer costs more than a question left to a person, so we stay at 0.75.
AUTO_ANSWER_MIN_SCORE = 0.75
AUTOMATIC_ACTOR = "townhall (automatic answer)"


@dataclass(frozen=True)
class _Candidate:
    conversation: Conversation
    message: Message


def _latest_decisions(session: Session, ids: list[int]) -> dict[int, RoutingDecisionRecord]:
    latest: dict[int, RoutingDecisionRecord] = {}
    for record in session.scalars(
        select(RoutingDecisionRecord)
        .where(RoutingDecisionRecord.conversation_id.in_(ids))
        .order_by(RoutingDecisionRecord.created_at, RoutingDecisionRecord.id)
    ):
        latest[record.conversation_id] = record
    return latest


def _latest_messages(session: Session, ids: list[int]) -> dict[int, Message]:
    latest: dict[int, Message] = {}
    for message in session.scalars(
        select(Message)
        .where(Message.conversation_id.in_(ids))
        .order_by(Message.conversation_id, Message.created_at, Message.id)
    ):
        latest[message.conversation_id] = message
    return latest


def _candidates(session: Session, org_id: int, ids: list[int]) -> list[_Candidate]:
    answered_before = exists().where(AutoAnswer.conversation_id == Conversation.id)
    conversations = list(
        session.scalars(
            select(Conversation)
            .where(
                Conversation.org_id == org_id,
                Conversation.id.in_(ids),
                Conversation.restricted.is_(False),
                Conversation.status.in_([s.value for s in ACTIVE]),
                ~answered_before,
            )
            .order_by(Conversation.id)
        )
    )
    if not conversations:
        return []
    wanted = [c.id for c in conversations]
    decisions = _latest_decisions(session, wanted)
    messages = _latest_messages(session, wanted)
    found = []
    for conversation in conversations:
        decision = decisions.get(conversation.id)
        message = messages.get(conversation.id)
        if (
            decision is None
            or decision.by_user_id is not None
            or decision.restricted
            or not (decision.detail or {}).get("auto_answer_allowed", False)
        ):
            continue
        # The latest message must be the customer's, understood and without any risk signal.
        if (
            message is None
            or message.direction != "inbound"
            or message.understood_at is None
            or message.risk_flags
        ):
            continue
        found.append(_Candidate(conversation, message))
    return found


def _queue_automatic_reply(
    session: Session, conversation: Conversation, inbound: Message, text: str
) -> Message:
    """An outbound message and its outbox row, like inbox.actions.do_reply but by nobody."""
    account = channel_account_for(session, conversation)
    organisation = session.get(Organisation, conversation.org_id)
    now = utcnow()
    reply = Message(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        platform=conversation.platform,
        external_id=f"townhall-pending-{uuid.uuid4().hex}",
        kind="direct_message" if inbound.kind == "direct_message" else "reply",
        direction="outbound",
        author_handle=account.handle if account else "townhall",
        author_name=account.name if account else (organisation.name if organisation else None),
        text=text,
        created_at=now,
        in_reply_to=inbound.external_id,
        raw={},
        author_user_id=None,
        delivery_status=OutboxStatus.PENDING.value,
        automatic=True,
    )
    session.add(reply)
    session.flush()
    session.add(
        OutboxItem(
            org_id=conversation.org_id,
            message_id=reply.id,
            conversation_id=conversation.id,
            status=OutboxStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    conversation.message_count += 1
    conversation.last_message_at = max(ensure_aware(conversation.last_message_at), now)
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    return reply


def auto_answer_pending(
    session: Session,
    org_id: int,
    conversation_ids: Iterable[int],
    *,
    min_score: float = AUTO_ANSWER_MIN_SCORE,
) -> int:
    """Answer the routine questions among these conversations; returns how many were answered."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return 0
    kb = knowledge_base_for(session, org_id)
    if kb.matcher is None:
        return 0
    candidates = _candidates(session, org_id, ids)
    if not candidates:
        return 0
    matches = kb.matcher.match([question_text(c.message.text) for c in candidates])
    answered = 0
    for candidate, match in zip(candidates, matches, strict=True):
        if match is None:
            continue
        inbound, conversation = candidate.message, candidate.conversation
        inbound.kb_answer_id, inbound.kb_score = match.answer_id, match.score
        answer = kb.answers.get(int(match.answer_id))
        if answer is None or match.score < min_score:
            continue
        if answer.language and inbound.language and answer.language != inbound.language:
            continue
        before = {"status": conversation.status}
        try:
            # A savepoint: another worker answering the same message first only skips this one.
            with session.begin_nested():
                reply = _queue_automatic_reply(session, conversation, inbound, answer.answer)
                session.add(
                    AutoAnswer(
                        org_id=org_id,
                        conversation_id=conversation.id,
                        inbound_message_id=inbound.id,
                        reply_message_id=reply.id,
                        kb_answer_id=answer.id,
                        score=match.score,
                        created_at=utcnow(),
                    )
                )
                previous_status = conversation.status
                conversation.status = ConversationStatus.PENDING_CUSTOMER.value
                sla_pause.on_status_change(session, conversation, previous_status, utcnow())
                session.flush()
        except IntegrityError:
            continue
        audit.record(
            session,
            org_id=org_id,
            actor=None,
            actor_label=AUTOMATIC_ACTOR,
            action="conversation.auto_answer",
            object_type="conversation",
            object_id=conversation.id,
            before=before,
            after={
                "status": conversation.status,
                "message_id": reply.id,
                "in_reply_to_message_id": inbound.id,
                "kb_answer_id": answer.id,
                "kb_answer_title": answer.title,
                "score": match.score,
            },
        )
        answered += 1
    return answered
