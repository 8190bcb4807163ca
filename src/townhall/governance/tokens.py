"""API tokens with scopes, for scripts and integrations that call the JSON API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from townhall.core.errors import NotFound, ValidationFailed
from townhall.core.time import utcnow
from townhall.db import Base
from townhall.governance import audit
from townhall.governance.models import User
from townhall.governance.passwords import new_token, token_digest

SCOPES: dict[str, str] = {
    "read": "read conversations, contacts and messages the token's user may see",
    "ingest": "submit inbound items in the interchange format",
    "write": "act on conversations (reply, assign, notes)",
}
TOKEN_PREFIX = "th_"


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


def do_create_token(
    session: Session, *, user: User, name: str, scopes: list[str]
) -> tuple[ApiToken, str]:
    """Returns the row and the secret, which is shown once and never stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationFailed(
            "scopes",
            f"choose from {', '.join(SCOPES)} (unknown: {', '.join(unknown) or 'none given'})",
        )
    secret = TOKEN_PREFIX + new_token()
    token = ApiToken(
        user_id=user.id, name=name, token_hash=token_digest(secret), scopes=sorted(set(scopes))
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        org_id=user.org_id,
        actor=user,
        action="api_token.create",
        object_type="api_token",
        object_id=token.id,
        after={"name": name, "scopes": token.scopes},
    )
    return token, secret


def access_token(session: Session, secret: str) -> tuple[User, ApiToken]:
    row = session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_digest(secret), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row[0].is_active:
        raise NotFound("API token")
    user, token = row
    token.last_used_at = utcnow()
    return user, token
