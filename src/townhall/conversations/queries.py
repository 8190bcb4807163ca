"""Reads for conversations: the inbox list, one conversation with its thread, and access checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.orm import Session

from townhall.contacts.models import Contact
from townhall.conversations.models import SEARCHABLE_MESSAGE, Conversation, Message
from townhall.core.errors import NotFound
from townhall.governance.models import Department, User
from townhall.governance.permissions import conversation_visibility
from townhall.routing.models import Queue

PAGE_SIZE = 50
# Counting every conversation a person may see on every page load scans the whole visible
# set (hundreds of thousands of rows at a large organisation); past this many (20 pages)
# the inbox says "1000+" and stops counting, as most inboxes do.
COUNT_CAP = 1_000


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
    # The SLA clocks, so the list shows each row's badge (routing.sla_sweep.sla_badges)
    # without loading the conversations a second time.
    first_response_at: datetime | None
    first_response_due_at: datetime | None
    first_response_warn_at: datetime | None
    resolved_at: datetime | None
    resolution_due_at: datetime | None
    resolution_warn_at: datetime | None
    resolution_paused_at: datetime | None
    # Who has it, so a lead sees at a glance what is taken and what waits for someone.
    assignee_name: str | None


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    pages: int
    # True when more than ``total`` (COUNT_CAP) conversations match: counting stopped there.
    total_capped: bool = False


def _inbox_where(user: User, filters: InboxFilters) -> list[ColumnElement[bool]]:
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
        # A conversation's subject is the start of one of its messages, so searching the
        # messages finds it too (and one trigram index serves the search).
        where.append(
            Conversation.id.in_(
                select(Message.conversation_id).where(
                    Message.org_id == user.org_id,
                    Message.text.ilike(f"%{filters.q.strip()}%"),
                    text(SEARCHABLE_MESSAGE),
                )
            )
        )
    return where


def list_inbox(session: Session, user: User, filters: InboxFilters) -> InboxPage:
    """One page of conversations the user may see, newest activity first, in two queries.

    The first reads, in order, the ids of the matching conversations up to the end of the
    page and at least COUNT_CAP + 1 of them: from the indexes alone (they carry every column
    the filters test), it both counts (up to the cap) and picks the page; a search finds its
    matches once. The second fetches those 50 rows with their contact, queue and department.
    """
    where = _inbox_where(user, filters)
    page = max(1, filters.page)
    start = (page - 1) * PAGE_SIZE
    ids = list(
        session.scalars(
            select(Conversation.id)
            .where(*where)
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            # One row more than the page tells whether an older page exists past the cap.
            .limit(max(COUNT_CAP + 1, start + PAGE_SIZE + 1))
        )
    )
    capped = len(ids) > COUNT_CAP
    total = min(len(ids), COUNT_CAP)
    chosen = ids[start : start + PAGE_SIZE]
    rows = [
        InboxRow(*row)  # type: ignore[call-arg]
        for row in session.execute(
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
                Conversation.first_response_at,
                Conversation.first_response_due_at,
                Conversation.first_response_warn_at,
                Conversation.resolved_at,
                Conversation.resolution_due_at,
                Conversation.resolution_warn_at,
                Conversation.resolution_paused_at,
                User.name,
            )
            .outerjoin(Contact, Contact.id == Conversation.contact_id)
            .outerjoin(User, User.id == Conversation.assigned_user_id)
            .outerjoin(Queue, Queue.id == Conversation.queue_id)
            .outerjoin(Department, Department.id == Conversation.owner_department_id)
            .where(Conversation.id.in_(chosen))
        )
    ]
    # In the first query's order (activity may have moved in between; the page stays put).
    position = {conversation_id: index for index, conversation_id in enumerate(chosen)}
    rows.sort(key=lambda row: position[row.id])
    pages = max(1, -(-total // PAGE_SIZE))
    if capped:
        pages = max(pages, page + 1 if len(ids) > start + PAGE_SIZE else page)
    return InboxPage(rows=rows, total=total, page=page, pages=pages, total_capped=capped)


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
