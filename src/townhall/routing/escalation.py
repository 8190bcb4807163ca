"""Escalation: telling a department's leads (and the person working it) about a conversation.

Used when routing finds a journalist, very negative words from an influential author or a
rule's ``escalate_to`` (at routing time), and by the SLA sweep for warnings and breaches.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation
from townhall.core.time import utcnow
from townhall.governance import audit
from townhall.governance.models import Department, Role, User
from townhall.inbox.models import Notification
from townhall.inbox.queries import user_may_see
from townhall.routing.rules import EscalationTrigger

ESCALATION_REASONS = {
    "journalist": "the author is a journalist",
    "influential_negative": "very negative message from an influential author",
    "rule": "a routing rule asked for it",
}


def department_leads(session: Session, org_id: int, department_id: int | None) -> list[User]:
    """The department's active in-house leads; the organisation's admins when it has none."""
    leads: list[User] = []
    if department_id is not None:
        leads = list(
            session.scalars(
                select(User)
                .where(
                    User.org_id == org_id,
                    User.department_id == department_id,
                    User.role == Role.LEAD.value,
                    User.is_active.is_(True),
                    User.agency_id.is_(None),
                )
                .order_by(User.id)
            )
        )
    if not leads:
        # Someone must hear about it: without a lead, the administrators do.
        leads = list(
            session.scalars(
                select(User)
                .where(
                    User.org_id == org_id,
                    User.role == Role.ADMIN.value,
                    User.is_active.is_(True),
                    User.agency_id.is_(None),
                )
                .order_by(User.id)
            )
        )
    return leads


def notify(
    session: Session, conversation: Conversation, users: Iterable[User], kind: str, text: str
) -> list[int]:
    """One unread notification per person who may see the conversation; their ids."""
    seen: set[int] = set()
    now = utcnow()
    for user in users:
        if user.id in seen or not user_may_see(session, user, conversation.id):
            continue
        seen.add(user.id)
        session.add(
            Notification(
                org_id=conversation.org_id,
                user_id=user.id,
                conversation_id=conversation.id,
                note_id=None,
                kind=kind,
                text=text,
                created_at=now,
            )
        )
    session.flush()
    return sorted(seen)


def escalate_routed(
    session: Session,
    conversation: Conversation,
    triggers: Iterable[EscalationTrigger],
    departments: dict[str, int],
) -> list[int]:
    """Carry out the routing-time escalations of one decision: tell each department's leads."""
    told: list[int] = []
    done: list[dict[str, object]] = []
    for trigger in triggers:
        department_id = departments.get(trigger.to)
        why = ESCALATION_REASONS.get(trigger.reason, trigger.reason)
        text = f"Escalated to {trigger.to}: {why} ({trigger.ref})."
        users = department_leads(session, conversation.org_id, department_id)
        notified = notify(session, conversation, users, "escalation", text)
        told += notified
        done.append({"to": trigger.to, "reason": trigger.reason, "notified": notified})
    if done:
        audit.record(
            session,
            org_id=conversation.org_id,
            actor=None,
            action="conversation.escalate",
            object_type="conversation",
            object_id=conversation.id,
            after={"escalations": done},
        )
    return told


def department_id_by_name(session: Session, org_id: int) -> dict[str, int]:
    return {
        d.name: d.id for d in session.scalars(select(Department).where(Department.org_id == org_id))
    }
