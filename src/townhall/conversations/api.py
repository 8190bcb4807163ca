"""JSON API for conversations and for submitting inbound items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query

from townhall.conversations.ingest import store_items
from townhall.conversations.queries import InboxFilters, access_conversation, list_inbox, thread
from townhall.conversations.readers import validate_row
from townhall.conversations.schemas import (
    ConversationDetailOut,
    ConversationOut,
    ConversationPageOut,
    InboundItem,
    IngestResultOut,
    MessageOut,
    RowError,
)
from townhall.core.errors import Forbidden
from townhall.deps import Principal, SessionDep, require_scope
from townhall.governance.permissions import can_act
from townhall.governance.views_audit import record_view

router = APIRouter(tags=["conversations"])

ReadScope = Annotated[Principal, require_scope("read")]
IngestScope = Annotated[Principal, require_scope("ingest")]
MAX_ITEMS_PER_REQUEST = 1000


@router.get("/conversations", response_model=ConversationPageOut)
def list_conversations(
    session: SessionDep,
    principal: ReadScope,
    status: Annotated[
        Literal["new", "open", "pending_customer", "resolved", "closed"] | None, Query()
    ] = None,
    queue_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> ConversationPageOut:
    """Conversations the caller may see, most recent activity first (50 per page)."""
    result = list_inbox(
        session,
        principal.user,
        InboxFilters(status=status, queue_id=queue_id, platform=platform, q=q, page=page),
    )
    return ConversationPageOut(
        items=[
            ConversationOut(
                id=row.id,
                platform=row.platform,
                subject=row.subject,
                status=row.status,
                priority=row.priority,
                message_count=row.message_count,
                last_message_at=row.last_message_at,
                contact_name=row.contact_name,
                queue=row.queue_name,
                owner_department=row.department_name,
                restricted=row.restricted,
                agency_allowed=row.agency_allowed,
            )
            for row in result.rows
        ],
        total=result.total,
        page=result.page,
        pages=result.pages,
        total_capped=result.total_capped,
    )


@router.get("/conversations/{conversation_id}", response_model=ConversationDetailOut)
def get_conversation(
    conversation_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    principal: ReadScope,
) -> ConversationDetailOut:
    """One conversation with its whole thread; 404 if it does not exist or is not visible to you."""
    conversation = access_conversation(session, principal.user, conversation_id)
    record_view(session, principal.user, conversation, via="api")
    return ConversationDetailOut(
        id=conversation.id,
        platform=conversation.platform,
        subject=conversation.subject,
        status=conversation.status,
        priority=conversation.priority,
        queue_id=conversation.queue_id,
        owner_department_id=conversation.owner_department_id,
        contact_id=conversation.contact_id,
        restricted=conversation.restricted,
        agency_allowed=conversation.agency_allowed,
        messages=[MessageOut.model_validate(m) for m in thread(session, conversation)],
    )


@router.post("/items", response_model=IngestResultOut)
def submit_items(
    session: SessionDep,
    principal: IngestScope,
    items: Annotated[list[dict[str, Any]], Body(max_length=MAX_ITEMS_PER_REQUEST)],
) -> IngestResultOut:
    """Submit inbound items in the interchange format; bad items are reported by position
    (``line`` is the 1-based index in the array) and the good ones are stored, idempotently."""
    if not can_act(principal.user):
        raise Forbidden("executives have read-only access")
    good: list[InboundItem] = []
    errors: list[RowError] = []
    for index, raw in enumerate(items, start=1):
        parsed = validate_row(index, raw)
        if isinstance(parsed, RowError):
            errors.append(parsed)
        else:
            good.append(parsed)
    summary = store_items(session, principal.user.org_id, good) if good else None
    return IngestResultOut(
        ingested=summary.ingested if summary else 0,
        duplicates=summary.duplicates if summary else 0,
        rejected=len(errors),
        errors=errors,
    )
