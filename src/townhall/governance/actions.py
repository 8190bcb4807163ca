"""Writes for organisations, users and sign-in; each records its audit row in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from townhall.config import get_settings
from townhall.core.errors import NotFound, ValidationFailed
from townhall.core.time import ensure_aware, utcnow
from townhall.governance import audit
from townhall.governance.models import Organisation, Role, User, UserSession
from townhall.governance.passwords import (
    dummy_hash,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)


def do_create_organisation(
    session: Session, *, slug: str, name: str, timezone: str = "UTC"
) -> Organisation:
    org = Organisation(slug=slug, name=name, timezone=timezone)
    session.add(org)
    session.flush()
    audit.record(
        session,
        org_id=org.id,
        actor=None,
        action="organisation.create",
        object_type="organisation",
        object_id=org.id,
        after={"slug": slug, "name": name},
    )
    return org


def do_create_user(
    session: Session,
    *,
    org_id: int,
    acting_user: User | None,
    email: str,
    name: str,
    password: str,
    role: Role,
    department_id: int | None = None,
    team_id: int | None = None,
    agency_id: int | None = None,
    languages: str = "en",
    capacity: int = 10,
) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise ValidationFailed("email", "is not an email address")
    if (role == Role.AGENCY_AGENT) != (agency_id is not None):
        raise ValidationFailed("agency_id", "agency agents, and only they, belong to an agency")
    if session.scalar(select(User.id).where(User.org_id == org_id, User.email == email)):
        raise ValidationFailed("email", f"a user with email {email} already exists")
    user = User(
        org_id=org_id,
        email=email,
        name=name,
        password_hash=hash_password(password),
        role=role,
        department_id=department_id,
        team_id=team_id,
        agency_id=agency_id,
        languages=languages,
        capacity=capacity,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=acting_user,
        action="user.create",
        object_type="user",
        object_id=user.id,
        after={
            "email": email,
            "role": str(role),
            "department_id": department_id,
            "agency_id": agency_id,
        },
    )
    return user


@dataclass(frozen=True)
class LoginResult:
    user: User
    token: str
    csrf_token: str


class LoginRefused(Exception):
    """Wrong email or password, or the account is locked; the message is safe to show."""


def do_login(session: Session, *, org_id: int, email: str, password: str) -> LoginResult:
    settings = get_settings()
    now = utcnow()
    user = session.scalar(
        select(User).where(User.org_id == org_id, User.email == email.strip().lower())
    )
    if user is None or not user.is_active:
        verify_password(dummy_hash(), password)  # same cost as a real check: no user enumeration
        raise LoginRefused("Wrong email or password.")
    if user.locked_until is not None and ensure_aware(user.locked_until) > now:
        raise LoginRefused("Too many failed sign-ins: this account is locked for a while.")
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        locked = user.failed_logins >= settings.login_max_failures
        if locked:
            user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
        audit.record(
            session,
            org_id=org_id,
            actor=user,
            action="user.login_failed",
            object_type="user",
            object_id=user.id,
            after={"locked": locked},
        )
        raise LoginRefused(
            "Too many failed sign-ins: this account is locked for a while."
            if locked
            else "Wrong email or password."
        )
    user.failed_logins = 0
    user.locked_until = None
    token = new_token()
    csrf = new_token()
    session.add(
        UserSession(
            token_hash=token_digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=settings.session_hours),
        )
    )
    audit.record(
        session,
        org_id=org_id,
        actor=user,
        action="user.login",
        object_type="user",
        object_id=user.id,
    )
    session.flush()
    return LoginResult(user=user, token=token, csrf_token=csrf)


def do_logout(session: Session, *, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == token_digest(token)))


def access_session(session: Session, token: str) -> tuple[User, UserSession]:
    """The signed-in user behind a session cookie, or NotFound if it is unknown or expired."""
    row = session.execute(
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == token_digest(token))
    ).first()
    if row is None:
        raise NotFound("session")
    user, user_session = row
    if ensure_aware(user_session.expires_at) <= utcnow() or not user.is_active:
        raise NotFound("session")
    return user, user_session
