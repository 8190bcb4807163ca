"""The executive dashboards page (read-only; executives, admins and department leads)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from townhall.advisor import charts
from townhall.analytics.dashboards import Dashboard, build_dashboard, load_facts
from townhall.core.errors import Forbidden
from townhall.core.time import utcnow
from townhall.deps import PrincipalDep, SessionDep
from townhall.governance.models import Role, User
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

DASHBOARD_ROLES = frozenset({Role.ADMIN, Role.LEAD, Role.EXECUTIVE})
_SERIES_PALETTE = (
    "#2166ac",
    "#b2182b",
    "#1b7837",
    "#ef8a62",
    "#542788",
    "#fdb863",
    "#4393c3",
    "#7f3b08",
    "#a6dba0",
    "#c2a5cf",
    "#d6604d",
    "#878787",
)


def check_can_see_dashboards(user: User) -> None:
    if user.role not in DASHBOARD_ROLES or user.is_agency:
        raise Forbidden("the dashboards are for executives, administrators and department leads")


# Reading a period's rows takes about a second for 3,000 conversations on SQLite; the
# figures are reused for a minute per organisation and period (the page says how old they are).
CACHE_SECONDS = 60
_boards: dict[tuple[int, int], Dashboard] = {}
_boards_lock = threading.Lock()


def _cached_board(session: Session, org_id: int, days: int, bucket: int) -> Dashboard:
    now = utcnow()
    with _boards_lock:
        cached = _boards.get((org_id, days))
    if cached is not None and (now - cached.end).total_seconds() < CACHE_SECONDS:
        return cached
    start = now - timedelta(days=days)
    board = build_dashboard(
        *load_facts(session, org_id, start, now), start=start, end=now, bucket_days=bucket
    )
    with _boards_lock:
        _boards[(org_id, days)] = board
    return board


def forget_dashboards() -> None:
    with _boards_lock:
        _boards.clear()


def _colours(names: list[str]) -> dict[str, str]:
    return {name: _SERIES_PALETTE[i % len(_SERIES_PALETTE)] for i, name in enumerate(names)}


@router.get("/dashboards", response_class=HTMLResponse)
def dashboards(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    days: Annotated[int, Query(ge=7, le=366)] = 42,
) -> Response:
    user = principal.user
    check_can_see_dashboards(user)
    # Weeks for long periods, days for a fortnight or less.
    bucket = 1 if days <= 14 else 7
    board = _cached_board(session, user.org_id, days, bucket)
    departments = [name for name, _ in board.volume_by_department]
    department_colours = _colours(departments)
    kinds = [name for name, _ in board.volume_by_kind]
    kind_colours = {**_colours(kinds), **charts.INTENT_COLOURS}
    side_colours = {"in-house": "#2166ac", "agency": "#ef8a62", "automatic": "#1b7837"}
    total_sides = sum(r.conversations for r in board.sides) or 1
    total_replies = sum(r.replies for r in board.sides) or 1
    svg = {
        "departments": charts.stacked_columns(
            board.periods,
            board.volume_by_department,
            department_colours,
            "New conversations per period by owner department",
        ),
        "departments_legend": charts.legend(departments, department_colours),
        "kinds": charts.stacked_columns(
            board.periods,
            board.volume_by_kind,
            kind_colours,
            "New conversations per period by kind of conversation",
        ),
        "kinds_legend": charts.legend(
            [k.replace("_", " ") for k in kinds],
            {k.replace("_", " "): kind_colours[k] for k in kinds},
        ),
        "split": charts.stacked_shares(
            [
                (
                    "Conversations",
                    [
                        (r.name, r.conversations, r.conversations / total_sides)
                        for r in board.sides
                        if r.name != "automatic"
                    ],
                ),
                ("Replies", [(r.name, r.replies, r.replies / total_replies) for r in board.sides]),
            ],
            side_colours,
            "Share of conversations and replies: in-house, agency, automatic",
        ),
        "split_legend": charts.legend([r.name for r in board.sides], side_colours),
        "sla": charts.line_chart(
            board.periods,
            [("first response on time", board.sla_by_period)],
            {"first response on time": "#1b7837"},
            "First-response SLA attainment per period",
            unit="%",
            y_max=100,
        ),
        "sentiment": charts.line_chart(
            board.periods,
            board.sentiment_by_period,
            charts.SENTIMENT_COLOURS,
            "Share of inbound messages by sentiment per period",
            unit="%",
            y_max=100,
        ),
        "sentiment_legend": charts.legend(
            ["negative", "neutral", "positive"], charts.SENTIMENT_COLOURS
        ),
        "response": charts.line_chart(
            board.periods,
            board.response_by_period,
            {"median": "#2166ac", "90th percentile": "#b2182b"},
            "Minutes to first response per period",
            unit=" min",
        ),
        "response_legend": charts.legend(
            ["median", "90th percentile"], {"median": "#2166ac", "90th percentile": "#b2182b"}
        ),
    }
    return templates.TemplateResponse(
        request,
        "analytics/dashboards.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "board": board,
            "days": days,
            "bucket": "week" if bucket == 7 else "day",
            "svg": {k: Markup(v) for k, v in svg.items()},
        },
    )
