"""Writes for channels: add an account that receives webhooks, rotate its signing secret.

Each action flushes and records its audit row (never the secret itself); the caller commits.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.channels.models import ChannelAccount
from townhall.channels.registry import available
from townhall.core import signing
from townhall.core.errors import NotFound, ValidationFailed
from townhall.governance import audit
from townhall.governance.models import User


def webhook_url(base_url: str, account: ChannelAccount) -> str:
    return f"{base_url.rstrip('/')}/hooks/{account.key}"


def do_create_channel_account(
    session: Session,
    *,
    org_id: int,
    platform: str,
    handle: str,
    connector: str = "fake",
    name: str | None = None,
    acting_user: User | None = None,
) -> tuple[ChannelAccount, str]:
    """A new account with a fresh webhook secret; returns it and the secret (shown once)."""
    platform = platform.strip().lower()
    handle = handle.strip().lstrip("@")
    if not platform or len(platform) > 32:
        raise ValidationFailed("platform", "must be 1 to 32 characters")
    if not handle or len(handle) > 200:
        raise ValidationFailed("handle", "must be 1 to 200 characters")
    if connector not in available():
        raise ValidationFailed(
            "connector", f"'{connector}' is not installed (known: {', '.join(sorted(available()))})"
        )
    taken = session.scalar(
        select(ChannelAccount.id).where(
            ChannelAccount.org_id == org_id,
            ChannelAccount.platform == platform,
            ChannelAccount.handle == handle,
        )
    )
    if taken is not None:
        raise ValidationFailed("handle", f"@{handle} on {platform} is already a channel")
    secret = signing.new_secret()
    account = ChannelAccount(
        org_id=org_id,
        platform=platform,
        handle=handle,
        name=name or f"@{handle} on {platform}",
        connector=connector,
        webhook_secret=secret,
    )
    session.add(account)
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=acting_user,
        action="channel.create",
        object_type="channel_account",
        object_id=account.id,
        after={"platform": platform, "handle": handle, "connector": connector, "key": account.key},
    )
    return account, secret


def do_rotate_webhook_secret(
    session: Session, key: str, *, acting_user: User | None = None
) -> tuple[ChannelAccount, str]:
    """Replace the channel's webhook secret; deliveries signed with the old one are refused."""
    account = session.scalar(select(ChannelAccount).where(ChannelAccount.key == key))
    if account is None or (acting_user is not None and acting_user.org_id != account.org_id):
        raise NotFound(f"channel '{key}'")
    secret = signing.new_secret()
    account.webhook_secret = secret
    session.flush()
    audit.record(
        session,
        org_id=account.org_id,
        actor=acting_user,
        action="channel.rotate_secret",
        object_type="channel_account",
        object_id=account.id,
        after={"key": account.key},
    )
    return account, secret
