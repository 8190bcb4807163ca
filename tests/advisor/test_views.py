"""``/advisor/audit``: the report for admins and executives only, built from stored conversations."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from advisor.samples import mark_understood, numbers_not_in_json
from factories import Org, item, make_org, store
from web.conftest import login

LABELS = {
    "I lost my password, how do I reset it?": "support_request",
    "My bag never arrived and nobody answers. Terrible.": "complaint",
    "We want to buy 300 seats for our company, who can send a quote?": "sales_lead",
    "posting the salary list": "employee_conduct",
}
TEXTS = list(LABELS)[:3]


@pytest.fixture
def org(sessions: sessionmaker[Session]) -> Org:
    org = make_org(sessions)
    rows = [item(f"m{n}", handle=f"u{n}", minute=n, text=TEXTS[n % len(TEXTS)]) for n in range(12)]
    rows.append(item("hr1", handle="insider", minute=40, text="posting the salary list"))
    store(sessions, org.id, *rows)
    mark_understood(sessions, LABELS)
    return org


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("admin", True), ("exec", True), ("cs", False), ("hr", False), ("agency", False)],
)
def test_only_admins_and_executives_see_the_audit(
    client: TestClient, org: Org, who: str, allowed: bool
) -> None:
    login(client, f"{who}@demo.example")

    page = client.get("/advisor/audit")
    data = client.get("/advisor/audit.json")
    download = client.get("/advisor/audit/report.html")

    if not allowed:
        assert (page.status_code, data.status_code, download.status_code) == (403, 403, 403)
        assert "ownership audit" in data.json()["detail"]
        assert 'href="/advisor/audit"' not in client.get("/inbox").text
        return
    assert page.status_code == data.status_code == download.status_code == 200
    assert 'href="/advisor/audit"' in client.get("/inbox").text
    for section in ("summary", "mix", "arrivals", "staffing", "model", "policy"):
        assert f'<section id="{section}">' in page.text
    report = data.json()
    assert report["mix"]["conversations"] == 13
    assert report["organisation"] == "Test Org"
    assert "attachment" in download.headers["content-disposition"]
    assert numbers_not_in_json(download.text, report) == []
    examples = {group["intent"] for group in report["mix"]["examples"]}
    # HR's restricted conversations are shown to admins only, never quoted to executives.
    assert ("employee_conduct" in examples) is (who == "admin")
    assert ("salary list" in page.text) is (who == "admin")


def test_anonymous_visitors_sign_in_first(client: TestClient, org: Org) -> None:
    response = client.get("/advisor/audit")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/advisor/audit"


def test_options_change_the_report_and_bad_ones_are_refused(client: TestClient, org: Org) -> None:
    login(client, "admin@demo.example")

    data = client.get(
        "/advisor/audit.json",
        params={"goal": ["leads"], "in_house_cost_per_hour": 50, "agency_cost_per_conversation": 2},
    ).json()

    assert data["goals"] == ["leads"]
    assert data["staffing"]["in_house_cost_per_hour"] == 50
    assert client.get("/advisor/audit.json", params={"goal": "fame"}).status_code == 422
    assert client.get("/advisor/audit", params={"in_house_cost_per_hour": -1}).status_code == 422


def test_the_cached_report_follows_new_messages(
    client: TestClient, org: Org, sessions: sessionmaker[Session]
) -> None:
    login(client, "exec@demo.example")
    assert client.get("/advisor/audit.json").json()["mix"]["messages"] == 13
    assert client.get("/advisor/audit.json").json()["mix"]["messages"] == 13  # cached

    store(sessions, org.id, item("late", handle="late", minute=50, text="Where is my refund?"))
    mark_understood(sessions, LABELS)

    assert client.get("/advisor/audit.json").json()["mix"]["messages"] == 14


def test_an_organisation_without_conversations_gets_a_clear_page(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    make_org(sessions)
    login(client, "admin@demo.example")

    page = client.get("/advisor/audit")
    data = client.get("/advisor/audit.json")

    assert page.status_code == 200 and "No stored inbound conversations" in page.text
    assert data.status_code == 404
    assert json.loads(data.text)["detail"].startswith("No stored inbound conversations")
