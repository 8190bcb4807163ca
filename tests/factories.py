"""Builders that create test state through the real actions."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.ingest import store_items
from townhall.conversations.schemas import InboundItem
from townhall.governance.actions import do_create_user
from townhall.governance.models import Agency, Department, Organisation, Role, User
from townhall.governance.setup import do_create_default_structure, get_or_create_organisation
from townhall.understanding import Understanding

PASSWORD = "correct-horse-battery"


@dataclass
class Org:
    id: int
    departments: dict[str, int]
    agency_id: int
    users: dict[str, User]


def make_org(sessions: sessionmaker[Session], slug: str = "demo") -> Org:
    with sessions() as session, session.begin():
        org, _ = get_or_create_organisation(session, slug, "Test Org")
        do_create_default_structure(session, org, agency_name="Agency Co")
        departments = {
            d.name: d.id
            for d in session.scalars(select(Department).where(Department.org_id == org.id))
        }
        agency_id = session.scalars(select(Agency.id).where(Agency.org_id == org.id)).one()
        users: dict[str, User] = {}
        for key, role, department, agency in (
            ("admin", Role.ADMIN, None, None),
            ("cs", Role.AGENT, "Customer Service", None),
            ("hr", Role.AGENT, "HR", None),
            ("agency", Role.AGENCY_AGENT, None, agency_id),
            ("exec", Role.EXECUTIVE, "Leadership", None),
        ):
            users[key] = do_create_user(
                session,
                org_id=org.id,
                acting_user=None,
                email=f"{key}@{slug}.example",
                name=key.title(),
                password=PASSWORD,
                role=role,
                department_id=departments[department] if department else None,
                agency_id=agency,
            )
        return Org(id=org.id, departments=departments, agency_id=agency_id, users=users)


def item(
    external_id: str,
    *,
    platform: str = "x",
    handle: str = "jane",
    reply_to: str | None = None,
    minute: int = 0,
    text: str | None = None,
    direction: str = "inbound",
    kind: str | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "platform": platform,
        "external_id": external_id,
        "author": {"handle": handle, "name": handle.title(), "followers": 10},
        "text": text or f"message {external_id}",
        "created_at": f"2026-11-01T10:{minute:02d}:00Z",
        "direction": direction,
    }
    if reply_to:
        row["in_reply_to"] = reply_to
    if kind:
        row["kind"] = kind
    return row


def store(sessions: sessionmaker[Session], org_id: int, *rows: dict[str, Any]) -> Any:
    with sessions() as session, session.begin():
        return store_items(session, org_id, [InboundItem.model_validate(r) for r in rows])


def org_id_of(session: Session, slug: str = "demo") -> int:
    return session.scalars(select(Organisation.id).where(Organisation.slug == slug)).one()


@dataclass
class Channel:
    id: int
    key: str
    secret: str
    org_id: int
    platform: str
    connector: str

    def deliver(self, session: Session, external_id: str, body: str) -> tuple[int, bool]:
        """Store a webhook delivery as the webhook does, in the session's transaction."""
        from townhall.channels.inbound import DeliveryChannel, record_delivery

        channel = DeliveryChannel(self.id, self.org_id, self.platform, self.connector, self.secret)
        stored = record_delivery(session.connection(), channel, external_id=external_id, body=body)
        assert stored is not None  # the channel is as it was made
        return stored


def make_channel(
    sessions: sessionmaker[Session], org_id: int, *, platform: str = "x", handle: str = "acme"
) -> Channel:
    """A channel account that receives signed webhooks, made by the real action."""
    from townhall.channels.actions import do_create_channel_account

    with sessions() as session, session.begin():
        account, secret = do_create_channel_account(
            session, org_id=org_id, platform=platform, handle=handle
        )
        return Channel(
            id=account.id,
            key=account.key,
            secret=secret,
            org_id=org_id,
            platform=account.platform,
            connector=account.connector,
        )


class CountingUnderstander:
    """Stands in for the models: fast, and counts every text it is asked to understand."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()

    def understand(self, texts: Sequence[str]) -> list[Understanding]:
        with self.lock:
            self.seen.update(texts)
        return [
            Understanding("en", "negative", -0.5, "complaint", 0.9, (), "normal") for _ in texts
        ]

    def learn(self, _corrections: Any) -> None:
        pass
