"""Reads for conversations: the inbox list, one conversation with its thread, and access checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from townhall.contacts.models import Contact
from townhall.conversations.models import Conversation, Message
from townhall.core.errors import NotFound
from townhall.governance.models import Department, User
from townhall.governance.permissions import conversation_visibility
from townhall.routing.models import Queue

PAGE_SIZE = 50


@dataclass(frozen=True)
class InboxFilters:
    status: str | None = None
    queue_id: int | None = None
    platform: str | None = None
    unrouted: bool = False
    q: str | None = None
    page: int = 1


@dataclass(frozen=True)
class InboxRow:
    id: int
    platform: str
    subject: str
    status: str
    priority: str
    message_count: int
    last_message_at: datetime
    contact_name: str | None
    queue_name: str | None
    department_name: str | None
    restricted: bool
    agency_allowed: bool


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    pages: int


def list_inbox(session: Session, user: User, filters: InboxFilters) -> InboxPage:
    """One page of conversations the user may see, newest activity first, in two queries."""
    where = [conversation_visibility(user)]
    if filters.status:
        where.append(Conversation.status == filters.status)
    if filters.queue_id is not None:
        where.append(Conversation.queue_id == filters.queue_id)
    if filters.unrouted:
        where.append(Conversation.queue_id.is_(None))
    if filters.platform:
        where.append(Conversation.platform == filters.platform)
    if filters.q:
        pattern = f"%{filters.q.strip()}%"
        where.append(
            or_(
                Conversation.subject.ilike(pattern),
                Conversation.id.in_(
                    select(Message.conversation_id).where(
                        Message.org_id == user.org_id, Message.text.ilike(pattern)
                    )
                ),
            )
        )
    total = session.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0
    page = max(1, filters.page)
    stmt = (
        select(
            Conversation.id,
            Conversation.platform,
            Conversation.subject,
            Conversation.status,
            Conversation.priority,
            Conversation.message_count,
            Conversation.last_message_at,
            Contact.display_name,
            Queue.name,
            Department.name,
            Conversation.restricted,
            Conversation.agency_allowed,
        )
        .outerjoin(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(Queue, Queue.id == Conversation.queue_id)
        .outerjoin(Department, Department.id == Conversation.owner_department_id)
        .where(*where)
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    rows = [InboxRow(*row) for row in session.execute(stmt)]  # type: ignore[call-arg]
    return InboxPage(rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)))


def access_conversation(session: Session, user: User, conversation_id: int) -> Conversation:
    """The conversation if ``user`` may see it; NotFound otherwise, so existence never leaks."""
    conversation = session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, conversation_visibility(user)
        )
    )
    if conversation is None:
        raise NotFound("conversation")
    return conversation


def thread(session: Session, conversation: Conversation) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.created_at, Message.id)
        )
    )
