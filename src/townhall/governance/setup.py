"""Creating an organisation's structure: departments, the agency, teams and queues."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.core.taxonomy import DEPARTMENTS
from townhall.governance.actions import do_create_organisation
from townhall.governance.models import Agency, Department, Organisation, Team
from townhall.routing.models import Queue


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class QueueSpec:
    name: str
    department: str
    agency_allowed: bool = False
    restricted: bool = False


# Until an ownership policy is applied, these queues follow PRODUCT.md's defaults.
DEFAULT_QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("Routine support", "Customer Service", agency_allowed=True),
    QueueSpec("Customer care", "Customer Service"),
    QueueSpec("Engagement", "Marketing", agency_allowed=True),
    QueueSpec("Sales leads", "Sales"),
    QueueSpec("Press", "PR"),
    QueueSpec("Leadership", "Leadership"),
    QueueSpec("Risk", "Risk", restricted=True),
    QueueSpec("HR", "HR", restricted=True),
    QueueSpec("Triage", "Customer Service", agency_allowed=True),
)


def get_or_create_organisation(session: Session, slug: str, name: str) -> tuple[Organisation, bool]:
    org = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is not None:
        return org, False
    return do_create_organisation(session, slug=slug, name=name), True


def do_create_default_structure(
    session: Session, org: Organisation, *, agency_name: str | None = None
) -> None:
    """Departments from the taxonomy, one team each, the default queues, and an optional agency."""
    departments: dict[str, Department] = {}
    for name in DEPARTMENTS:
        department = Department(org_id=org.id, slug=slugify(name), name=name)
        session.add(department)
        departments[name] = department
    session.flush()
    for name, department in departments.items():
        session.add(
            Team(
                org_id=org.id, slug=slugify(name), name=f"{name} team", department_id=department.id
            )
        )
    if agency_name:
        agency = Agency(org_id=org.id, slug=slugify(agency_name), name=agency_name)
        session.add(agency)
        session.flush()
        session.add(
            Team(
                org_id=org.id,
                slug=f"agency-{agency.slug}",
                name=f"{agency_name} agents",
                agency_id=agency.id,
            )
        )
    for spec in DEFAULT_QUEUES:
        session.add(
            Queue(
                org_id=org.id,
                slug=slugify(spec.name),
                name=spec.name,
                department_id=departments[spec.department].id,
                agency_allowed=spec.agency_allowed,
                restricted=spec.restricted,
            )
        )
    session.flush()
