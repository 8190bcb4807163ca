"""The only writes of the inbox workflow; each flushes and appends its audit row.

Status changes, assignment, transfer, internal notes with @mentions, corrections of the
understanding, replies (queued in the outbox, sent by ``inbox.outbox``) and their approval.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from townhall.channels.models import ChannelAccount
from townhall.conversations.models import Conversation, ConversationStatus, Message
from townhall.core.errors import Forbidden, ValidationFailed
from townhall.core.taxonomy import INTENTS, SENTIMENTS
from townhall.core.time import ensure_aware, utcnow
from townhall.governance import audit
from townhall.governance.models import Department, Organisation, Role, User
from townhall.governance.permissions import can_act
from townhall.inbox.models import (
    Assignment,
    InboxSettings,
    InternalNote,
    Notification,
    OutboxItem,
    OutboxStatus,
    UnderstandingCorrection,
)
from townhall.inbox.queries import check_can_receive, open_assignment_count, user_may_see
from townhall.inbox.workflow import check_transition, is_reopening
from townhall.integrations import outgoing
from townhall.routing import sla_pause
from townhall.routing.actions import do_reroute
from townhall.routing.auto_assign import after_release
from townhall.routing.models import Queue, RoutingDecisionRecord
from townhall.understanding import Correction, get_understander

MAX_NOTE_CHARS = 5000
MAX_REPLY_CHARS = 5000
CORRECTABLE = {"intent": INTENTS, "sentiment": SENTIMENTS}
# "@legal", "@customer-service", "@sam.agent": a department slug or an email's local part.
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})")


def check_can_act(user: User) -> None:
    if not can_act(user):
        raise Forbidden("your role may read conversations but not change them")


_AFTER_COMMIT = "townhall.inbox.after_commit"


def _after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the surrounding transaction commits; drop it on rollback."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


# -- status ---------------------------------------------------------------------------------


def do_set_status(
    session: Session, conversation: Conversation, status: str, acting_user: User
) -> Conversation:
    """Move the conversation along the state machine (ValidationFailed for illegal moves)."""
    check_can_act(acting_user)
    before = {"status": conversation.status}
    target = check_transition(conversation.status, status)
    now = utcnow()
    if target == ConversationStatus.RESOLVED:
        conversation.resolved_at = now
    elif is_reopening(conversation.status, target):
        conversation.resolved_at = None
    conversation.status = target.value
    sla_pause.on_status_change(session, conversation, before["status"], now)
    session.flush()
    audit.record(
        session,
        org_id=conversation.org_id,
        actor=acting_user,
        action="conversation.reopen"
        if is_reopening(before["status"], target)
        else "conversation.status",
        object_type="conversation",
        object_id=conversation.id,
        before=before,
        after={"status": target.value},
    )
    outgoing.announce_status_changed(session, conversation, before["status"], acting_user)
    if target in (ConversationStatus.RESOLVED, ConversationStatus.CLOSED):
        # The assignee has room again: the queue's waiting work is handed out.
        after_release(session, conversation, conversation.assigned_user_id)
    return conversation


# -- assignment -----------------------------------------------------------------------------


def _end_assignment(session: Session, conversation: Conversation) -> None:
    session.execute(
        update(Assignment)
        .where(Assignment.conversation_id == conversation.id, Assignment.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def do_assign(
    session: Session, conversation: Conversation, user: User, acting_user: User
) -> Assignment:
    """Give the conversation to ``user``: they must be allowed to work it and have capacity."""
    check_can_act(acting_user)
    if acting_user.is_agency and user.id != acting_user.id:
        raise Forbidden("agency staff may claim conversations but not assign them to others")
    if conversation.assigned_user_id == user.id:
        raise ValidationFailed("user", f"the conversation is already assigned to {user.name}")
    problem = check_can_receive(user, conversation)
    if problem:
        raise ValidationFailed("user", problem)
    # Count the load under the organisation's write lock (automatic assignment takes it
    # too): two people assigning at once would otherwise both see room for one more.
    audit.lock_organisation(session, conversation.org_id)
    load = open_assignment_count(session, user.id)
    if load >= user.capacity:
        raise ValidationFailed(
            "user", f"{user.name} is at capacity ({load} of {user.capacity} open conversations)"
        )
    before = {"assigned_user_id": conversation.assigned_user_id}
    _end_assignment(session, conversation)
    assignment = Assignment(
        conversation_id=conversation.id,
        user_id=user.id,
        assigned_by_id=acting_user.id,
        assigned_at=utcnow(),
    )
    session.add(assignment)
    conversation.assigned_user_id = user.id
    session.flush()
    audit.record(
        session,
        org_id=conversation.org_id,
        actor=acting_user,
        action="conversation.claim" if user.id == acting_user.id else "conversation.assign",
        object_type="conversation",
        object_id=conversation.id,
        before=before,
        after={"assigned_user_id": user.id},
    )
    return assignment


def do_claim(session: Session, conversation: Conversation, acting_user: User) -> Assignment:
    return do_assign(session, conversation, acting_user, acting_user)


def do_unassign(session: Session, conversation: Conversation, acting_user: User) -> None:
    check_can_act(acting_user)
    if conversation.assigned_user_id is None:
        raise ValidationFailed("user", "the conversation is not assigned to anyone")
    before = {"assigned_user_id": conversation.assigned_user_id}
    _end_assignment(session, conversation)
    conversation.assigned_user_id = None
    session.flush()
    audit.record(
        session,
        org_id=conversation.org_id,
        actor=acting_user,
        action="conversation.unassign",
        object_type="conversation",
        object_id=conversation.id,
        before=before,
        after={"assigned_user_id": None},
    )
    after_release(session, conversation, before["assigned_user_id"], gave_back=True)


def do_transfer(
    session: Session, conversation: Conversation, queue: Queue, acting_user: User, reason: str
) -> RoutingDecisionRecord:
    """Move the conversation to another queue (another department or the agency).

    The person working it keeps it only if they may still work it in its new place.
    """
    check_can_act(acting_user)
    decision = do_reroute(session, conversation, queue, acting_user, reason)
    assignee = (
        session.get(User, conversation.assigned_user_id) if conversation.assigned_user_id else None
    )
    if assignee is not None and (
        check_can_receive(assignee, conversation) is not None
        or (queue.department_id is not None and assignee.department_id != queue.department_id)
    ):
        do_unassign(session, conversation, acting_user)
    elif assignee is None:
        after_release(session, conversation, None)  # waiting in its new queue
    return decision


# -- notes and mentions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Mentioned:
    tokens: list[str]  # the @names that matched a department or a person
    user_ids: list[int]  # everyone to notify (who may see the conversation)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def resolve_mentions(
    session: Session, conversation: Conversation, body: str, author: User
) -> Mentioned:
    """Departments by slug or name (``@legal``, ``@customer-service``), people by email local part."""
    names = list(dict.fromkeys(m.lower().rstrip(".") for m in MENTION.findall(body)))
    if not names:
        return Mentioned([], [])
    departments = {
        key: d
        for d in session.scalars(select(Department).where(Department.org_id == conversation.org_id))
        for key in (d.slug.lower(), _slug(d.name))
    }
    users = list(
        session.scalars(
            select(User).where(User.org_id == conversation.org_id, User.is_active.is_(True))
        )
    )
    by_local = {u.email.split("@", 1)[0].lower(): u for u in users}
    tokens: list[str] = []
    targets: dict[int, User] = {}
    for name in names:
        if name in departments:
            tokens.append(name)
            department_id = departments[name].id
            targets.update({u.id: u for u in users if u.department_id == department_id})
        elif name in by_local:
            tokens.append(name)
            targets[by_local[name].id] = by_local[name]
    notify = [
        uid
        for uid, user in targets.items()
        if uid != author.id and user_may_see(session, user, conversation.id)
    ]
    return Mentioned(tokens, sorted(notify))


def do_add_note(
    session: Session, conversation: Conversation, author: User, body: str
) -> InternalNote:
    """An internal note; everyone it @mentions (who may see the conversation) is notified."""
    check_can_act(author)
    body = body.strip()
    if not body:
        raise ValidationFailed("body", "the note is empty")
    if len(body) > MAX_NOTE_CHARS:
        raise ValidationFailed("body", f"a note has at most {MAX_NOTE_CHARS} characters")
    mentioned = resolve_mentions(session, conversation, body, author)
    now = utcnow()
    note = InternalNote(
        conversation_id=conversation.id,
        author_id=author.id,
        body=body,
        mentions=mentioned.tokens,
        created_at=now,
    )
    session.add(note)
    session.flush()
    session.add_all(
        Notification(
            org_id=conversation.org_id,
            user_id=user_id,
            conversation_id=conversation.id,
            note_id=note.id,
            created_at=now,
        )
        for user_id in mentioned.user_ids
    )
    session.flush()
    audit.record(
        session,
        org_id=conversation.org_id,
        actor=author,
        action="conversation.note",
        object_type="conversation",
        object_id=conversation.id,
        after={"note_id": note.id, "mentions": mentioned.tokens, "notified": mentioned.user_ids},
    )
    return note


def do_mark_notifications_read(session: Session, user: User, conversation_id: int) -> int:
    result = session.execute(
        update(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.conversation_id == conversation_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- corrections ----------------------------------------------------------------------------


def do_correct_understanding(
    session: Session, message: Message, field: str, label: str, acting_user: User
) -> UnderstandingCorrection:
    """Fix a message's intent or sentiment; the understander learns it once this commits."""
    check_can_act(acting_user)
    if field not in CORRECTABLE:
        raise ValidationFailed("field", "only intent and sentiment can be corrected")
    if label not in CORRECTABLE[field]:
        raise ValidationFailed("label", f"{label!r} is not a {field} label")
    if message.direction != "inbound":
        raise ValidationFailed("message", "only inbound messages are understood")
    old = getattr(message, field)
    if old == label:
        raise ValidationFailed("label", f"the {field} is already {label}")
    correction = UnderstandingCorrection(
        org_id=message.org_id,
        message_id=message.id,
        field=field,
        old=old,
        new=label,
        user_id=acting_user.id,
        created_at=utcnow(),
    )
    session.add(correction)
    setattr(message, field, label)
    if field == "intent":
        message.intent_confidence = 1.0
    else:
        message.sentiment_score = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}[label]
    session.flush()
    audit.record(
        session,
        org_id=message.org_id,
        actor=acting_user,
        action="understanding.correct",
        object_type="message",
        object_id=message.id,
        before={field: old},
        after={field: label},
    )
    lesson = Correction(text=message.text, field=field, label=label)
    _after_commit(session, lambda: get_understander().learn([lesson]))
    return correction


