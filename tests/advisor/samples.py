"""Synthetic audit samples with a chosen mix of conversation kinds, for the advisor tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from townhall.advisor.schemas import AuditItem

START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday

TEXTS = {
    "support_request": "I lost my password, how do I reset it?",
    "complaint": "Third time my order is late. Unacceptable.",
    "sales_lead": "Do you offer volume pricing for 200 seats? We want to buy this quarter.",
    "press_inquiry": "Journalist at the Daily Planet here, can we get a comment on the outage?",
    "threat": "I know where your CEO lives.",
    "impersonation_phishing": "Fake support account is asking customers for their card numbers.",
    "strategic": "Why are you focusing on this market? Do you plan a mobile app?",
    "feedback_praise": "Love the new release!",
    "campaign_reply": "Entered the contest!",
    "spam": "Buy followers cheap",
    "other": "hello",
}
SENTIMENT = {
    "complaint": "negative",
    "threat": "negative",
    "impersonation_phishing": "negative",
    "feedback_praise": "positive",
    "campaign_reply": "positive",
}


def sample(
    weekly: dict[str, int],
    weeks: int = 4,
    platforms: tuple[str, ...] = ("mastodon", "bluesky"),
    seed: int = 7,
    flags: dict[str, tuple[str, ...]] | None = None,
) -> list[AuditItem]:
    """``weekly[kind]`` conversations a week for ``weeks`` weeks, mostly in office hours."""
    rng = random.Random(seed)
    items = []
    number = 0
    for week in range(weeks):
        for kind, count in weekly.items():
            for _ in range(count):
                number += 1
                day = rng.choice((0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 6))
                hour = rng.choice((9, 10, 10, 11, 11, 12, 13, 14, 14, 15, 16, 17, 20))
                at = START + timedelta(weeks=week, days=day, hours=hour, minutes=rng.randrange(60))
                items.append(
                    AuditItem(
                        platform=rng.choice(platforms),
                        created_at=at,
                        thread_id=f"t{number}",
                        intent=kind,
                        sentiment=SENTIMENT.get(kind, "neutral"),
                        language="en" if number % 5 else "de",
                        risk_flags=(flags or {}).get(kind, ()),
                        text=TEXTS.get(kind, kind),
                    )
                )
    return items
