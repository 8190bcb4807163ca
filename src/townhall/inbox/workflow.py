"""The conversation status state machine: which status may follow which, as plain data.

new → open → pending_customer → resolved → closed, with shortcuts a person may take (a spam
message goes straight from new to closed) and "reopened": a resolved or closed conversation
goes back to open, by hand or when the customer writes again (see conversations.ingest).
"""

from __future__ import annotations

from collections.abc import Mapping

from townhall.conversations.models import ConversationStatus as S
from townhall.core.errors import ValidationFailed

TRANSITIONS: Mapping[S, frozenset[S]] = {
    S.NEW: frozenset({S.OPEN, S.PENDING_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.PENDING_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.PENDING_CUSTOMER: frozenset({S.OPEN, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),
    S.CLOSED: frozenset({S.OPEN}),
}

# The statuses in which a conversation still needs work (and counts against capacity).
ACTIVE: frozenset[S] = frozenset({S.NEW, S.OPEN, S.PENDING_CUSTOMER})


def parse_status(value: str) -> S:
    try:
        return S(value)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in S)
        raise ValidationFailed(
            "status", f"unknown status {value!r} (use one of {allowed})"
        ) from exc


def allowed_next(current: str) -> list[S]:
    """The statuses a conversation in ``current`` may move to, in workflow order."""
    targets = TRANSITIONS[parse_status(current)]
    return [s for s in S if s in targets]


def check_transition(current: str, target: str) -> S:
    """The target status if moving there from ``current`` is allowed; ValidationFailed if not."""
    source, destination = parse_status(current), parse_status(target)
    if source == destination:
        raise ValidationFailed("status", f"the conversation is already {destination.value}")
    if destination not in TRANSITIONS[source]:
        raise ValidationFailed(
            "status",
            f"a {source.value} conversation cannot become {destination.value} "
            f"(allowed: {', '.join(s.value for s in allowed_next(source))})",
        )
    return destination


def is_reopening(current: str, target: str) -> bool:
    return parse_status(current) in {S.RESOLVED, S.CLOSED} and parse_status(target) == S.OPEN
