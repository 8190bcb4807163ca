"""Reads for outgoing webhooks: subscriptions with their delivery counts, and ``access_*`` checks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from townhall.core.errors import NotFound
from townhall.governance.models import User
from townhall.integrations.actions import check_admin
from townhall.integrations.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


def access_subscription(session: Session, user: User, subscription_id: int) -> WebhookSubscription:
    """The organisation's subscription, for an administrator; NotFound otherwise."""
    check_admin(user)
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.org_id != user.org_id:
        raise NotFound("webhook subscription")
    return subscription


@dataclass(frozen=True)
class SubscriptionRow:
    subscription: WebhookSubscription
    waiting: int  # pending or failed-and-retrying deliveries
    dead: int


def subscription_rows(session: Session, org_id: int) -> list[SubscriptionRow]:
    """The organisation's subscriptions with how many deliveries wait and how many died."""
    subscriptions = list(
        session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.org_id == org_id)
            .order_by(WebhookSubscription.id)
        )
    )
    counts: dict[tuple[int, str], int] = {
        (row.subscription_id, row.status): row.n
        for row in session.execute(
            select(
                WebhookDelivery.subscription_id,
                WebhookDelivery.status,
                func.count().label("n"),
            )
            .where(
                WebhookDelivery.org_id == org_id,
                WebhookDelivery.status.in_(
                    [
                        DeliveryStatus.PENDING.value,
                        DeliveryStatus.FAILED.value,
                        DeliveryStatus.DEAD.value,
                    ]
                ),
            )
            .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status)
        )
    }
    return [
        SubscriptionRow(
            subscription=s,
            waiting=counts.get((s.id, DeliveryStatus.PENDING.value), 0)
            + counts.get((s.id, DeliveryStatus.FAILED.value), 0),
            dead=counts.get((s.id, DeliveryStatus.DEAD.value), 0),
        )
        for s in subscriptions
    ]


def access_delivery(session: Session, user: User, delivery_id: int) -> WebhookDelivery:
    """The organisation's webhook delivery, for an administrator; NotFound otherwise."""
    check_admin(user)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.org_id != user.org_id:
        raise NotFound("webhook delivery")
    return delivery
