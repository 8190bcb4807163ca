"""Routing pages: the ownership policy (admins), routing metrics (leads, admins, executives),
and an agent's availability for automatic assignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from townhall.advisor.charts import stacked_shares
from townhall.core.errors import Forbidden, ValidationFailed
from townhall.core.time import utcnow
from townhall.deps import CsrfPrincipal, Principal, PrincipalDep, SessionDep
from townhall.governance.models import Role, User
from townhall.routing.actions import do_apply_policy
from townhall.routing.auto_assign import IN_HOUSE_WORKERS, do_set_availability
from townhall.routing.policy import (
    PolicyError,
    PolicyIssue,
    default_policy_text,
    diff_policies,
    load_policy,
    validate_policy_text,
)
from townhall.routing.queries import active_policy, policy_versions
from townhall.routing.reports import routing_report
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

# A policy is a few hundred lines; anything far larger is a mistake, not a policy.
MAX_POLICY_CHARS = 200_000
PolicyText = Annotated[str, Form(max_length=MAX_POLICY_CHARS)]


def _admin(principal: Principal) -> User:
    if principal.user.role != Role.ADMIN or principal.user.is_agency:
        raise Forbidden("only administrators may see or change the ownership policy")
    return principal.user


def _page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    text: str | None = None,
    issues: list[PolicyIssue] | None = None,
    changes: list[str] | None = None,
    shown: int | None = None,
    status: int = 200,
) -> Response:
    user = principal.user
    active = active_policy(session, user.org_id)
    versions = policy_versions(session, user.org_id)
    viewed = next((v for v in versions if v.number == shown), None) if shown else active
    return templates.TemplateResponse(
        request,
        "routing/policy.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "active": active,
            "viewed": viewed,
            "versions": versions,
            "text": text
            if text is not None
            else (active.text if active else default_policy_text()),
            "issues": issues or [],
            "changes": changes,
        },
        status_code=status,
    )


@router.get("/admin/policy", response_class=HTMLResponse)
def policy_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    _admin(principal)
    return _page(request, session, principal, shown=version)


@router.post("/admin/policy/validate", response_class=HTMLResponse)
def validate_policy(
    request: Request, session: SessionDep, principal: CsrfPrincipal, text: PolicyText = ""
) -> Response:
    """The issues of the edited text (an HTMX fragment), and what it would change."""
    user = _admin(principal)
    issues = validate_policy_text(text)
    changes = None
    active = active_policy(session, user.org_id)
    if not issues and active is not None:
        changes = [c.message for c in diff_policies(load_policy(active.text), load_policy(text))]
    return templates.TemplateResponse(
        request, "routing/_issues.html", {"issues": issues, "changes": changes}
    )


@router.post("/admin/policy", response_class=HTMLResponse)
def apply_policy(
    request: Request, session: SessionDep, principal: CsrfPrincipal, text: PolicyText = ""
) -> Response:
    user = _admin(principal)
    try:
        do_apply_policy(session, user.org_id, text, user)
    except PolicyError as error:
        return _page(request, session, principal, text=text, issues=error.issues, status=422)
    return RedirectResponse("/admin/policy", status_code=303)


# --------------------------------------------------------------------------- routing metrics

REPORT_VIEWERS = frozenset({Role.ADMIN, Role.LEAD, Role.EXECUTIVE})
SLA_COLOURS = {"met": "#1b7837", "breached": "#b2182b", "running": "#bababa"}


def _report_viewer(principal: Principal) -> User:
    user = principal.user
    if user.role not in REPORT_VIEWERS or user.is_agency:
        raise Forbidden("routing metrics are for leads, administrators and executives")
    return user


@router.get("/reports/routing", response_class=HTMLResponse)
def routing_report_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    until: Annotated[str, Query(max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = "",
) -> Response:
    """Routing metrics over ``days`` days ending at the start of ``until`` (default: now)."""
    user = _report_viewer(principal)
    now = utcnow()
    try:
        end = (
            datetime.strptime(until, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
            if until
            else now
        )
    except ValueError as error:
        raise ValidationFailed("until", f"{until!r} is not a date written YYYY-MM-DD") from error
    report = routing_report(session, user.org_id, end - timedelta(days=days), end, now)
    rows = []
    for entry in report.sla:
        for clock, met, breached, running in (
            ("first response", entry.first_met, entry.first_breached, entry.first_running),
            (
                "resolution",
                entry.resolution_met,
                entry.resolution_breached,
                entry.resolution_running,
            ),
        ):
            total = met + breached + running
            if total:
                rows.append(
                    (
                        f"{entry.queue} · {clock}",
                        [
                            ("met", met, met / total),
                            ("breached", breached, breached / total),
                            ("running", running, running / total),
                        ],
                    )
                )
    chart = (
        stacked_shares(rows, SLA_COLOURS, "SLA attainment per queue", left=260.0) if rows else ""
    )
    return templates.TemplateResponse(
        request,
        "routing/report.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "report": report,
            "days": days,
            "until": until,
            "chart": chart,
        },
    )


# --------------------------------------------------------------------------- availability


@router.post("/me/availability")
def set_availability(
    session: SessionDep,
    principal: CsrfPrincipal,
    availability: Annotated[Literal["on_shift", "away"], Form()],
) -> Response:
    """An agent goes on shift or away (automatic assignment only gives work to those on shift)."""
    user = principal.user
    if user.role not in {*IN_HOUSE_WORKERS, Role.AGENCY_AGENT}:
        raise Forbidden("only agents and leads are given work, so only they set availability")
    do_set_availability(session, user, availability)
    return RedirectResponse("/inbox", status_code=303)
