"""Seeded generator of demo conversations in the interchange format (no external data)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from townhall.core.taxonomy import INTENTS
from townhall.demo import content

BRAND_HANDLE = "skywardair"

# How often each kind arrives: about half of what brands receive wants a problem solved.
KIND_WEIGHTS: dict[str, float] = {
    "support_request": 33,
    "complaint": 24,
    "feedback_praise": 8,
    "sales_lead": 7,
    "campaign_reply": 7,
    "other": 6,
    "spam": 5,
    "press_inquiry": 2.5,
    "strategic": 2.5,
    "impersonation_phishing": 2,
    "employee_conduct": 1.5,
    "protest": 1,
    "threat": 0.5,
}
PLATFORM_WEIGHTS: dict[str, float] = {
    "x": 45,
    "facebook": 20,
    "instagram": 14,
    "mastodon": 8,
    "bluesky": 8,
    "reddit": 5,
}
# Arrivals per hour of day (UTC): a morning and an evening peak, quiet nights.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 9, 8, 8, 8, 7, 7, 8, 9, 10, 9, 7, 5, 3, 2]
REPLY_PROBABILITY: dict[str, float] = {
    "support_request": 0.8,
    "complaint": 0.85,
    "feedback_praise": 0.5,
    "sales_lead": 0.8,
    "press_inquiry": 0.9,
    "campaign_reply": 0.3,
}
FOREIGN: dict[str, list[tuple[str, str]]] = {
    "support_request": [
        ("es", "@{brand} ¿cómo puedo cambiar la fecha de mi vuelo {flight}?"),
        ("de", "@{brand} wo finde ich die Rechnung für meine Buchung {ref}?"),
        ("fr", "@{brand} comment ajouter un bagage à ma réservation {ref} ?"),
    ],
    "complaint": [
        (
            "es",
            "@{brand} mi vuelo {flight} lleva {days} horas de retraso y nadie nos informa. Vergonzoso.",
        ),
        (
            "fr",
            "@{brand} encore un vol annulé, toujours pas de remboursement après {days} semaines !",
        ),
        ("de", "@{brand} mein Koffer ist seit {days} Tagen verschwunden, niemand antwortet."),
    ],
}


@dataclass(frozen=True)
class DemoPerson:
    handle: str
    name: str
    followers: int


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _fill(rng: random.Random, template: str, person: DemoPerson) -> str:
    city, city2 = rng.sample(content.CITIES, 2)
    return template.format(
        brand=BRAND_HANDLE,
        flight=f"SK{rng.randint(100, 999)}",
        city=city,
        city2=city2,
        days=rng.randint(2, 9),
        name=rng.choice(content.NAMES),
        product=rng.choice(content.PRODUCTS),
        outlet=rng.choice(content.OUTLETS),
        amount=rng.choice([12, 20, 35, 50, 120]),
        ref="".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=6)),
        date=rng.choice(content.MONTHS),
        competitor=rng.choice(content.COMPETITORS),
        friend=f"{rng.choice(content.NAMES).lower()}{rng.randint(1, 99)}",
        first=person.name.split()[0],
    )


def _people(rng: random.Random, count: int) -> list[DemoPerson]:
    people = []
    for index in range(count):
        first, last = rng.choice(content.NAMES), rng.choice(content.SURNAMES)
        handle = f"{first}{last}{index}".lower().replace("ü", "u")
        # Follower counts are heavy-tailed: a few influential authors, many small ones.
        followers = int(rng.paretovariate(1.2) * 80)
        people.append(DemoPerson(handle=handle, name=f"{first} {last}", followers=followers))
    return people


def _arrival(rng: random.Random, start: datetime, days: int) -> datetime:
    day = rng.randrange(days)
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    return start + timedelta(
        days=day, hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60)
    )


def generate(
    *, conversations: int = 3000, days: int = 42, end: datetime, seed: int = 7
) -> list[dict[str, Any]]:
    """Interchange rows for ``conversations`` threads arriving over ``days`` days before ``end``."""
    rng = random.Random(seed)
    people = _people(rng, max(10, int(conversations * 0.6)))
    start = end - timedelta(days=days)
    rows: list[dict[str, Any]] = []
    counters: dict[str, int] = {}
    kinds = list(KIND_WEIGHTS)
    for index in range(conversations):
        # Every kind appears at least once, then they follow their usual mix.
        kind = kinds[index] if index < len(kinds) else _weighted(rng, KIND_WEIGHTS)
        assert kind in INTENTS
        platform = _weighted(rng, PLATFORM_WEIGHTS)
        person = rng.choice(people)
        at = _arrival(rng, start, days)
        if kind in FOREIGN and rng.random() < 0.08:
            _lang, template = rng.choice(FOREIGN[kind])
        else:
            template = rng.choice(content.TEMPLATES[kind])
        is_dm = kind in ("support_request", "complaint", "sales_lead") and rng.random() < 0.15
        item_kind = (
            "direct_message"
            if is_dm
            else ("mention" if platform in ("x", "mastodon", "bluesky") else "comment")
        )

        def next_id(platform: str = platform) -> str:
            counters[platform] = counters.get(platform, 0) + 1
            return f"{platform}-{counters[platform]:07d}"

        root_id = next_id()
        rows.append(
            {
                "platform": platform,
                "external_id": root_id,
                "kind": item_kind,
                "direction": "inbound",
                "author": {
                    "handle": person.handle,
                    "name": person.name,
                    "followers": person.followers,
                },
                "text": _fill(rng, template, person),
                "created_at": at.isoformat(),
                "url": f"https://{platform}.example/{person.handle}/{root_id}",
            }
        )
        if rng.random() < REPLY_PROBABILITY.get(kind, 0.0):
            reply_at = at + timedelta(minutes=rng.randint(4, 360))
            if reply_at < end:
                reply_id = next_id()
                rows.append(
                    {
                        "platform": platform,
                        "external_id": reply_id,
                        "kind": "direct_message" if is_dm else "reply",
                        "direction": "outbound",
                        "author": {"handle": BRAND_HANDLE, "name": "Skyward Airways"},
                        "text": _fill(rng, rng.choice(content.BRAND_REPLIES[kind]), person),
                        "created_at": reply_at.isoformat(),
                        "in_reply_to": root_id,
                    }
                )
                follow_at = reply_at + timedelta(minutes=rng.randint(2, 240))
                if kind in content.FOLLOW_UPS and rng.random() < 0.5 and follow_at < end:
                    rows.append(
                        {
                            "platform": platform,
                            "external_id": next_id(),
                            "kind": "direct_message" if is_dm else "reply",
                            "direction": "inbound",
                            "author": {
                                "handle": person.handle,
                                "name": person.name,
                                "followers": person.followers,
                            },
                            "text": f"@{BRAND_HANDLE} " + rng.choice(content.FOLLOW_UPS[kind]),
                            "created_at": follow_at.isoformat(),
                            "in_reply_to": reply_id,
                        }
                    )
    rows.sort(key=lambda row: row["created_at"])
    return rows
