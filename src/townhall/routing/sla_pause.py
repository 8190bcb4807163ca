"""The resolution clock stands still while a conversation waits on the customer.

An agent who answers and asks the customer for a booking reference should not breach the
resolution target because the customer took two days to reply. While the status is
``pending_customer`` the conversation carries ``resolution_paused_at``; when it runs again the
resolution due and warning times move on by the business minutes that were still left when it
paused, in the queue's business hours. The first-response clock is never paused: it stops for
good at the first reply.

A person or an automatic answer changes the status in the application, which pauses and
resumes on the spot. A customer who writes again reopens the conversation inside ingest's
bulk statements; the SLA sweep resumes those (``resume_reopened``) from the moment they wrote,
before it looks for due clocks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation, ConversationStatus
from townhall.core.time import ensure_aware
from townhall.routing.models import Queue
from townhall.routing.queries import active_policy, compiled_policy
from townhall.routing.sla import BusinessHours, business_minutes_between, due_at


def pause_resolution(conversation: Conversation, at: datetime) -> None:
    """Stop the resolution clock (nothing to do when it is not running or already paused)."""
    if (
        conversation.resolution_due_at is None
        or conversation.resolved_at is not None
        or conversation.resolution_paused_at is not None
    ):
        return
    conversation.resolution_paused_at = at


def _hours(session: Session, conversation: Conversation) -> BusinessHours:
    """The business hours of the conversation's queue under the active policy."""
    version = active_policy(session, conversation.org_id)
    queue = session.get(Queue, conversation.queue_id) if conversation.queue_id else None
    if version is None or queue is None:
        return BusinessHours.around_the_clock()
    _, compiled = compiled_policy(version)
    return compiled.hours.get(queue.name, BusinessHours.around_the_clock())


def _moved_on(
    due: datetime | None, paused: datetime, resumed: datetime, hours: BusinessHours
) -> datetime | None:
    if due is None:
        return None
    due = ensure_aware(due)
    if due <= paused:
        return due  # it had run out before the pause: a breach stays a breach
    return due_at(resumed, business_minutes_between(paused, due, hours), hours)


def resume_resolution(
    session: Session, conversation: Conversation, at: datetime, hours: BusinessHours | None = None
) -> None:
    """Start the resolution clock again at ``at`` with the time that was left.

    ``hours`` are the queue's business hours when the caller already has them.
    """
    if conversation.resolution_paused_at is None:
        return
    paused = ensure_aware(conversation.resolution_paused_at)
    resumed = max(ensure_aware(at), paused)
    hours = hours or _hours(session, conversation)
    conversation.resolution_due_at = _moved_on(
        conversation.resolution_due_at, paused, resumed, hours
    )
    conversation.resolution_warn_at = _moved_on(
        conversation.resolution_warn_at, paused, resumed, hours
    )
    conversation.resolution_paused_at = None


def resume_reopened(session: Session, org_id: int) -> int:
    """Resume the clocks of conversations a customer's new message took out of the pause."""
    reopened = session.scalars(
        select(Conversation).where(
            Conversation.org_id == org_id,
            Conversation.resolution_paused_at.is_not(None),
            Conversation.status != ConversationStatus.PENDING_CUSTOMER.value,
        )
    ).all()
    by_queue: dict[int | None, BusinessHours] = {}
    for conversation in reopened:
        if conversation.queue_id not in by_queue:
            by_queue[conversation.queue_id] = _hours(session, conversation)
        # Ingest reopened it when the customer's message arrived: its time is the latest one.
        resume_resolution(
            session,
            conversation,
            ensure_aware(conversation.last_message_at),
            by_queue[conversation.queue_id],
        )
    session.flush()
    return len(reopened)


def on_status_change(
    session: Session, conversation: Conversation, before: str, at: datetime
) -> None:
    """Pause or resume the clock for a status change made in the application."""
    waiting = ConversationStatus.PENDING_CUSTOMER.value
    if conversation.status == waiting and before != waiting:
        pause_resolution(conversation, at)
    elif before == waiting and conversation.status != waiting:
        resume_resolution(session, conversation, at)
