"""Advisor fixtures: a web client, and a report cache emptied around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from browser.conftest import browser, live_server, page  # noqa: F401  (browser fixtures)
from townhall.advisor.queries import report_cache
from townhall.web import create_app


@pytest.fixture(autouse=True)
def _empty_report_cache() -> Iterator[None]:
    report_cache.clear()
    yield
    report_cache.clear()


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(), follow_redirects=False)
