"""Fixtures for the understanding tests: no network, and the shared data when it is there."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared public data folder; tests that need it skip on a plain clone."""
    if not (SHARED_DATA / "tweeteval").is_dir():
        pytest.skip("shared/data is not present (plain clone)")
    return SHARED_DATA
