"""Sign-in and sign-out pages, and the audit log for administrators."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import select

from townhall import db
from townhall.config import get_settings
from townhall.core.errors import Forbidden
from townhall.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfPrincipal,
    Principal,
    PrincipalDep,
    SessionDep,
)
from townhall.governance.actions import LoginRefused, do_login, do_logout
from townhall.governance.models import Organisation, Role, User
from townhall.governance.passwords import new_token
from townhall.governance.ratelimit import login_limiter
from townhall.governance.views_audit import (
    AuditFilters,
    audit_actions,
    audit_page,
    export_rows,
    record_export,
)
from townhall.templating import templates

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "//evil.example" or "https://..." would be an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/inbox"


def _login_page(
    request: Request,
    *,
    error: str | None = None,
    email: str = "",
    next_path: str = "/inbox",
    status: int = 200,
) -> Response:
    token = new_token()
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf_token": token, "error": error, "email": email, "next": _safe_next(next_path)},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=get_settings().secure_cookies,
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/inbox") -> Response:
    return _login_page(request, next_path=next)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    limiter = login_limiter(request.app.state)
    client_ip = request.client.host if request.client else "unknown"
    wait = limiter.retry_after(client_ip)
    if wait:
        response = _login_page(
            request,
            error=(
                "Too many failed sign-ins from your network. "
                f"Please wait {max(1, -(-wait // 60))} min and try again."
            ),
            email=email,
            next_path=next,
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return _login_page(
            request,
            error="The sign-in form expired; please try again.",
            email=email,
            next_path=next,
            status=403,
        )
    settings = get_settings()
    org_id = session.scalar(select(Organisation.id).where(Organisation.slug == settings.org_slug))
    if org_id is None:
        return _login_page(
            request, error="This Townhall has no organisation yet: run `townhall init`.", status=503
        )
    try:
        result = do_login(session, org_id=org_id, email=email, password=password)
    except LoginRefused as refused:
        # The failure counter must persist even though we answer with an error page.
        session.commit()
        limiter.hit(client_ip)
        return _login_page(request, error=str(refused), email=email, next_path=next, status=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, _principal: CsrfPrincipal) -> Response:
    do_logout(session, token=request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


ActionFilter = Annotated[str, Query(max_length=64, pattern=r"^[a-z0-9_.-]*$")]
ActorFilter = Annotated[str, Query(max_length=254)]


def _audit_admin(principal: Principal) -> User:
    """The audit log is for signed-in administrators of the organisation, not the agency."""
    user = principal.user
    if user.role != Role.ADMIN or user.is_agency:
        raise Forbidden("only administrators may see the audit log")
    if principal.scopes is not None:
        # No API token scope covers the audit log: reading it needs a signed-in administrator.
        raise Forbidden("the audit log is not available to API tokens; sign in as an administrator")
    return user


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_log_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    action: ActionFilter = "",
    actor: ActorFilter = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    user = _audit_admin(principal)
    filters = AuditFilters(action=action or None, actor=actor.strip() or None)
    actions = audit_actions(session, user.org_id)
    return templates.TemplateResponse(
        request,
        "governance/audit.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "page": audit_page(session, user.org_id, filters, page),
            "actions": actions,
            "prefixes": sorted({a.split(".", 1)[0] + "." for a in actions if "." in a}),
            "query": {"action": action, "actor": actor},
        },
    )


@router.get("/admin/audit.jsonl")
def audit_log_export(
    session: SessionDep,
    principal: PrincipalDep,
    action: ActionFilter = "",
    actor: ActorFilter = "",
) -> Response:
    """The (filtered) audit log as JSON Lines, oldest first, streamed in batches."""
    user = _audit_admin(principal)
    filters = AuditFilters(action=action or None, actor=actor.strip() or None)
    record_export(session, user, filters)
    # Commit now: the audit chain's lock must not be held while a large export streams.
    session.commit()
    org_id = user.org_id

    def lines() -> Iterator[str]:
        # Its own read-only session: the response outlives the request's unit of work.
        with db.session_factory()() as reader:
            for row in export_rows(reader, org_id, filters):
                yield json.dumps(row, ensure_ascii=False, default=str) + "\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="townhall-audit.jsonl"'},
    )