# -- replies --------------------------------------------------------------------------------


def agency_replies_need_approval(session: Session, org_id: int) -> bool:
    settings = session.get(InboxSettings, org_id)
    return bool(settings and settings.agency_replies_need_approval)


def do_set_inbox_settings(
    session: Session, org_id: int, acting_user: User, *, agency_replies_need_approval: bool
) -> InboxSettings:
    if acting_user.role != Role.ADMIN or acting_user.is_agency or acting_user.org_id != org_id:
        raise Forbidden("only administrators may change the inbox settings")
    settings = session.get(InboxSettings, org_id)
    if settings is None:
        settings = InboxSettings(org_id=org_id, agency_replies_need_approval=False)
        session.add(settings)
    before = {"agency_replies_need_approval": settings.agency_replies_need_approval}
    settings.agency_replies_need_approval = agency_replies_need_approval
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=acting_user,
        action="inbox.settings",
        object_type="organisation",
        object_id=org_id,
        before=before,
        after={"agency_replies_need_approval": agency_replies_need_approval},
    )
    return settings


def channel_account_for(session: Session, conversation: Conversation) -> ChannelAccount | None:
    if conversation.channel_account_id is not None:
        return session.get(ChannelAccount, conversation.channel_account_id)
    return session.scalar(
        select(ChannelAccount)
        .where(
            ChannelAccount.org_id == conversation.org_id,
            ChannelAccount.platform == conversation.platform,
        )
        .order_by(ChannelAccount.id)
        .limit(1)
    )


