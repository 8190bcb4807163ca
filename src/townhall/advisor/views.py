"""The ownership audit in the web app: the report page and its JSON, for admins and executives."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from townhall.advisor.queries import access_org_audit
from townhall.advisor.render import render_report_fragment
from townhall.advisor.report import AuditOptionError, check_options, parse_goals, render_html
from townhall.advisor.sample import understand
from townhall.advisor.schemas import (
    DEFAULT_AGENCY_COST_PER_CONVERSATION,
    DEFAULT_IN_HOUSE_COST_PER_HOUR,
    GOALS,
    AuditOptions,
)
from townhall.core.errors import Forbidden, ValidationFailed
from townhall.deps import Principal, PrincipalDep, SessionDep, require_scope
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

NO_DATA = "No stored inbound conversations to audit yet: ingest or connect a channel first."
Goals = Annotated[list[str] | None, Query(max_length=len(GOALS))]
InHouseCost = Annotated[float, Query(ge=0, le=1_000_000)]
AgencyCost = Annotated[float, Query(ge=0, le=1_000_000)]
# A string so the page's form may leave it empty ("all stored conversations").
Days = Annotated[str, Query(max_length=4, pattern=r"^\d*$")]
ReadPrincipal = Annotated[Principal, require_scope("read")]


def _days(text: str) -> int | None:
    if not text:
        return None
    if int(text) < 1:
        raise ValidationFailed("days", "must be 1 or more (or empty for all)")
    return int(text)


def _options(goals: list[str] | None, in_house: float, agency: float) -> AuditOptions:
    try:
        options = AuditOptions(
            goals=parse_goals(goals) if goals else GOALS,
            in_house_cost_per_hour=in_house,
            agency_cost_per_conversation=agency,
        )
        check_options(options)
    except AuditOptionError as error:
        raise ValidationFailed(error.field, error.reason) from error
    return options


@router.get("/advisor/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    goal: Goals = None,
    in_house_cost_per_hour: InHouseCost = DEFAULT_IN_HOUSE_COST_PER_HOUR,
    agency_cost_per_conversation: AgencyCost = DEFAULT_AGENCY_COST_PER_CONVERSATION,
    days: Days = "",
) -> Response:
    options = _options(goal, in_house_cost_per_hour, agency_cost_per_conversation)
    report = access_org_audit(session, principal.user, options, understand, days=_days(days))
    return templates.TemplateResponse(
        request,
        "advisor/audit_page.html",
        {
            "user": principal.user,
            "csrf_token": principal.csrf_token,
            "report": report,
            "fragment": render_report_fragment(report) if report else None,
            "options": options,
            "all_goals": GOALS,
            "days": _days(days),
            "query": str(request.url.query),
            "no_data": NO_DATA,
        },
    )


@router.get("/advisor/audit.json")
def audit_json(
    session: SessionDep,
    principal: ReadPrincipal,
    goal: Goals = None,
    in_house_cost_per_hour: InHouseCost = DEFAULT_IN_HOUSE_COST_PER_HOUR,
    agency_cost_per_conversation: AgencyCost = DEFAULT_AGENCY_COST_PER_CONVERSATION,
    days: Days = "",
) -> Response:
    """Every figure the page shows, as JSON (API tokens need the ``read`` scope)."""
    try:
        options = _options(goal, in_house_cost_per_hour, agency_cost_per_conversation)
        report = access_org_audit(session, principal.user, options, understand, days=_days(days))
    except Forbidden as error:
        return JSONResponse({"detail": str(error)}, status_code=403)
    except ValidationFailed as error:
        return JSONResponse({"detail": [{"loc": [error.field], "msg": error.reason}]}, 422)
    if report is None:
        return JSONResponse({"detail": NO_DATA}, status_code=404)
    return Response(report.to_json(indent=None), media_type="application/json")


@router.get("/advisor/audit/report.html")
def audit_download(
    session: SessionDep,
    principal: PrincipalDep,
    goal: Goals = None,
    in_house_cost_per_hour: InHouseCost = DEFAULT_IN_HOUSE_COST_PER_HOUR,
    agency_cost_per_conversation: AgencyCost = DEFAULT_AGENCY_COST_PER_CONVERSATION,
    days: Days = "",
) -> Response:
    """The report as one self-contained file to mail or print."""
    options = _options(goal, in_house_cost_per_hour, agency_cost_per_conversation)
    report = access_org_audit(session, principal.user, options, understand, days=_days(days))
    if report is None:
        return HTMLResponse(NO_DATA, status_code=404)
    return HTMLResponse(
        render_html(report),
        headers={"Content-Disposition": 'attachment; filename="ownership-audit.html"'},
    )
