"""Admin pages: outgoing webhook subscriptions (/admin/webhooks) and dead letters (/admin/dead-letters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from townhall.core.errors import Forbidden, ValidationFailed
from townhall.deps import CsrfPrincipal, Principal, PrincipalDep, SessionDep
from townhall.governance.models import User
from townhall.integrations.actions import (
    MAX_DESCRIPTION_CHARS,
    MAX_URL_CHARS,
    check_admin,
    do_create_subscription,
    do_rotate_secret,
    do_set_subscription_active,
)
from townhall.integrations.dead_letters import access_source, dead_letters
from townhall.integrations.models import WebhookSubscription
from townhall.integrations.outgoing import EVENT_TYPES
from townhall.integrations.queries import access_subscription, subscription_rows
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SourceName = Annotated[str, Path(max_length=32, pattern=r"^[a-z0-9_-]+$")]


def _admin(principal: Principal) -> User:
    """Signed-in administrators of the organisation only; no API token reaches these pages."""
    check_admin(principal.user)
    if principal.scopes is not None:
        raise Forbidden("webhooks and dead letters are not available to API tokens")
    return principal.user


def _webhooks_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    revealed: WebhookSubscription | None = None,
    error: str | None = None,
    form: Mapping[str, object] | None = None,
    status: int = 200,
) -> Response:
    user = principal.user
    return templates.TemplateResponse(
        request,
        "integrations/webhooks.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "rows": subscription_rows(session, user.org_id),
            "event_types": EVENT_TYPES,
            "revealed": revealed,
            "error": error,
            "form": form or {"url": "", "description": "", "event_types": []},
        },
        status_code=status,
    )


@router.get("/admin/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    _admin(principal)
    return _webhooks_page(request, session, principal)


@router.post("/admin/webhooks", response_class=HTMLResponse)
def create_webhook(
    request: Request,
    session: SessionDep,
    principal: CsrfPrincipal,
    url: Annotated[str, Form(max_length=MAX_URL_CHARS + 100)] = "",
    description: Annotated[str, Form(max_length=MAX_DESCRIPTION_CHARS + 100)] = "",
    event_types: Annotated[list[str], Form(max_length=50)] = [],  # noqa: B006 (FastAPI copies it)
) -> Response:
    user = _admin(principal)
    try:
        subscription = do_create_subscription(
            session, user, url=url, event_types=event_types, description=description
        )
    except ValidationFailed as error:
        form = {"url": url, "description": description, "event_types": event_types}
        return _webhooks_page(request, session, principal, error=str(error), form=form, status=422)
    # The secret is shown once, on this response; afterwards only its first characters.
    return _webhooks_page(request, session, principal, revealed=subscription, status=201)


@router.post("/admin/webhooks/{subscription_id}/active")
def set_webhook_active(
    session: SessionDep,
    principal: CsrfPrincipal,
    subscription_id: RowId,
    active: Annotated[bool, Form()],
) -> Response:
    user = _admin(principal)
    subscription = access_subscription(session, user, subscription_id)
    do_set_subscription_active(session, subscription, active, user)
    return RedirectResponse("/admin/webhooks", status_code=303)


@router.post("/admin/webhooks/{subscription_id}/rotate", response_class=HTMLResponse)
def rotate_webhook_secret(
    request: Request, session: SessionDep, principal: CsrfPrincipal, subscription_id: RowId
) -> Response:
    user = _admin(principal)
    subscription = do_rotate_secret(
        session, access_subscription(session, user, subscription_id), user
    )
    return _webhooks_page(request, session, principal, revealed=subscription)


@router.get("/admin/dead-letters", response_class=HTMLResponse)
def dead_letters_page(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    user = _admin(principal)
    return templates.TemplateResponse(
        request,
        "integrations/dead_letters.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "sections": dead_letters(session, user),
        },
    )


@router.post("/admin/dead-letters/{source}/{item_id}/retry")
def retry_dead_letter(
    session: SessionDep, principal: CsrfPrincipal, source: SourceName, item_id: RowId
) -> Response:
    user = _admin(principal)
    access_source(user, source).retry(session, item_id, user)
    return RedirectResponse("/admin/dead-letters", status_code=303)


@router.post("/admin/dead-letters/{source}/{item_id}/discard")
def discard_dead_letter(
    session: SessionDep, principal: CsrfPrincipal, source: SourceName, item_id: RowId
) -> Response:
    user = _admin(principal)
    access_source(user, source).discard(session, item_id, user)
    return RedirectResponse("/admin/dead-letters", status_code=303)
