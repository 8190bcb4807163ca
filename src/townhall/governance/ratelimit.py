"""Per-client-IP rate limiting of sign-in attempts: an in-process sliding window.

This complements the per-account lockout in ``do_login``: the lockout stops guessing one
account's password, the window stops one address from spraying guesses over many accounts.
Only *failed* attempts count, so an office behind one NAT address can still sign in at 9am;
while an address is over the limit every attempt is refused, right password or not, so the
answer never tells an attacker whether a guess was right.

The window lives in the web process (one per application instance). With several web
processes each keeps its own, so the effective limit is per process; the per-account lockout,
stored in the database, still holds across all of them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

LOGIN_MAX_FAILURES_PER_IP = 20
LOGIN_WINDOW_SECONDS = 5 * 60
# Bound memory under a flood from many addresses: beyond this many tracked addresses, the
# ones whose newest failure is oldest are forgotten first.
MAX_TRACKED_ADDRESSES = 50_000


class SlidingWindowLimiter:
    """At most ``limit`` events per key in any ``window`` seconds; thread-safe."""

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        max_keys: int = MAX_TRACKED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be at least 1 and window positive")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        # Keys in order of their newest event, so the stalest is evicted first in O(1).
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again; 0 if it is under the limit now."""
        with self._lock:
            now = self._clock()
            events = self._prune(key, now)
            if events is None or len(events) < self.limit:
                return 0
            # The oldest event that keeps the key at the limit has to leave the window.
            oldest_blocking = events[len(events) - self.limit]
            return max(1, math.ceil(oldest_blocking + self.window - now))

    def hit(self, key: str) -> None:
        """Count one event for ``key``."""
        with self._lock:
            now = self._clock()
            events = self._prune(key, now)
            if events is None:
                while len(self._events) >= self.max_keys:
                    self._events.popitem(last=False)
                events = self._events.setdefault(key, deque())
            else:
                self._events.move_to_end(key)
            events.append(now)
            # Only the newest ``limit`` events can matter for the decision.
            while len(events) > self.limit:
                events.popleft()

    def reset(self) -> None:
        with self._lock:
            self._events.clear()


def login_limiter(state: Any) -> SlidingWindowLimiter:
    """The sign-in limiter of one application (kept on ``app.state``), created on first use."""
    limiter = getattr(state, "login_limiter", None)
    if limiter is None:
        with _CREATE_LOCK:
            limiter = getattr(state, "login_limiter", None)
            if limiter is None:
                limiter = SlidingWindowLimiter(
                    limit=LOGIN_MAX_FAILURES_PER_IP, window=LOGIN_WINDOW_SECONDS
                )
                state.login_limiter = limiter
    return limiter


_CREATE_LOCK = threading.Lock()
