"""Loading the demo organisation: structure, users of every role, channel accounts and traffic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall.channels.models import ChannelAccount
from townhall.conversations.flows import ingest_rows
from townhall.conversations.readers import validate_row
from townhall.conversations.schemas import IngestSummary
from townhall.core.time import utcnow
from townhall.demo.generator import BRAND_HANDLE, PLATFORM_WEIGHTS, generate
from townhall.demo.history import play_history
from townhall.demo.knowledge import seed_knowledge_base
from townhall.governance.actions import do_create_user
from townhall.governance.models import Agency, Department, Organisation, Role, Team
from townhall.governance.setup import do_create_default_structure, get_or_create_organisation
from townhall.pipeline import process_pending
from townhall.routing.actions import ensure_policy

DEMO_SLUG = "demo"
DEMO_PASSWORD = "townhall-demo"  # development only: the demo refuses to load in production
ADMIN_EMAIL = "admin@skyward.example"

# (email, name, role, department, agency?, languages)
DEMO_USERS: tuple[tuple[str, str, Role, str | None, bool, str], ...] = (
    (ADMIN_EMAIL, "Alex Admin", Role.ADMIN, None, False, "en"),
    ("cs.lead@skyward.example", "Carla Lead", Role.LEAD, "Customer Service", False, "en,es"),
    ("cs.agent@skyward.example", "Sam Agent", Role.AGENT, "Customer Service", False, "en"),
    ("cs.agent2@skyward.example", "Lucia Agent", Role.AGENT, "Customer Service", False, "en,es,fr"),
    ("marketing@skyward.example", "Mia Marketing", Role.AGENT, "Marketing", False, "en"),
    ("sales@skyward.example", "Sid Sales", Role.AGENT, "Sales", False, "en,de"),
    ("pr@skyward.example", "Priya PR", Role.LEAD, "PR", False, "en"),
    ("risk@skyward.example", "Rita Risk", Role.AGENT, "Risk", False, "en"),
    ("hr@skyward.example", "Hank HR", Role.AGENT, "HR", False, "en"),
    ("legal@skyward.example", "Lena Legal", Role.REVIEWER, "Legal", False, "en"),
    ("ceo@skyward.example", "Erin Executive", Role.EXECUTIVE, "Leadership", False, "en"),
    ("agency1@brightdesk.example", "Ben Brightdesk", Role.AGENCY_AGENT, None, True, "en"),
    ("agency2@brightdesk.example", "Ana Brightdesk", Role.AGENCY_AGENT, None, True, "en,es"),
)


@dataclass(frozen=True)
class DemoResult:
    created: bool
    summary: IngestSummary
    admin_email: str = ADMIN_EMAIL
    admin_password: str = DEMO_PASSWORD


def _create_structure(session: Session, org: Organisation) -> None:
    do_create_default_structure(session, org, agency_name="BrightDesk")
    departments = {
        d.name: d for d in session.scalars(select(Department).where(Department.org_id == org.id))
    }
    teams = {t.department_id: t for t in session.scalars(select(Team).where(Team.org_id == org.id))}
    agency = session.scalars(select(Agency).where(Agency.org_id == org.id)).one()
    agency_team = session.scalars(select(Team).where(Team.agency_id == agency.id)).one()
    admin = None
    for email, name, role, department_name, is_agency, languages in DEMO_USERS:
        department = departments[department_name] if department_name else None
        user = do_create_user(
            session,
            org_id=org.id,
            acting_user=admin,
            email=email,
            name=name,
            password=DEMO_PASSWORD,
            role=role,
            department_id=department.id if department else None,
            team_id=agency_team.id
            if is_agency
            else (teams[department.id].id if department else None),
            agency_id=agency.id if is_agency else None,
            languages=languages,
        )
        admin = admin or user
    for platform in PLATFORM_WEIGHTS:
        session.add(
            ChannelAccount(
                org_id=org.id, platform=platform, handle=BRAND_HANDLE, name="Skyward Airways"
            )
        )
    session.flush()


def load_demo(
    sessions: sessionmaker[Session],
    *,
    conversations: int = 3000,
    end: datetime | None = None,
    seed: int = 7,
    on_batch: Callable[[IngestSummary], None] | None = None,
) -> DemoResult:
    """Create the demo organisation and its traffic; a re-run only completes what is missing."""
    with sessions() as session, session.begin():
        org, created = get_or_create_organisation(session, DEMO_SLUG, "Skyward Airways")
        if created:
            _create_structure(session, org)
        # The shipped ownership policy, also for demo databases created before routing existed.
        ensure_policy(session, org.id)
        org_id = org.id
    now = end or utcnow()
    rows = generate(conversations=conversations, end=now, seed=seed)
    parsed = ((number, validate_row(number, row)) for number, row in enumerate(rows, start=1))
    result = ingest_rows(sessions, org_id, parsed, on_batch=on_batch)
    # Understand every message, then route each conversation by its kind.
    process_pending(sessions, org_id)
    # Who answered the imported replies, and what the team has resolved since.
    with sessions() as session, session.begin():
        play_history(session, org_id, seed=seed, now=now)
    # The knowledge base comes after the generated history: automatic answers are for what
    # arrives from now on, not weeks-old questions (whose first response would read "now").
    with sessions() as session, session.begin():
        seed_knowledge_base(session, org_id)
    return DemoResult(created=created, summary=result.summary)
