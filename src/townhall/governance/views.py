"""Sign-in and sign-out pages."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from townhall.config import get_settings
from townhall.deps import LOGIN_CSRF_COOKIE, SESSION_COOKIE, CsrfPrincipal, SessionDep
from townhall.governance.actions import LoginRefused, do_login, do_logout
from townhall.governance.models import Organisation
from townhall.governance.passwords import new_token
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
