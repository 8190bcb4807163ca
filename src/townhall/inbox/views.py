"""Inbox pages: the conversation list with filters and one conversation with its thread."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from townhall.contacts.queries import contact_card
from townhall.conversations.models import ConversationStatus
from townhall.conversations.queries import InboxFilters, access_conversation, list_inbox, thread
from townhall.deps import PrincipalDep, SessionDep
from townhall.governance.models import Department
from townhall.governance.permissions import can_act
from townhall.routing.models import Queue
from townhall.routing.queries import decisions_for
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

StatusFilter = Literal["", "new", "open", "pending_customer", "resolved", "closed"]


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
    context = {
        "user": user,
        "csrf_token": principal.csrf_token,
        "page": result,
        "filters": filters,
        "statuses": [s.value for s in ConversationStatus],
        "queues": session.scalars(
            select(Queue)
            .where(Queue.org_id == user.org_id, Queue.retired_at.is_(None))
            .order_by(Queue.name)
        ).all(),
        "query": {"status": status, "queue": queue, "platform": platform, "q": q},
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
    messages = thread(session, conversation)
    queue = session.get(Queue, conversation.queue_id) if conversation.queue_id else None
    department = (
        session.get(Department, conversation.owner_department_id)
        if conversation.owner_department_id
        else None
    )
    card = contact_card(session, user, conversation.contact_id) if conversation.contact_id else None
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
            "can_act": can_act(user),
            "decisions": decisions_for(session, conversation),
        },
    )
