"""Turn interchange rows and their understandings into the audit's items (threads resolved)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from townhall.advisor.schemas import AuditItem
from townhall.conversations.schemas import InboundItem
from townhall.core.taxonomy import DEFAULT_OWNERSHIP, RISK_FLAGS, SENTIMENTS


class UnderstandingLike(Protocol):
    """What the audit needs from the understanding of one message."""

    @property
    def language(self) -> str | None: ...
    @property
    def sentiment(self) -> str: ...
    @property
    def intent(self) -> str: ...
    @property
    def risk_flags(self) -> Sequence[str]: ...


def understand(texts: Sequence[str]) -> list[UnderstandingLike]:
    """Classify texts with the shipped models, in one batch (fast; one by one is slow)."""
    # Imported here: loading the models takes a moment that commands which never audit skip.
    from townhall.understanding import get_understander

    return list(get_understander().understand(list(texts)))


def audit_item(
    platform: str, created_at: datetime, thread_id: str, text: str, understood: UnderstandingLike
) -> AuditItem:
    """One audit item; labels the audit does not know fall back to ``other``/``neutral``."""
    # A model newer than this taxonomy may know labels the audit cannot staff; say "other".
    intent = understood.intent if understood.intent in DEFAULT_OWNERSHIP else "other"
    sentiment = understood.sentiment if understood.sentiment in SENTIMENTS else "neutral"
    return AuditItem(
        platform=platform,
        created_at=created_at,
        thread_id=thread_id,
        intent=intent,
        sentiment=sentiment,
        language=understood.language or "unknown",
        risk_flags=tuple(flag for flag in understood.risk_flags if flag in RISK_FLAGS),
        text=text,
    )


def inbound_only(rows: Sequence[InboundItem]) -> list[InboundItem]:
    """The audit measures what the audience sends; the organisation's own posts are left out."""
    return [row for row in rows if row.direction == "inbound"]


def thread_roots(rows: Sequence[InboundItem]) -> dict[tuple[str, str], str]:
    """Each row's thread: follow ``in_reply_to`` up to the first message the sample knows of.

    A reply to something outside the sample starts its thread at that outside id, so two
    replies to the same (missing) post still count as one conversation.
    """
    parent = {(row.platform, row.external_id): row.in_reply_to for row in rows}
    roots: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (row.platform, row.external_id)
        current, seen = row.external_id, set()
        while True:
            up = parent.get((row.platform, current))
            if up is None or current in seen:
                break
            seen.add(current)
            current = up
        roots[key] = current
    return roots


def audit_items(
    rows: Sequence[InboundItem], understandings: Sequence[UnderstandingLike]
) -> list[AuditItem]:
    """Pair each row with its understanding; unknown labels fall back to ``other``/``neutral``."""
    if len(rows) != len(understandings):
        raise ValueError("understandings: one is needed per row")
    roots = thread_roots(rows)
    return [
        audit_item(
            row.platform,
            row.created_at,
            roots[(row.platform, row.external_id)],
            row.text,
            understood,
        )
        for row, understood in zip(rows, understandings, strict=True)
    ]
