"""FastAPI dependencies: the request's database session, the signed-in user and CSRF checks."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Header, Request
from sqlalchemy.orm import Session

from townhall import db
from townhall.core.errors import NotFound
from townhall.governance.actions import access_session
from townhall.governance.models import User
from townhall.governance.tokens import TOKEN_PREFIX, access_token

SESSION_COOKIE = "townhall_session"
LOGIN_CSRF_COOKIE = "townhall_login_csrf"


class NotAuthenticated(Exception):
    """No valid session cookie or API token: pages redirect to the login, the API answers 401."""


class MissingScope(Exception):
    def __init__(self, scope: str) -> None:
        super().__init__(f"this API token lacks the '{scope}' scope")
        self.scope = scope


class CsrfFailed(Exception):
    """A form was posted without the token that proves it came from our own page."""


def get_session() -> Iterator[Session]:
    """One unit of work per request: actions flush, this boundary commits."""
    with db.unit_of_work() as session:
        yield session


# scope="function": the transaction commits before the response is sent. FastAPI's default
# ("request") commits after it, so a browser following a 303 could read the old state, and a
# failed commit would have been acknowledged as done.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass
class Principal:
    user: User
    csrf_token: str | None  # None for API tokens: they are not sent by browsers automatically
    scopes: frozenset[str] | None  # None for browser sessions: the role decides


def get_principal(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    if authorization and authorization.lower().startswith("bearer "):
        secret = authorization[7:].strip()
        if secret.startswith(TOKEN_PREFIX):
            try:
                user, token = access_token(session, secret)
            except NotFound as exc:
                raise NotAuthenticated from exc
            return Principal(user=user, csrf_token=None, scopes=frozenset(token.scopes))
        raise NotAuthenticated
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated
    try:
        user, user_session = access_session(session, cookie)
    except NotFound as exc:
        raise NotAuthenticated from exc
    return Principal(user=user, csrf_token=user_session.csrf_token, scopes=None)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_current_user(principal: PrincipalDep) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_scope(scope: str):  # type: ignore[no-untyped-def]
    def check(principal: PrincipalDep) -> Principal:
        if principal.scopes is not None and scope not in principal.scopes:
            raise MissingScope(scope)
        return principal

    return Depends(check)


def check_csrf(principal: PrincipalDep, csrf_token: Annotated[str, Form()] = "") -> Principal:
    """Every state-changing form carries the session's CSRF token."""
    expected = principal.csrf_token
    if expected is None or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        raise CsrfFailed
    return principal


CsrfPrincipal = Annotated[Principal, Depends(check_csrf)]
