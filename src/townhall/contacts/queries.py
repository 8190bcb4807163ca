"""Reads for the unified customer record: a contact, its identities and its history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.contacts.models import Contact, ContactIdentity
from townhall.conversations.models import Conversation
from townhall.governance.models import User
from townhall.governance.permissions import conversation_visibility

HISTORY_LIMIT = 20


@dataclass(frozen=True)
class HistoryEntry:
    conversation_id: int
    platform: str
    subject: str
    status: str
    last_message_at: datetime


@dataclass(frozen=True)
class ContactCard:
    contact: Contact
    identities: list[ContactIdentity]
    history: list[HistoryEntry]


def contact_card(session: Session, user: User, contact_id: int) -> ContactCard | None:
    """The contact with every identity and the conversations ``user`` may see, across channels."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.org_id != user.org_id:
        return None
    identities = list(
        session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.contact_id == contact_id)
            .order_by(ContactIdentity.platform)
        )
    )
    history = [
        HistoryEntry(*row)
        for row in session.execute(
            select(
                Conversation.id,
                Conversation.platform,
                Conversation.subject,
                Conversation.status,
                Conversation.last_message_at,
            )
            .where(Conversation.contact_id == contact_id, conversation_visibility(user))
            .order_by(Conversation.last_message_at.desc())
            .limit(HISTORY_LIMIT)
        )
    ]
    return ContactCard(contact=contact, identities=identities, history=history)
