"""/metrics: the database's shared truth at scrape time, per-process counters, optional token;
and the JSON log format."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from factories import item, make_channel, make_org, store
from townhall.channels.models import InboundEvent
from townhall.config import get_settings
from townhall.core.time import utcnow
from townhall.web import create_app


def scrape(
    client: TestClient, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_report_the_backlog_lag_and_dead_letters_from_the_database(
    sessions: sessionmaker[Session],
) -> None:
    org = make_org(sessions)
    channel = make_channel(sessions, org.id)
    with sessions() as session, session.begin():
        for number in range(3):
            channel.deliver(session, str(number), "{}")
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.external_id == "0")
            .values(received_at=utcnow() - timedelta(minutes=5))
        )
        session.execute(
            update(InboundEvent).where(InboundEvent.external_id == "2").values(status="failed")
        )
    store(sessions, org.id, item("1"), item("2", reply_to="1"))
    values = scrape(TestClient(create_app()))
    assert values[("townhall_database_up", ())] == 1
    assert values[("townhall_inbound_events", (("status", "pending"),))] == 2
    assert values[("townhall_inbound_events", (("status", "failed"),))] == 1
    assert values[("townhall_dead_letters", (("kind", "inbound_event"),))] == 1
    assert values[("townhall_messages_pending_understanding", ())] == 2
    assert values[("townhall_conversations_unrouted", ())] == 1
    assert 299 < values[("townhall_pipeline_lag_seconds", (("stage", "ingest"),))] < 400
    assert values[("townhall_outbox_items", (("status", "pending"),))] == 0
    assert ("townhall_webhook_deliveries_total", (("result", "bad_signature"),)) in values


def test_metrics_can_require_a_token(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import SecretStr

    monkeypatch.setattr(get_settings(), "metrics_token", SecretStr("let-me-in"))
    client = TestClient(create_app())
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, Authorization="Bearer let-me-in")[("townhall_database_up", ())] == 1


def test_metrics_answer_when_the_database_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from townhall import db

    def broken() -> None:
        raise OSError("database unreachable")

    monkeypatch.setattr(db, "session_factory", broken)
    values = scrape(TestClient(create_app()))
    assert values[("townhall_database_up", ())] == 0
    assert ("townhall_inbound_events", (("status", "pending"),)) not in values


def test_json_logs_carry_time_level_logger_message_and_extra_fields() -> None:
    from townhall.logs import JsonFormatter

    record = logging.LogRecord(
        "townhall.jobs", logging.WARNING, __file__, 1, "sweep %s", ("did work",), None
    )
    record.work = {"pipeline": 3}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "warning" and entry["logger"] == "townhall.jobs"
    assert entry["message"] == "sweep did work" and entry["work"] == {"pipeline": 3}
    assert entry["time"].endswith("+00:00")
