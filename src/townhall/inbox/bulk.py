"""Bulk actions on the inbox list: one change applied to many conversations, each authorised.

Every conversation goes through the same action a person would use on its page (claim,
assign, transfer, status, tag), in its own savepoint: one that is refused is skipped with
the reason and the others still change. Each change writes its own audit row; the bulk
operation adds one row that lists what changed and what was skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation
from townhall.conversations.queries import access_conversation
from townhall.core.errors import Forbidden, NotFound, ValidationFailed
from townhall.deps import CsrfPrincipal, SessionDep
from townhall.governance import audit
from townhall.governance.models import User
from townhall.governance.permissions import can_act
from townhall.inbox import actions
from townhall.inbox.tags import check_tag, do_add_tag
from townhall.inbox.workflow import parse_status
from townhall.routing.models import Queue
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

BulkAction = Literal["claim", "assign", "transfer", "status", "tag"]
# Two pages of the inbox list: "select all on page" never needs more.
MAX_BULK = 100
_MAX_ID = 2**31 - 1


@dataclass
class BulkOutcome:
    """What a bulk action did: the conversations it changed and why it skipped the others."""

    done_label: str  # "closed", "assigned to Sam Agent", ...
    done: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        """ "18 closed, 2 skipped: the conversation is already closed"."""
        parts = [f"{len(self.done)} {self.done_label}"]
        for reason, count in Counter(reason for _, reason in self.skipped).most_common():
            parts.append(f"{count} skipped: {reason}")
        return ", ".join(parts)


@dataclass(frozen=True)
class BulkChoices:
    """What the bulk bar offers this user."""

    people: list[User]
    queues: list[Queue]
    may_assign_others: bool


def bulk_choices(session: Session, user: User, queues: Sequence[Queue]) -> BulkChoices:
    """People and queues the bulk bar offers; ``queues`` are the organisation's active queues
    by name, which the inbox page has already read for its sidebar."""
    if not can_act(user):
        return BulkChoices([], [], False)
    people = [
        u
        for u in session.scalars(
            select(User)
            .where(User.org_id == user.org_id, User.is_active.is_(True))
            .order_by(User.name)
        )
        if can_act(u)
    ]
    return BulkChoices(people, list(queues), not user.is_agency)


def parse_conversation_ids(values: list[str]) -> list[int]:
    ids: list[int] = []
    for value in values:
        if not (
            value.isascii() and value.isdigit() and len(value) <= 10 and 1 <= int(value) <= _MAX_ID
        ):
            raise ValidationFailed("conversation_ids", f"{value[:20]!r} is not a conversation id")
        ids.append(int(value))
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ValidationFailed("conversation_ids", "select at least one conversation")
    if len(ids) > MAX_BULK:
        raise ValidationFailed("conversation_ids", f"select at most {MAX_BULK} conversations")
    return ids


def do_bulk(
    session: Session,
    acting_user: User,
    conversation_ids: list[int],
    action: BulkAction,
    *,
    user_id: int | None = None,
    queue_id: int | None = None,
    status: str | None = None,
    tag: str | None = None,
    reason: str = "",
) -> BulkOutcome:
    """Apply ``action`` to each conversation the user may change; report the ones skipped."""
    actions.check_can_act(acting_user)
    apply, label = _prepare(session, acting_user, action, user_id, queue_id, status, tag, reason)
    outcome = BulkOutcome(done_label=label)
    for conversation_id in conversation_ids:
        try:
            with session.begin_nested():
                conversation = access_conversation(session, acting_user, conversation_id)
                apply(conversation)
        except NotFound:
            outcome.skipped.append((conversation_id, "not found or not visible to you"))
        except ValidationFailed as refused:
            outcome.skipped.append((conversation_id, refused.reason))
        except Forbidden as refused:
            outcome.skipped.append((conversation_id, str(refused)))
        else:
            outcome.done.append(conversation_id)
    audit.record(
        session,
        org_id=acting_user.org_id,
        actor=acting_user,
        action="conversation.bulk",
        object_type="conversation",
        after={
            "action": action,
            "done": outcome.done,
            "skipped": [{"id": cid, "reason": why} for cid, why in outcome.skipped],
        },
        note=outcome.summary(),
    )
    return outcome


Change = Callable[[Conversation], object]


def _prepare(
    session: Session,
    acting_user: User,
    action: BulkAction,
    user_id: int | None,
    queue_id: int | None,
    status: str | None,
    tag: str | None,
    reason: str,
) -> tuple[Change, str]:
    """Check the action's own parameter once; return the per-conversation change and its label."""
    if action == "claim":
        return (lambda c: actions.do_claim(session, c, acting_user)), "assigned to you"
    if action == "assign":
        assignee = session.get(User, user_id) if user_id else None
        if assignee is None or assignee.org_id != acting_user.org_id:
            raise ValidationFailed("user_id", "choose the person to assign the conversations to")
        if acting_user.is_agency and assignee.id != acting_user.id:
            raise Forbidden("agency staff may claim conversations but not assign them to others")
        return (
            lambda c: actions.do_assign(session, c, assignee, acting_user)
        ), f"assigned to {assignee.name}"
    if action == "transfer":
        queue = session.get(Queue, queue_id) if queue_id else None
        if queue is None or queue.org_id != acting_user.org_id:
            raise ValidationFailed("queue_id", "choose the queue to transfer the conversations to")
        return (
            lambda c: actions.do_transfer(session, c, queue, acting_user, reason)
        ), f"transferred to {queue.name}"
    if action == "status":
        target = parse_status(status or "")
        verb = {"closed": "closed", "resolved": "resolved"}.get(
            target.value, f"set to {target.value.replace('_', ' ')}"
        )
        return (lambda c: actions.do_set_status(session, c, target.value, acting_user)), verb
    if action == "tag":
        checked = check_tag(tag or "")
        return (lambda c: do_add_tag(session, c, checked, acting_user)), f"tagged {checked!r}"
    raise ValidationFailed("action", f"unknown bulk action {action!r}")