def _mark_first_response(conversation: Conversation, message: Message) -> None:
    if conversation.first_response_at is None:
        conversation.first_response_at = message.created_at


def do_reply(session: Session, conversation: Conversation, text: str, acting_user: User) -> Message:
    """Queue a reply: an outbound message and its outbox row, in the caller's transaction."""
    check_can_act(acting_user)
    text = text.strip()
    if not text:
        raise ValidationFailed("text", "the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise ValidationFailed("text", f"a reply has at most {MAX_REPLY_CHARS} characters")
    if acting_user.is_agency and check_can_receive(acting_user, conversation):
        raise Forbidden("this conversation is in-house only")
    held = acting_user.is_agency and agency_replies_need_approval(session, conversation.org_id)
    status = OutboxStatus.AWAITING_APPROVAL if held else OutboxStatus.PENDING
    last_inbound = session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    account = channel_account_for(session, conversation)
    organisation = session.get(Organisation, conversation.org_id)
    now = utcnow()
    message = Message(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        platform=conversation.platform,
        # Replaced by the platform's id once sent; unique until then.
        external_id=f"townhall-pending-{uuid.uuid4().hex}",
        kind="direct_message"
        if last_inbound is not None and last_inbound.kind == "direct_message"
        else "reply",
        direction="outbound",
        author_handle=account.handle if account else "townhall",
        author_name=account.name if account else (organisation.name if organisation else None),
        text=text,
        created_at=now,
        in_reply_to=last_inbound.external_id if last_inbound else None,
        raw={},
        author_user_id=acting_user.id,
        delivery_status=status.value,
    )
    session.add(message)
    session.flush()
    session.add(
        OutboxItem(
            org_id=conversation.org_id,
            message_id=message.id,
            conversation_id=conversation.id,
            status=status.value,
            attempts=0,
            next_attempt_at=None if held else now,
            created_at=now,
        )
    )
    before: dict[str, Any] = {"status": conversation.status}
    conversation.message_count += 1
    conversation.last_message_at = max(ensure_aware(conversation.last_message_at), now)
    if not held:
        _mark_first_response(conversation, message)
    if conversation.status == ConversationStatus.NEW:
        conversation.status = ConversationStatus.OPEN.value
    session.flush()
    audit.record(
        session,
        org_id=conversation.org_id,
        actor=acting_user,
        action="conversation.reply",
        object_type="conversation",
        object_id=conversation.id,
        before=before,
        after={"status": conversation.status, "message_id": message.id, "delivery": status.value},
    )
    # Outgoing webhooks, in this transaction: the reply, and "new" becoming "open".
    outgoing.announce_replied(session, conversation, message, acting_user)
    outgoing.announce_status_changed(session, conversation, before["status"], acting_user)
    return message


def do_approve_reply(session: Session, message: Message, acting_user: User) -> Message:
    """An in-house lead or admin lets an agency reply go out."""
    check_can_act(acting_user)
    if acting_user.is_agency or acting_user.role not in {Role.ADMIN, Role.LEAD}:
        raise Forbidden("only an in-house lead or administrator may approve agency replies")
    if message.delivery_status != OutboxStatus.AWAITING_APPROVAL:
        raise ValidationFailed("message", "this reply is not waiting for approval")
    item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
    conversation = session.get(Conversation, message.conversation_id)
    if item is None or conversation is None:
        raise ValidationFailed("message", "this reply is not waiting for approval")
    now = utcnow()
    item.status = OutboxStatus.PENDING.value
    item.next_attempt_at = now
    message.delivery_status = OutboxStatus.PENDING.value
    _mark_first_response(conversation, message)
    session.flush()
    audit.record(
        session,
        org_id=message.org_id,
        actor=acting_user,
        action="reply.approve",
        object_type="message",
        object_id=message.id,
        before={"delivery": OutboxStatus.AWAITING_APPROVAL.value},
        after={"delivery": OutboxStatus.PENDING.value},
    )
    return message


def do_retry_reply(session: Session, message: Message, acting_user: User) -> Message:
    """Queue a failed reply again now (also one the outbox gave up on)."""
    check_can_act(acting_user)
    if message.delivery_status != OutboxStatus.FAILED:
        raise ValidationFailed("message", "only a failed reply can be retried")
    item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
    if item is None:
        raise ValidationFailed("message", "only a failed reply can be retried")
    item.next_attempt_at = utcnow()
    session.flush()
    audit.record(
        session,
        org_id=message.org_id,
        actor=acting_user,
        action="reply.retry",
        object_type="message",
        object_id=message.id,
        before={"attempts": item.attempts},
        after={"next_attempt_at": item.next_attempt_at.isoformat()},
    )
    return message


def do_discard_reply(session: Session, message: Message, acting_user: User) -> Message:
    """Give up on a failed reply for good (from the dead letters); it stays, marked discarded."""
    check_can_act(acting_user)
    item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
    if message.delivery_status != OutboxStatus.FAILED or item is None:
        raise ValidationFailed("message", "only a failed reply can be discarded")
    item.status = OutboxStatus.DISCARDED.value
    item.next_attempt_at = None
    message.delivery_status = OutboxStatus.DISCARDED.value
    session.flush()
    audit.record(
        session,
        org_id=message.org_id,
        actor=acting_user,
        action="reply.discard",
        object_type="message",
        object_id=message.id,
        before={"delivery": OutboxStatus.FAILED.value, "attempts": item.attempts},
        after={"delivery": OutboxStatus.DISCARDED.value},
        note=item.last_error,
    )
    return message
