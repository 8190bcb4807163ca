"""Render an ownership-audit report as one self-contained HTML page (inline CSS and SVG)."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from townhall.advisor import charts
from townhall.advisor.schemas import AuditReport

TEMPLATE = "advisor/audit_report.html"
FRAGMENT = "advisor/_report_fragment.html"


def pct(share: float | None) -> str:
    """A share in [0, 1] as a percentage with one decimal."""
    return "—" if share is None else f"{share * 100:.1f}%"


def num(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def qty(value: float | int | None) -> str:
    """A quantity without needless decimals: 20, 0.5, 1,440."""
    if value is None:
        return "—"
    text = f"{value:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def figure(key: str, value: float | int | str) -> str:
    """Format one supporting figure by what its name says it is."""
    if isinstance(value, str):
        return value
    if "share" in key:
        return pct(value)
    return num(value)


def label(key: str) -> str:
    return key.replace("_", " ")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("townhall", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=pct, num=num, qty=qty, figure=figure, label=label)
    return env


def _charts(report: AuditReport) -> dict[str, Markup]:
    mix = report.mix
    rows = [("All", [(k.intent, k.count, k.share) for k in mix.overall])]
    rows += [
        (p.platform, [(k.intent, k.count, k.share) for k in p.by_intent]) for p in mix.platforms
    ]
    sentiment_rows = [("All", [(s.label, s.count, s.share) for s in mix.sentiment])]
    sentiment_rows += [
        (p.platform, [(s.label, s.count, s.share) for s in p.sentiment]) for p in mix.platforms
    ]
    costs = [
        (k.intent, k.in_house_cost_per_week, k.agency_cost_per_week)
        for k in report.staffing.kinds
        if k.conversations_per_week > 0
    ]
    # The chart strings are built from escaped text only, so they are safe to mark up.
    return {
        "mix": Markup(
            charts.stacked_shares(rows, charts.INTENT_COLOURS, "Conversation mix per platform")
        ),
        "sentiment": Markup(
            charts.stacked_shares(
                sentiment_rows, charts.SENTIMENT_COLOURS, "Sentiment per platform"
            )
        ),
        "arrivals": Markup(
            charts.heatmap(report.arrivals.matrix, "Average arrivals by hour of the week")
        ),
        "agents": Markup(
            charts.week_bars(report.staffing.agents_by_hour_total, "Agents needed by hour of week")
        ),
        "costs": Markup(
            charts.paired_bars(
                costs, "Weekly cost in-house and by the agency", report.staffing.currency
            )
        ),
    }


def _render(template_name: str, report: AuditReport) -> str:
    return (
        _environment()
        .get_template(template_name)
        .render(
            report=report,
            charts=_charts(report),
            intent_colours=charts.INTENT_COLOURS,
            sentiment_colours=charts.SENTIMENT_COLOURS,
        )
    )


def render_report_html(report: AuditReport) -> str:
    """The whole report as one HTML document."""
    return _render(TEMPLATE, report)


def render_report_fragment(report: AuditReport) -> Markup:
    """The report's styles and content, to embed in a page of the web app."""
    # Rendered with autoescape on, from the report's data only, so it is safe markup.
    return Markup(_render(FRAGMENT, report))
