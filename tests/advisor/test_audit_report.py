"""The ownership audit: mix, arrivals, staffing, the recommended model and the HTML page."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from advisor.samples import START, numbers_not_in_json, sample
from townhall.advisor.report import build_report, render_html
from townhall.advisor.schemas import AuditItem, AuditReport
from townhall.routing.policy import load_policy

GOALS = ["leads", "support_cost", "perception"]
ROUTINE = {"feedback_praise": 40, "campaign_reply": 20, "spam": 10}


def build(items: list[AuditItem], **kwargs: Any) -> AuditReport:
    return build_report(items, GOALS, 35.0, 4.0, organisation="Acme", **kwargs)


def kind(report: AuditReport, intent: str) -> Any:
    return next(k for k in report.staffing.kinds if k.intent == intent)


def queue(report: AuditReport, intent: str) -> Any:
    return next(q for q in report.model.queues if q.queue == intent)


@pytest.fixture(scope="module")
def support_heavy() -> AuditReport:
    mix = {"support_request": 500, "complaint": 60, "sales_lead": 20, "press_inquiry": 2}
    return build(sample({**mix, **ROUTINE}))


def test_support_heavy_mix_is_led_by_customer_service_with_agency_for_routine(
    support_heavy: AuditReport,
) -> None:
    model = support_heavy.model

    assert model.lead.subject == "Customer Service"
    assert model.lead.figures["workload_share"] > 0.5
    agency = {d.subject for d in model.agency_takes}
    assert "support_request" in agency
    support = next(d for d in model.agency_takes if d.subject == "support_request")
    assert support.figures["agency_cost_per_week"] < support.figures["in_house_cost_per_week"]
    # Complaints are customer-experience leadership: never to the agency.
    assert "complaint" not in agency
    assert "complaint" in {d.subject for d in model.stays_in_house}
    assert queue(support_heavy, "support_request").handler == "agency"
    assert support_heavy.staffing.recommended_cost_per_week < (
        support_heavy.staffing.all_in_house_cost_per_week
    )


def test_lead_heavy_mix_is_led_by_sales() -> None:
    report = build(sample({"sales_lead": 300, "support_request": 60, **ROUTINE}))

    assert report.model.lead.subject == "Sales"
    assert "Customer Service" in {d.subject for d in report.model.contributors}
    assert queue(report, "sales_lead").handler == "in_house"
    leads = next(k for k in report.model.kpis if k.goal == "leads")
    assert leads.baseline == pytest.approx(300)


def test_many_press_inquiries_bring_pr_in_with_a_short_sla() -> None:
    report = build(sample({"support_request": 200, "press_inquiry": 40, **ROUTINE}))

    pr = next(d for d in report.model.contributors if d.subject == "PR")
    assert "journalists" in pr.reason
    press = queue(report, "press_inquiry")
    assert press.owner == "PR"
    assert press.handler == "in_house"
    assert press.first_response_minutes <= 30
    assert press.first_response_minutes < queue(report, "support_request").first_response_minutes
    assert kind(report, "press_inquiry").peak_agents >= 1


def test_risk_items_get_risk_queues_that_are_never_outsourced() -> None:
    items = sample(
        {"support_request": 300, "threat": 3, "impersonation_phishing": 4, **ROUTINE},
        flags={"threat": ("threat",)},
    )
    # A routine-looking question that carries a phishing flag still belongs to Risk.
    flagged = AuditItem(
        platform="mastodon",
        created_at=START + timedelta(hours=11),
        thread_id="flagged",
        intent="support_request",
        sentiment="neutral",
        language="en",
        risk_flags=("impersonation_phishing",),
        text="Is @acme_help_desk really you? They asked for my card.",
    )
    report = build([*items, flagged])

    risk = next(d for d in report.model.contributors if d.subject == "Risk")
    assert risk.figures["flagged_conversations"] >= 1
    agency = {d.subject for d in report.model.agency_takes}
    for intent in ("threat", "impersonation_phishing"):
        assert intent not in agency
        assert queue(report, intent).handler == "in_house"
        assert queue(report, intent).restricted
        assert queue(report, intent).owner == "Risk"
    assert queue(report, "threat").first_response_minutes == 15
    phishing = next(k for k in report.mix.overall if k.intent == "impersonation_phishing")
    assert phishing.count == 4 * 4 + 1
    assert report.mix.risk_flagged_conversations == 3 * 4 + 1


def test_arrivals_average_per_hour_of_week_over_the_sample_weeks() -> None:
    items = []
    for week in range(4):
        for n in range(2 if week % 2 else 4):  # 4, 2, 4, 2 on Mondays 10:00 → 3 on average
            items.append(
                AuditItem(
                    "bluesky",
                    START + timedelta(weeks=week, hours=10, minutes=n),
                    f"w{week}n{n}",
                    "support_request",
                    "neutral",
                    "en",
                )
            )
    period = (START, START + timedelta(weeks=4))
    report = build(items, period=period)

    assert report.arrivals.days_in_sample == 28
    assert report.arrivals.days_observed_per_weekday == [4] * 7
    assert report.arrivals.matrix[0][10] == pytest.approx(3.0)
    assert sum(map(sum, report.arrivals.matrix)) == pytest.approx(3.0)
    assert report.arrivals.peaks[0].day == "Mon"
    assert report.arrivals.peaks[0].hour == 10
    support = kind(report, "support_request")
    assert support.conversations_per_week == pytest.approx(3.0)
    assert support.agents_by_hour[0][10] >= 1
    assert support.staffed_hours_per_week == support.agents_by_hour[0][10]
    assert support.in_house_cost_per_week == pytest.approx(35.0 * support.paid_hours_per_week)
    assert support.agency_cost_per_week == pytest.approx(4.0 * 3.0)


def test_arrivals_follow_the_organisation_timezone() -> None:
    item = AuditItem("x", datetime(2024, 3, 4, 23, 30, tzinfo=UTC), "t", "other", "neutral", "en")
    report = build([item], timezone="Europe/Berlin")

    assert report.arrivals.matrix[1][0] == pytest.approx(1.0)  # Tuesday 00:30 in Berlin


def test_overrides_change_staffing(support_heavy: AuditReport) -> None:
    items = sample({"support_request": 500, "complaint": 60, **ROUTINE})
    slow = build(
        items, handle_minutes={"support_request": 30}, first_response_minutes={"complaint": 5}
    )

    assert kind(slow, "support_request").workload_hours_per_week == pytest.approx(250.0)
    assert (
        kind(slow, "support_request").peak_agents
        > kind(support_heavy, "support_request").peak_agents
    )
    assert queue(slow, "complaint").first_response_minutes == 5
    assert slow.assumptions.handle_minutes["support_request"] == 30


def test_kpis_carry_their_figures(support_heavy: AuditReport) -> None:
    kpis = {k.goal: k for k in support_heavy.model.kpis}

    assert set(kpis) == set(GOALS)
    support = kpis["support_cost"]
    assert support.baseline == pytest.approx(560)
    assert support.figures["phone_hours_saved_per_week"] == pytest.approx(560 * 10 / 60, abs=0.01)
    perception = kpis["perception"]
    assert perception.figures["weeks"] == 4
    assert 0 < float(perception.figures["negative_share"]) < 1


def test_perception_trend_getting_worse_asks_to_turn_it_around() -> None:
    items = []
    for week in range(4):
        for n in range(10):
            negative = n < 2 + 2 * week  # 20%, 40%, 60%, 80%
            items.append(
                AuditItem(
                    "x",
                    START + timedelta(weeks=week, hours=9 + n),
                    f"{week}-{n}",
                    "complaint" if negative else "feedback_praise",
                    "negative" if negative else "positive",
                    "en",
                )
            )
    report = build_report(items, ["perception"], 30.0, 3.0)
    kpi = report.model.kpis[0]

    assert kpi.figures["weekly_trend_points"] == pytest.approx(20.0)
    assert kpi.figures["week_4_negative_share"] == pytest.approx(0.8)
    assert "Turn the trend around" in kpi.target


def test_mix_per_platform_and_examples(support_heavy: AuditReport) -> None:
    mix = support_heavy.mix
    assert {p.platform for p in mix.platforms} == {"mastodon", "bluesky"}
    assert sum(p.conversations for p in mix.platforms) == mix.conversations
    for platform in mix.platforms:
        assert sum(k.share for k in platform.by_intent) == pytest.approx(1.0, abs=1e-3)
    assert sum(s.share for s in mix.sentiment) == pytest.approx(1.0, abs=1e-3)
    assert {s.label for s in mix.languages} == {"en", "de"}
    examples = {group.intent: group.examples for group in mix.examples}
    assert 1 <= len(examples["support_request"]) <= 3
    # Spam is filtered, not answered: it shows in the mix but needs no staff.
    assert "spam" in {k.intent for k in mix.overall}
    assert "spam" not in {k.intent for k in support_heavy.staffing.kinds}


def test_report_round_trips_through_json(support_heavy: AuditReport) -> None:
    text = support_heavy.to_json()

    assert AuditReport.model_validate_json(text) == support_heavy
    assert json.loads(text)["model"]["lead"]["subject"] == "Customer Service"


def test_policy_draft_follows_the_recommendation(support_heavy: AuditReport) -> None:
    policy = load_policy(support_heavy.policy_yaml)

    assert policy.kinds["support_request"].agency_allowed
    assert policy.default_queue("support_request").is_agency
    assert not policy.kinds["complaint"].agency_allowed
    assert not policy.default_queue("press_inquiry").is_agency
    assert policy.kinds["press_inquiry"].sla.first_response_minutes == 30
    assert "Lead department: Customer Service" in support_heavy.policy_yaml
    assert "validator" in support_heavy.policy_source


def test_policy_draft_keeps_support_in_house_when_the_agency_is_dearer() -> None:
    items = sample(
        {"support_request": 40, "complaint": 10, "feedback_praise": 30, "campaign_reply": 30}
    )
    report = build_report(items, GOALS, 20.0, 500.0, first_response_minutes={"support_request": 45})

    assert report.model.agency_takes == []
    policy = load_policy(report.policy_yaml)
    assert not policy.kinds["support_request"].agency_allowed
    assert not policy.default_queue("support_request").is_agency
    assert policy.default_queue("support_request").team == "Customer Service"
    assert policy.kinds["support_request"].sla.first_response_minutes == 45
    # Kinds the sample never showed keep the shipped setting.
    assert policy.kinds["other"].agency_allowed


def test_policy_draft_sends_a_whole_department_queue_to_the_agency() -> None:
    items = sample({"support_request": 50, "feedback_praise": 300, "campaign_reply": 300})
    report = build(items)

    assert {"feedback_praise", "campaign_reply"} <= {d.subject for d in report.model.agency_takes}
    policy = load_policy(report.policy_yaml)
    assert policy.kinds["feedback_praise"].agency_allowed
    assert policy.kinds["campaign_reply"].agency_allowed
    # Marketing keeps an in-house queue for what a rule keeps in-house; a rule routes the rest.
    assert any(q.team == "Marketing" and not q.is_agency for q in policy.queues)
    routed = {rule.when.kinds for rule in policy.rules if rule.then.queue}
    assert any(kinds for kinds in routed)


def test_invalid_inputs_are_refused() -> None:
    good = sample({"support_request": 5}, weeks=1)
    with pytest.raises(ValueError, match="no conversations"):
        build([])
    with pytest.raises(ValueError, match="goals"):
        build_report(good, ["fame"], 30.0, 3.0)
    naive = AuditItem("x", datetime(2024, 1, 1, 9), "t", "other", "neutral", "en")
    with pytest.raises(ValueError, match="timezone"):
        build([naive])
    with pytest.raises(ValueError, match="kind"):
        build([AuditItem("x", START, "t", "gossip", "neutral", "en")])
    with pytest.raises(ValueError, match="in_house_cost_per_hour"):
        build_report(good, GOALS, -1.0, 3.0)
    with pytest.raises(ValueError, match="target_percent"):
        build(good, target_percent=100)


# --- the HTML page ---------------------------------------------------------------------------


def test_html_has_the_sections_and_no_scripts_or_network(support_heavy: AuditReport) -> None:
    html = render_html(support_heavy)

    for section in ("mix", "arrivals", "staffing", "model", "policy"):
        assert f'<section id="{section}">' in html
    assert "<script" not in html.lower()
    assert "@media print" in html
    assert "<svg" in html
    links = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    assert links == []
    assert "url(" not in html


def test_every_number_in_the_html_is_in_the_json(support_heavy: AuditReport) -> None:
    html = render_html(support_heavy)
    missing = numbers_not_in_json(html, json.loads(support_heavy.to_json()))
    assert missing == []


def test_key_figures_appear_in_html_and_json(support_heavy: AuditReport) -> None:
    html = render_html(support_heavy)
    data = json.loads(support_heavy.to_json())
    staffing = data["staffing"]

    assert f"{staffing['recommended_cost_per_week']:,.2f}" in html
    assert f"{staffing['all_in_house_cost_per_week']:,.2f}" in html
    assert f"{data['model']['lead']['figures']['workload_share'] * 100:.1f}%" in html
    support = next(k for k in staffing["kinds"] if k["intent"] == "support_request")
    assert f"{support['agency_cost_per_week']:,.2f}" in html
    assert f"{support['conversations_per_week']:,.2f}" in html
    assert data["model"]["lead"]["subject"] in html
