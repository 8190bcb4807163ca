"""Who else is viewing or replying to a conversation: an in-process registry and its SSE stream.

Heartbeats (POST) refresh an entry; entries expire after ``TTL`` seconds. This registry lives
in one process; with several web processes it must move to Redis (a later issue).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

TTL = 30.0
STATES = ("viewing", "replying")


@dataclass(frozen=True)
class Presence:
    user_id: int
    name: str
    state: str
    expires: float


class PresenceRegistry:
    def __init__(self, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._by_conversation: dict[int, dict[int, Presence]] = {}

    def beat(self, conversation_id: int, user_id: int, name: str, state: str) -> None:
        """Record a heartbeat; state "left" removes the user at once."""
        with self._lock:
            people = self._by_conversation.setdefault(conversation_id, {})
            if state not in STATES:
                people.pop(user_id, None)
                return
            people[user_id] = Presence(user_id, name, state, self._clock() + self._ttl)

    def clear(self) -> None:
        """Forget everyone (tests reuse conversation ids across databases)."""
        with self._lock:
            self._by_conversation.clear()

    def others(self, conversation_id: int, user_id: int) -> list[Presence]:
        now = self._clock()
        with self._lock:
            people = self._by_conversation.get(conversation_id, {})
            for uid in [uid for uid, p in people.items() if p.expires <= now]:
                del people[uid]
            return sorted((p for uid, p in people.items() if uid != user_id), key=lambda p: p.name)


registry = PresenceRegistry()


def describe(others: list[Presence]) -> str:
    return json.dumps([{"name": p.name, "state": p.state} for p in others])


async def presence_events(
    presence: PresenceRegistry,
    conversation_id: int,
    user_id: int,
    is_disconnected: Callable[[], Awaitable[bool]],
    *,
    interval: float = 2.0,
    lifetime: float = 300.0,
) -> AsyncIterator[str]:
    """Server-sent events: the others' presence whenever it changes (and a keep-alive)."""
    yield "retry: 3000\n\n"
    last: str | None = None
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline and not await is_disconnected():
        current = describe(presence.others(conversation_id, user_id))
        if current != last:
            yield f"event: presence\ndata: {current}\n\n"
            last = current
        else:
            yield ": keep-alive\n\n"
        await asyncio.sleep(interval)