def _optional_id(value: str, field_name: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= _MAX_ID:
        raise ValidationFailed(field_name, f"{value[:20]!r} is not an id")
    return int(value)


@router.post("/inbox/bulk", response_class=HTMLResponse)
def bulk(
    request: Request,
    session: SessionDep,
    principal: CsrfPrincipal,
    action: Annotated[BulkAction, Form()],
    conversation_ids: Annotated[list[str], Form(max_length=MAX_BULK * 2)] = [],  # noqa: B006
    user_id: Annotated[str, Form(max_length=12)] = "",
    queue_id: Annotated[str, Form(max_length=12)] = "",
    status: Annotated[str, Form(max_length=32)] = "",
    tag: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Apply one change to the selected rows; HTMX gets the result line, others a page."""
    htmx = bool(request.headers.get("HX-Request"))
    user = principal.user
    actions.check_can_act(user)
    try:
        outcome = do_bulk(
            session,
            user,
            parse_conversation_ids(conversation_ids),
            action,
            user_id=_optional_id(user_id, "user_id"),
            queue_id=_optional_id(queue_id, "queue_id"),
            status=status or None,
            tag=tag,
            reason=reason,
        )
    except ValidationFailed as invalid:
        if not htmx:
            raise
        return templates.TemplateResponse(
            request, "inbox/_bulk_result.html", {"error": str(invalid), "outcome": None}
        )
    context = {"user": user, "csrf_token": principal.csrf_token, "outcome": outcome, "error": None}
    if htmx:
        return templates.TemplateResponse(
            request, "inbox/_bulk_result.html", context, headers={"HX-Trigger": "inbox-changed"}
        )
    return templates.TemplateResponse(request, "inbox/bulk_done.html", context)
