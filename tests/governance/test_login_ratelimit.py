"""Sign-in rate limiting per client address, on top of the per-account lockout."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from factories import PASSWORD, make_org
from townhall.governance.ratelimit import (
    LOGIN_MAX_FAILURES_PER_IP,
    LOGIN_WINDOW_SECONDS,
    SlidingWindowLimiter,
)
from townhall.web import create_app

from .conftest import csrf_from


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_blocks_at_the_limit_and_frees_as_events_age() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("a") == 0
        limiter.hit("a")
        clock.now += 10
    # Events at 1000, 1010, 1020; now 1030: the oldest leaves the window at 1060.
    assert limiter.retry_after("a") == 30
    assert limiter.retry_after("b") == 0  # per key
    clock.now = 1060
    assert limiter.retry_after("a") == 0  # a sliding window, not a fixed bucket
    limiter.hit("a")
    assert limiter.retry_after("a") == 10  # 1010 leaves at 1070


def test_sliding_window_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(limit=2, window=60, max_keys=10, clock=clock)
    for n in range(100):
        limiter.hit(f"10.0.0.{n}")
        clock.now += 0.01
    assert len(limiter._events) <= 10
    assert limiter.retry_after("10.0.0.99") == 0 and "10.0.0.99" in limiter._events


def test_sliding_window_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(limit=0, window=60)


def _attempt(client: TestClient, email: str, password: str) -> int:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    return response.status_code


def test_one_address_spraying_many_accounts_gets_429(
    engine: object, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    app = create_app()
    attacker = TestClient(app, follow_redirects=False, client=("203.0.113.9", 4000))
    # Different (unknown) accounts each time: the per-account lockout never triggers.
    for n in range(LOGIN_MAX_FAILURES_PER_IP):
        assert _attempt(attacker, f"guess{n}@demo.example", "wrong-password!") == 401
    token = csrf_from(attacker.get("/login").text)
    blocked = attacker.post(
        "/login", data={"email": "cs@demo.example", "password": PASSWORD, "csrf_token": token}
    )
    # Refused even with the right password, so the answer reveals nothing about guesses.
    assert blocked.status_code == 429
    assert "Too many failed sign-ins from your network" in blocked.text
    assert 0 < int(blocked.headers["Retry-After"]) <= LOGIN_WINDOW_SECONDS
    assert "townhall_session" not in blocked.headers.get("set-cookie", "")

    colleague = TestClient(app, follow_redirects=False, client=("198.51.100.7", 4000))
    assert _attempt(colleague, "cs@demo.example", PASSWORD) == 303


def test_successful_sign_ins_do_not_count(engine: object, sessions: sessionmaker[Session]) -> None:
    make_org(sessions)
    office = TestClient(create_app(), follow_redirects=False, client=("192.0.2.1", 4000))
    for _ in range(LOGIN_MAX_FAILURES_PER_IP + 5):
        assert _attempt(office, "admin@demo.example", PASSWORD) == 303
        office.cookies.clear()
