"""Reads for the inbox workflow: who may receive a conversation, notes, notifications, rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation, Message
from townhall.core.errors import NotFound
from townhall.governance.models import Role, User
from townhall.governance.permissions import can_act, conversation_visibility
from townhall.inbox.models import InternalNote, Notification, UnderstandingCorrection
from townhall.inbox.workflow import ACTIVE


def check_can_receive(user: User, conversation: Conversation) -> str | None:
    """Why ``user`` may not work ``conversation`` (None when they may).

    Agency staff only get what the policy gives the agency and never anything restricted;
    a restricted conversation only goes to people of its owner department.
    """
    if user.org_id != conversation.org_id or not user.is_active:
        return f"{user.name} is not an active member of this organisation"
    if not can_act(user):
        return f"{user.name} has a read-only role"
    agency = user.is_agency or user.role == Role.AGENCY_AGENT
    if agency and (conversation.restricted or not conversation.agency_allowed):
        return f"{user.name} works for the agency and this conversation is in-house only"
    if conversation.restricted and (
        user.department_id is None or user.department_id != conversation.owner_department_id
    ):
        return f"{user.name} is not in the department this restricted conversation belongs to"
    return None


def open_assignment_count(session: Session, user_id: int) -> int:
    """Conversations assigned to the user that still need work (what capacity limits)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.assigned_user_id == user_id,
                Conversation.status.in_([s.value for s in ACTIVE]),
            )
        )
        or 0
    )


def assignable_users(session: Session, conversation: Conversation) -> list[User]:
    """Active people of the organisation who may be given this conversation, by name."""
    users = session.scalars(
        select(User)
        .where(User.org_id == conversation.org_id, User.is_active.is_(True))
        .order_by(User.name)
    )
    return [u for u in users if check_can_receive(u, conversation) is None]


def user_may_see(session: Session, user: User, conversation_id: int) -> bool:
    return (
        session.scalar(
            select(Conversation.id).where(
                Conversation.id == conversation_id, conversation_visibility(user)
            )
        )
        is not None
    )


@dataclass(frozen=True)
class NoteView:
    id: int
    author_name: str
    body: str
    mentions: list[str]
    created_at: datetime


def notes_for(session: Session, conversation: Conversation) -> list[NoteView]:
    rows = session.execute(
        select(InternalNote, User.name)
        .join(User, User.id == InternalNote.author_id)
        .where(InternalNote.conversation_id == conversation.id)
        .order_by(InternalNote.created_at, InternalNote.id)
    )
    return [
        NoteView(note.id, name, note.body, list(note.mentions or []), note.created_at)
        for note, name in rows
    ]


def unread_notifications(session: Session, user: User) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(100)
        )
    )


def access_message(session: Session, user: User, message_id: int) -> Message:
    """The message if ``user`` may see its conversation; NotFound otherwise."""
    message = session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, conversation_visibility(user))
    )
    if message is None:
        raise NotFound("message")
    return message


@dataclass(frozen=True)
class CorrectionRate:
    corrected: int
    understood: int

    @property
    def rate(self) -> float:
        return self.corrected / self.understood if self.understood else 0.0


def correction_rate(session: Session, org_id: int) -> CorrectionRate:
    """Share of understood inbound messages whose intent or sentiment an agent corrected."""
    understood = (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.org_id == org_id, Message.understood_at.is_not(None))
        )
        or 0
    )
    corrected = (
        session.scalar(
            select(func.count(distinct(UnderstandingCorrection.message_id)))
            .join(Message, Message.id == UnderstandingCorrection.message_id)
            .where(UnderstandingCorrection.org_id == org_id, Message.understood_at.is_not(None))
        )
        or 0
    )
    return CorrectionRate(corrected=corrected, understood=understood)
