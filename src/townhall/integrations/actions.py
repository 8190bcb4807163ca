"""The only writes of outgoing webhooks: subscriptions (create, enable/disable, rotate secret) and
dead deliveries (retry, discard).

Each write flushes and appends its audit row in the caller's transaction. The secret is
generated here and never written to the audit log.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from townhall.config import get_settings
from townhall.core.errors import Forbidden, ValidationFailed
from townhall.core.time import utcnow
from townhall.governance import audit
from townhall.governance.models import Role, User
from townhall.integrations.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from townhall.integrations.outgoing import EVENT_TYPES

SECRET_PREFIX = "whsec_"
MAX_URL_CHARS = 2000
MAX_DESCRIPTION_CHARS = 200


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_admin(user: User) -> None:
    if user.role != Role.ADMIN or user.is_agency:
        raise Forbidden("only administrators may manage webhooks")


def check_url(url: str) -> str:
    """A URL Townhall may POST events to (ValidationFailed naming what is wrong)."""
    url = url.strip()
    if not url:
        raise ValidationFailed("url", "the URL is empty")
    if len(url) > MAX_URL_CHARS:
        raise ValidationFailed("url", f"a URL has at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed("url", f"not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("url", "must be an http:// or https:// URL with a host name")
    if parts.username or parts.password:
        raise ValidationFailed("url", "must not carry a user name or password")
    if parts.fragment:
        raise ValidationFailed("url", "must not have a #fragment")
    if port == 0:
        raise ValidationFailed("url", "port 0 is not a valid port")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        address = None
    # Link-local addresses are where cloud metadata services (and their credentials) live.
    if address is not None and (address.is_link_local or address.is_unspecified):
        raise ValidationFailed("url", f"{parts.hostname} is not an address events may go to")
    # Payloads carry customers' messages: in production they travel encrypted only.
    if parts.scheme == "http" and get_settings().env == "production":
        raise ValidationFailed("url", "must use https:// in production")
    return url


def check_event_types(event_types: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(t.strip() for t in event_types if t.strip()))
    if not wanted:
        raise ValidationFailed("event_types", "choose at least one kind of event")
    unknown = [t for t in wanted if t not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            "event_types",
            f"unknown event type {unknown[0]!r} (known: {', '.join(EVENT_TYPES)})",
        )
    return sorted(wanted)


def _described(subscription: WebhookSubscription) -> dict[str, object]:
    return {
        "url": subscription.url,
        "description": subscription.description,
        "event_types": subscription.event_types,
        "active": subscription.active,
    }


def do_create_subscription(
    session: Session,
    acting_user: User,
    *,
    url: str,
    event_types: Iterable[str],
    description: str = "",
) -> WebhookSubscription:
    """Register a URL for some kinds of event; Townhall generates its signing secret."""
    check_admin(acting_user)
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationFailed(
            "description", f"a description has at most {MAX_DESCRIPTION_CHARS} characters"
        )
    subscription = WebhookSubscription(
        org_id=acting_user.org_id,
        url=check_url(url),
        description=description,
        secret=new_secret(),
        event_types=check_event_types(event_types),
        active=True,
        created_by_id=acting_user.id,
        created_at=utcnow(),
    )
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        org_id=acting_user.org_id,
        actor=acting_user,
        action="webhook.create",
        object_type="webhook_subscription",
        object_id=subscription.id,
        after=_described(subscription),
    )
    return subscription


def do_set_subscription_active(
    session: Session, subscription: WebhookSubscription, active: bool, acting_user: User
) -> WebhookSubscription:
    """Enable or disable: a disabled subscription gets no new events and its queue waits."""
    check_admin(acting_user)
    if subscription.active == active:
        raise ValidationFailed(
            "active", f"the subscription is already {'enabled' if active else 'disabled'}"
        )
    subscription.active = active
    session.flush()
    audit.record(
        session,
        org_id=subscription.org_id,
        actor=acting_user,
        action="webhook.enable" if active else "webhook.disable",
        object_type="webhook_subscription",
        object_id=subscription.id,
        before={"active": not active},
        after={"active": active},
    )
    return subscription


def do_rotate_secret(
    session: Session, subscription: WebhookSubscription, acting_user: User
) -> WebhookSubscription:
    """A new signing secret; every delivery from now on (retries too) is signed with it."""
    check_admin(acting_user)
    subscription.secret = new_secret()
    subscription.secret_rotated_at = utcnow()
    session.flush()
    audit.record(
        session,
        org_id=subscription.org_id,
        actor=acting_user,
        action="webhook.rotate_secret",
        object_type="webhook_subscription",
        object_id=subscription.id,
        # Never the secret itself: the audit log is exported and read by more people.
        after={"secret_prefix": subscription.secret[: len(SECRET_PREFIX) + 4]},
    )
    return subscription


def do_retry_delivery(
    session: Session, delivery: WebhookDelivery, acting_user: User
) -> WebhookDelivery:
    """Queue a dead (or still failing) delivery again now: one more attempt, signed afresh."""
    check_admin(acting_user)
    if delivery.status not in (DeliveryStatus.DEAD, DeliveryStatus.FAILED):
        raise ValidationFailed("delivery", "only a failed delivery can be retried")
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status = DeliveryStatus.FAILED.value
    delivery.next_attempt_at = utcnow()
    session.flush()
    audit.record(
        session,
        org_id=delivery.org_id,
        actor=acting_user,
        action="webhook.retry",
        object_type="webhook_delivery",
        object_id=delivery.id,
        before=before,
        after={"status": delivery.status, "next_attempt_at": delivery.next_attempt_at.isoformat()},
    )
    return delivery


def do_discard_delivery(
    session: Session, delivery: WebhookDelivery, acting_user: User
) -> WebhookDelivery:
    """Give up on a failed delivery for good; the row stays, marked, for the record."""
    check_admin(acting_user)
    if delivery.status not in (DeliveryStatus.DEAD, DeliveryStatus.FAILED):
        raise ValidationFailed("delivery", "only a failed delivery can be discarded")
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status = DeliveryStatus.DISCARDED.value
    delivery.next_attempt_at = None
    session.flush()
    audit.record(
        session,
        org_id=delivery.org_id,
        actor=acting_user,
        action="webhook.discard",
        object_type="webhook_delivery",
        object_id=delivery.id,
        before=before,
        after={"status": delivery.status},
        note=delivery.last_error,
    )
    return delivery
