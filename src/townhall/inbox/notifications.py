"""A person's notifications (@mentions, SLA warnings, escalations): the page, the badge, marking read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from townhall.conversations.models import Conversation
from townhall.core.errors import NotFound
from townhall.core.time import utcnow
from townhall.deps import CsrfPrincipal, PrincipalDep, SessionDep
from townhall.governance.models import User
from townhall.governance.permissions import conversation_visibility
from townhall.inbox.models import InternalNote, Notification
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

PAGE_LIMIT = 100
NotificationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@dataclass(frozen=True)
class NotificationView:
    id: int
    conversation_id: int
    subject: str
    kind: str  # "mention", "sla_warning", "sla_breach" or "escalation"
    author_name: str | None  # who wrote the note, for mentions
    excerpt: str
    created_at: datetime
    read: bool


def _mine(user: User):  # type: ignore[no-untyped-def]
    # Only conversations the person may still see: a transfer can take one out of their sight.
    return (
        Notification.user_id == user.id,
        Notification.conversation_id.in_(
            select(Conversation.id).where(conversation_visibility(user))
        ),
    )


def unread_count(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(*_mine(user), Notification.read_at.is_(None))
        )
        or 0
    )


def notifications_for(session: Session, user: User) -> list[NotificationView]:
    """The newest notifications, unread first, with the note and conversation they point to."""
    author = aliased(User)
    rows = session.execute(
        select(
            Notification.id,
            Notification.conversation_id,
            Conversation.subject,
            Notification.kind,
            author.name,
            func.coalesce(InternalNote.body, Notification.text, ""),
            Notification.created_at,
            Notification.read_at,
        )
        .join(Conversation, Conversation.id == Notification.conversation_id)
        # SLA warnings and escalations have no note: their own text says what happened.
        .outerjoin(InternalNote, InternalNote.id == Notification.note_id)
        .outerjoin(author, author.id == InternalNote.author_id)
        .where(*_mine(user))
        .order_by(
            Notification.read_at.is_not(None),
            Notification.created_at.desc(),
            Notification.id.desc(),
        )
        .limit(PAGE_LIMIT)
    )
    return [
        NotificationView(nid, cid, subject, kind, name, body[:200], created, read_at is not None)
        for nid, cid, subject, kind, name, body, created, read_at in rows
    ]


def do_mark_notification_read(session: Session, user: User, notification_id: int) -> None:
    """Mark one of the user's own notifications read (NotFound for anyone else's)."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        raise NotFound("notification")
    if notification.read_at is None:
        notification.read_at = utcnow()
        session.flush()


def do_mark_all_notifications_read(session: Session, user: User) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    user = principal.user
    items = notifications_for(session, user)
    return templates.TemplateResponse(
        request,
        "inbox/notifications.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "items": items,
            "unread": sum(1 for n in items if not n.read),
        },
    )


@router.get("/notifications/badge", response_class=HTMLResponse)
def notifications_badge(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """The header's unread count (an HTMX fragment, refreshed every half minute)."""
    return templates.TemplateResponse(
        request, "inbox/_badge.html", {"unread": unread_count(session, principal.user)}
    )


@router.post("/notifications/{notification_id}/read")
def mark_read(
    notification_id: NotificationId, session: SessionDep, principal: CsrfPrincipal
) -> Response:
    do_mark_notification_read(session, principal.user, notification_id)
    return RedirectResponse("/notifications", status_code=303)


@router.post("/notifications/read-all")
def mark_all_read(session: SessionDep, principal: CsrfPrincipal) -> Response:
    do_mark_all_notifications_read(session, principal.user)
    return RedirectResponse("/notifications", status_code=303)
