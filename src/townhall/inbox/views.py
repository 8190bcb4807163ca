"""Inbox pages: the conversation list, one conversation, and the forms that work it.

Every form posts with the session's CSRF token, calls one action and redirects back; the
presence stream (server-sent events) tells who else is viewing or replying.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from townhall import db
from townhall.contacts.queries import contact_card
from townhall.conversations.models import ConversationStatus
from townhall.conversations.queries import InboxFilters, access_conversation, list_inbox, thread
from townhall.core.errors import NotFound
from townhall.core.taxonomy import INTENTS, SENTIMENTS
from townhall.deps import CsrfPrincipal, PrincipalDep, SessionDep, get_principal
from townhall.governance.models import Department, Role, User
from townhall.governance.permissions import can_act
from townhall.governance.views_audit import record_view
from townhall.inbox import actions, presence
from townhall.inbox.bulk import bulk_choices
from townhall.inbox.queries import (
    access_message,
    assignable_users,
    notes_for,
    unread_notifications,
)
from townhall.inbox.tags import tags_for
from townhall.inbox.workflow import allowed_next
from townhall.routing.auto_assign import assignment_reason
from townhall.routing.models import Queue
from townhall.routing.queries import decisions_for, live_queues
from townhall.routing.sla_sweep import sla_badge, sla_badges
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

StatusFilter = Literal["", "new", "open", "pending_customer", "resolved", "closed"]
Status = Literal["new", "open", "pending_customer", "resolved", "closed"]
ConversationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MessageId = Annotated[int, Path(ge=1, le=2**31 - 1)]
FormId = Annotated[int, Form(ge=1, le=2**31 - 1)]


@router.get("/")
def home() -> Response:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[StatusFilter, Query()] = "",
    queue: Annotated[str, Query(max_length=20, pattern=r"^(\d+|unrouted)?$")] = "",
    platform: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    user = principal.user
    filters = InboxFilters(
        status=status or None,
        queue_id=int(queue) if queue.isdigit() else None,
        unrouted=queue == "unrouted",
        platform=platform or None,
        q=q or None,
        page=page,
    )
    result = list_inbox(session, user, filters)
    queues = live_queues(session, user.org_id)
    context = {
        "user": user,
        "csrf_token": principal.csrf_token,
        "page": result,
        "filters": filters,
        "statuses": [s.value for s in ConversationStatus],
        "queues": queues,
        "query": {"status": status, "queue": queue, "platform": platform, "q": q},
        "sla": sla_badges(result.rows),
        "bulk": bulk_choices(session, user, queues),
    }
    template = "inbox/_rows.html" if request.headers.get("HX-Request") else "inbox/list.html"
    return templates.TemplateResponse(request, template, context)


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(
    request: Request,
    conversation_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    user = principal.user
    conversation = access_conversation(session, user, conversation_id)
    record_view(session, user, conversation)
    # Opening the conversation reads the mentions that pointed here (no write when none did).
    unread = unread_notifications(session, user)
    if any(n.conversation_id == conversation.id for n in unread):
        actions.do_mark_notifications_read(session, user, conversation.id)
        unread = [n for n in unread if n.conversation_id != conversation.id]
    messages = thread(session, conversation)
    queue = session.get(Queue, conversation.queue_id) if conversation.queue_id else None
    department = (
        session.get(Department, conversation.owner_department_id)
        if conversation.owner_department_id
        else None
    )
    card = contact_card(session, user, conversation.contact_id) if conversation.contact_id else None
    acting = can_act(user)
    assignee = (
        session.get(User, conversation.assigned_user_id) if conversation.assigned_user_id else None
    )
    return templates.TemplateResponse(
        request,
        "inbox/conversation.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "conversation": conversation,
            "messages": messages,
            "queue": queue,
            "department": department,
            "contact": card,
            "can_act": acting,
            "decisions": decisions_for(session, conversation),
            "notes": notes_for(session, conversation),
            "assignee": assignee,
            "assignable": assignable_users(session, conversation) if acting else [],
            "transfer_queues": [
                q for q in live_queues(session, user.org_id) if q.id != conversation.queue_id
            ]
            if acting
            else [],
            "next_statuses": allowed_next(conversation.status),
            "intents": INTENTS,
            "sentiments": SENTIMENTS,
            "can_approve": acting and not user.is_agency and user.role in {Role.ADMIN, Role.LEAD},
            "sla": sla_badge(conversation),
            "assignment_reason": assignment_reason(session, conversation),
            "unread": len(unread),
            "tags": tags_for(session, conversation.id),
        },
    )


def _back(conversation_id: int, anchor: str = "") -> Response:
    return RedirectResponse(
        f"/conversations/{conversation_id}{'#' + anchor if anchor else ''}", status_code=303
    )


@router.post("/conversations/{conversation_id}/status")
def set_status(
    conversation_id: ConversationId,
    session: SessionDep,
    principal: CsrfPrincipal,
    status: Annotated[Status, Form()],
) -> Response:
    conversation = access_conversation(session, principal.user, conversation_id)
    actions.do_set_status(session, conversation, status, principal.user)
    return _back(conversation_id)


@router.post("/conversations/{conversation_id}/claim")
def claim(
    conversation_id: ConversationId, session: SessionDep, principal: CsrfPrincipal
) -> Response:
    conversation = access_conversation(session, principal.user, conversation_id)
    actions.do_claim(session, conversation, principal.user)
    return _back(conversation_id)


@router.post("/conversations/{conversation_id}/assign")
def assign(
    conversation_id: ConversationId,
    session: SessionDep,
    principal: CsrfPrincipal,
    user_id: FormId,
) -> Response:
    conversation = access_conversation(session, principal.user, conversation_id)
    assignee = session.get(User, user_id)
    if assignee is None or assignee.org_id != principal.user.org_id:
        raise NotFound("user")
    actions.do_assign(session, conversation, assignee, principal.user)
    return _back(conversation_id)


@router.post("/conversations/{conversation_id}/transfer")
def transfer(
    conversation_id: ConversationId,
    session: SessionDep,
    principal: CsrfPrincipal,
    queue_id: FormId,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    conversation = access_conversation(session, principal.user, conversation_id)
    queue = session.get(Queue, queue_id)
    if queue is None or queue.org_id != principal.user.org_id:
        raise NotFound("queue")
    actions.do_transfer(session, conversation, queue, principal.user, reason)
    if not can_act(principal.user) or not _still_visible(session, principal.user, conversation_id):
        return RedirectResponse("/inbox", status_code=303)
    return _back(conversation_id)


def _still_visible(session: SessionDep, user: User, conversation_id: int) -> bool:
    try:
        access_conversation(session, user, conversation_id)
    except NotFound:
        return False
    return True


@router.post("/conversations/{conversation_id}/notes")
def add_note(
    conversation_id: ConversationId,
    session: SessionDep,
    principal: CsrfPrincipal,
    body: Annotated[str, Form(max_length=actions.MAX_NOTE_CHARS)],
) -> Response:
    conversation = access_conversation(session, principal.user, conversation_id)
    actions.do_add_note(session, conversation, principal.user, body)
    return _back(conversation_id, "notes")


@router.post("/conversations/{conversation_id}/reply")
def reply(
    conversation_id: ConversationId,
    session: SessionDep,
    principal: CsrfPrincipal,
    text: Annotated[str, Form(max_length=actions.MAX_REPLY_CHARS)],
) -> Response:
    conversation = access_conversation(session, principal.user, conversation_id)
    actions.do_reply(session, conversation, text, principal.user)
    return _back(conversation_id, "composer")


@router.post("/messages/{message_id}/correct")
def correct(
    message_id: MessageId,
    session: SessionDep,
    principal: CsrfPrincipal,
    field: Annotated[Literal["intent", "sentiment"], Form()],
    label: Annotated[str, Form(max_length=64)],
) -> Response:
    message = access_message(session, principal.user, message_id)
    actions.do_correct_understanding(session, message, field, label, principal.user)
    return _back(message.conversation_id, f"m{message.id}")


@router.post("/messages/{message_id}/approve")
def approve(message_id: MessageId, session: SessionDep, principal: CsrfPrincipal) -> Response:
    message = access_message(session, principal.user, message_id)
    actions.do_approve_reply(session, message, principal.user)
    return _back(message.conversation_id, f"m{message.id}")


@router.post("/messages/{message_id}/retry")
def retry(message_id: MessageId, session: SessionDep, principal: CsrfPrincipal) -> Response:
    message = access_message(session, principal.user, message_id)
    actions.do_retry_reply(session, message, principal.user)
    return _back(message.conversation_id, f"m{message.id}")


@router.post("/conversations/{conversation_id}/presence")
def presence_beat(
    conversation_id: ConversationId,
    session: SessionDep,
    principal: CsrfPrincipal,
    state: Annotated[Literal["viewing", "replying", "left"], Form()],
) -> Response:
    user = principal.user
    actions.check_can_act(user)
    access_conversation(session, user, conversation_id)
    presence.registry.beat(conversation_id, user.id, user.name, state)
    return Response(status_code=204)


def _presence_viewer(request: Request, conversation_id: int) -> int:
    """Authorise the stream in a short unit of work, so no connection is held while it runs."""
    with db.unit_of_work() as session:
        principal = get_principal(request, session, request.headers.get("authorization"))
        access_conversation(session, principal.user, conversation_id)
        return principal.user.id


@router.get("/conversations/{conversation_id}/presence")
async def presence_stream(request: Request, conversation_id: ConversationId) -> Response:
    user_id = await run_in_threadpool(_presence_viewer, request, conversation_id)
    return StreamingResponse(
        presence.presence_events(
            presence.registry, conversation_id, user_id, request.is_disconnected
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
