"""The audit report rendered in headless Chromium: every section is there, on screen and in print."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from advisor.samples import mark_understood, sample
from browser.conftest import SCREENSHOTS, screenshot, sign_in
from factories import PASSWORD, item, make_org, store
from townhall.advisor.report import build_report, render_html

pytestmark = pytest.mark.browser

SECTIONS = {
    "summary": "Summary",
    "mix": "What the audience uses each channel for",
    "arrivals": "When conversations arrive",
    "staffing": "Staff each queue needs",
    "model": "Recommended operating model",
    "policy": "Ownership policy draft",
}


def check_sections(page: Page, name: str) -> None:
    """Each section is visible with its heading and content; screenshots of each go to disk."""
    for section, heading in SECTIONS.items():
        locator = page.locator(f"section#{section}")
        expect(locator).to_be_visible()
        expect(locator.locator("h2")).to_have_text(heading)
        box = locator.bounding_box()
        assert box is not None and box["height"] > 60, section
        path = SCREENSHOTS / f"{name}-{section}.png"
        locator.screenshot(path=str(path))
        assert path.stat().st_size > 2_000, f"{path.name} is blank"
    # Charts are inline SVG and drawn: the heatmap has its 168 cells.
    assert page.locator("section#arrivals svg rect").count() >= 168
    assert page.locator("section#mix svg").count() >= 2


def test_standalone_report_shows_every_section(page: Page, tmp_path: Path) -> None:
    weekly = {"support_request": 300, "complaint": 60, "sales_lead": 30, "press_inquiry": 6}
    weekly |= {"threat": 1, "feedback_praise": 40, "spam": 5}
    report = build_report(
        sample(weekly, flags={"threat": ("threat",)}),
        ["leads", "support_cost", "perception"],
        35.0,
        4.0,
        organisation="Acme Air",
    )
    file = tmp_path / "report.html"
    file.write_text(render_html(report), encoding="utf-8")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(file.as_uri())

    expect(page.locator("h1")).to_have_text(report.title)
    screenshot(page, "audit-report")
    check_sections(page, "audit-report")
    assert requests == [file.as_uri()], "the report must not load anything"
    page.emulate_media(media="print")
    screenshot(page, "audit-report-print")
    for section in SECTIONS:
        expect(page.locator(f"section#{section}")).to_be_visible()


def test_web_page_shows_every_section_to_an_admin(
    page: Page, live_server: str, sessions: sessionmaker[Session], database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("browser flows run once, on the embedded default")
    org = make_org(sessions)
    texts = [
        "I lost my password, how do I reset it?",
        "My bag never arrived and nobody answers. Terrible.",
        "We want to buy 300 seats for our company, who can send a quote?",
    ]
    rows = [item(f"m{n}", handle=f"u{n}", minute=n, text=texts[n % 3]) for n in range(30)]
    store(sessions, org.id, *rows)
    mark_understood(sessions, {texts[1]: "complaint", texts[2]: "sales_lead"})

    sign_in(page, live_server, "admin@demo.example", PASSWORD)
    page.get_by_role("link", name="Audit").click()

    expect(page).to_have_url(f"{live_server}/advisor/audit")
    screenshot(page, "audit-web")
    check_sections(page, "audit-web")
    page.get_by_label("Agency cost per conversation").fill("0.5")
    page.get_by_role("button", name="Recompute").click()
    expect(page).to_have_url(
        f"{live_server}/advisor/audit?goal=leads&goal=support_cost&goal=perception&in_house_cost_per_hour=35.0&agency_cost_per_conversation=0.5&days="
    )
    expect(page.locator("section#staffing")).to_contain_text("0.50 per conversation")
