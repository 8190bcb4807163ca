"""Admin pages for the ownership policy: the active version, its history, edit and apply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from townhall.core.errors import Forbidden
from townhall.deps import CsrfPrincipal, Principal, PrincipalDep, SessionDep
from townhall.governance.models import Role, User
from townhall.routing.actions import do_apply_policy
from townhall.routing.policy import (
    PolicyError,
    PolicyIssue,
    default_policy_text,
    diff_policies,
    load_policy,
    validate_policy_text,
)
from townhall.routing.queries import active_policy, policy_versions
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
