"""Synthetic audit samples with a chosen mix of conversation kinds, for the advisor tests."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

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


def mark_understood(sessions: Any, labels: dict[str, str]) -> None:
    """Store an understanding on every message not yet understood, as the pipeline would.

    ``labels`` maps a text to its intent (default ``support_request``); web tests use it so
    pages read stored labels instead of loading the models.
    """
    from sqlalchemy import select

    from townhall.conversations.models import Message

    with sessions() as session, session.begin():
        for message in session.scalars(select(Message).where(Message.intent.is_(None))):
            message.intent = labels.get(message.text, "support_request")
            message.sentiment = SENTIMENT.get(message.intent, "neutral")
            message.language = "en"
            message.risk_flags = []
            message.understood_at = datetime.now(UTC)


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


# --- tracing the HTML's figures to the JSON ---------------------------------------------------

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _json_numbers(data: Any) -> list[float]:
    """Every number the JSON holds, as values, as percentages, and inside its strings."""
    found: list[float] = []

    def walk(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            # The page shows a sign as a dash the number pattern does not take in.
            found.extend(abs(float(value)) * scale for scale in (1, 100))
        elif isinstance(value, str):
            found.extend(float(token.replace(",", "")) for token in NUMBER.findall(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return found


def _html_numbers(html: str) -> list[str]:
    html = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    # Chart geometry is drawing, not figures; the titles inside charts are figures.
    titles = " ".join(re.findall(r"<title>(.*?)</title>", html, flags=re.S))
    # A cell's "Tue 19:00" is where it sits on the week's grid, not a figure.
    titles = re.sub(r"\b\d\d:00\b", " ", titles)
    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    text = unescape(re.sub(r"<[^>]+>", " ", html)) + " " + unescape(titles)
    return NUMBER.findall(text)


def _shown(token: str, candidates: list[float]) -> bool:
    value = float(token.replace(",", ""))
    digits = len(token.split(".")[1]) if "." in token else 0
    return any(abs(round(abs(c), digits) - value) < 1e-9 for c in candidates)


def numbers_not_in_json(html: str, data: Any) -> list[str]:
    """Figures shown in the HTML that the report's JSON does not hold (should be none)."""
    candidates = _json_numbers(data)
    tokens = _html_numbers(html)
    assert len(tokens) > 50, "the page shows suspiciously few figures"
    return sorted({token for token in tokens if not _shown(token, candidates)})
