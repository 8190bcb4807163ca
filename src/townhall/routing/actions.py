"""Writes for routing: apply a policy version, route conversations, move them by hand.

Each action flushes and records its audit row; the caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from townhall.contacts.models import Contact
from townhall.conversations.models import Conversation, Message
from townhall.core.errors import Forbidden, NotFound, ValidationFailed
from townhall.core.time import ensure_aware, utcnow
from townhall.governance import audit
from townhall.governance.models import Agency, Department, Team, User
from townhall.governance.permissions import can_act
from townhall.governance.setup import slugify
from townhall.integrations import outgoing
from townhall.routing.auto_assign import assign_by_rules, auto_assign
from townhall.routing.escalation import escalate_routed
from townhall.routing.models import PolicyVersion, Queue, RoutingDecisionRecord
from townhall.routing.policy import Policy, default_policy_text, load_policy
from townhall.routing.queries import active_policy, compiled_policy
from townhall.routing.rules import CompiledPolicy, ContactFacts, MessageFacts, RoutingDecision
from townhall.routing.sla import due_at

ROUTE_BATCH_SIZE = 500


# --------------------------------------------------------------------------- policy versions


@dataclass(frozen=True)
class QueueSync:
    """What applying a policy did to the organisation's queues and departments."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    departments_created: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "queues_created": self.created,
            "queues_updated": self.updated,
            "queues_retired": self.retired,
            "departments_created": self.departments_created,
        }


def _free_slug(taken: set[str], name: str) -> str:
    base = slugify(name)[:60] or "unnamed"
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    taken.add(slug)
    return slug


def _sync_structure(session: Session, org_id: int, policy: Policy) -> QueueSync:
    """Make the queue rows match the policy's queues, matching existing ones by slug.

    Departments are matched by name and created when missing. A policy names its agency by
    role ("Contact Centre"); when the organisation has exactly one agency, that one is it.
    Queues the policy no longer has are retired, not deleted: decisions still point at them.
    """
    sync = QueueSync()
    departments = {
        d.name: d for d in session.scalars(select(Department).where(Department.org_id == org_id))
    }
    agencies = {a.name: a for a in session.scalars(select(Agency).where(Agency.org_id == org_id))}
    teams = list(session.scalars(select(Team).where(Team.org_id == org_id).order_by(Team.id)))
    team_slugs = {team.slug for team in teams}
    department_slugs = {d.slug for d in departments.values()}
    agency_slugs = {a.slug for a in agencies.values()}

    def department(name: str) -> Department:
        if name not in departments:
            created = Department(org_id=org_id, slug=_free_slug(department_slugs, name), name=name)
            session.add(created)
            session.flush()
            departments[name] = created
            sync.departments_created.append(name)
        return departments[name]

    def agency(name: str) -> Agency:
        if name in agencies:
            return agencies[name]
        if len(agencies) == 1:
            return next(iter(agencies.values()))
        created = Agency(org_id=org_id, slug=_free_slug(agency_slugs, name), name=name)
        session.add(created)
        session.flush()
        agencies[name] = created
        return created

    def team_of(*, department_id: int | None = None, agency_id: int | None = None) -> Team:
        for team in teams:
            if department_id is not None and team.department_id == department_id:
                return team
            if agency_id is not None and team.agency_id == agency_id:
                return team
        label = departments_by_id.get(department_id or 0) or agencies_by_id.get(agency_id or 0)
        team = Team(
            org_id=org_id,
            slug=_free_slug(team_slugs, f"{'agency-' if agency_id else ''}{label}"),
            name=f"{label} {'agents' if agency_id else 'team'}",
            department_id=department_id,
            agency_id=agency_id,
        )
        session.add(team)
        session.flush()
        teams.append(team)
        return team

    for name in policy.departments:
        department(name)
    departments_by_id = {d.id: d.name for d in departments.values()}
    agencies_by_id = {a.id: a.name for a in agencies.values()}

    existing = {q.slug: q for q in session.scalars(select(Queue).where(Queue.org_id == org_id))}
    wanted: set[str] = set()
    for spec in policy.queues:
        restricted = any(policy.kinds[kind].restricted for kind in spec.kinds)
        if spec.is_agency:
            agency_row = agency(spec.team)
            agencies_by_id[agency_row.id] = agency_row.name
            # The department answerable for what the agency does here: the first kind's owner.
            owner = next((policy.kinds[k].owner for k in spec.kinds if policy.kinds[k].owner), None)
            department_id = department(owner).id if owner else None
            team = team_of(agency_id=agency_row.id)
        else:
            department_id = department(spec.team).id
            departments_by_id[department_id] = spec.team
            team = team_of(department_id=department_id)
        slug = slugify(spec.name)[:64]
        wanted.add(slug)
        values = {
            "name": spec.name,
            "department_id": department_id,
            "team_id": team.id,
            "agency_allowed": spec.is_agency,
            "restricted": restricted,
            "retired_at": None,
        }
        queue = existing.get(slug)
        if queue is None:
            session.add(Queue(org_id=org_id, slug=slug, **values))
            sync.created.append(spec.name)
        elif any(getattr(queue, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(queue, key, value)
            sync.updated.append(spec.name)
    now = utcnow()
    for slug, queue in existing.items():
        if slug not in wanted and queue.retired_at is None:
            queue.retired_at = now
            sync.retired.append(queue.name)
    session.flush()
    return sync


def do_apply_policy(
    session: Session, org_id: int, text: str, acting_user: User | None
) -> PolicyVersion:
    """Validate and store a new active policy version and bring the queues in line with it.

    Raises :class:`townhall.routing.policy.PolicyError` (with line-precise issues) and stores
    nothing when the text is not a valid policy.
    """
    if acting_user is not None and acting_user.org_id != org_id:
        raise Forbidden("you may not change another organisation's policy")
    policy = load_policy(text)
    previous = active_policy(session, org_id)
    number = (
        session.scalar(select(func.max(PolicyVersion.number)).where(PolicyVersion.org_id == org_id))
        or 0
    ) + 1
    if previous is not None:
        previous.active = False
        # The partial unique index allows one active row; the old one must be off first.
        session.flush()
    version = PolicyVersion(
        org_id=org_id,
        number=number,
        name=policy.name,
        text=text,
        author_user_id=acting_user.id if acting_user else None,
        author_label=acting_user.email if acting_user else "system",
        created_at=utcnow(),
        active=True,
    )
    session.add(version)
    session.flush()
    sync = _sync_structure(session, org_id, policy)
    audit.record(
        session,
        org_id=org_id,
        actor=acting_user,
        action="policy.apply",
        object_type="policy_version",
        object_id=version.id,
        before={"number": previous.number, "name": previous.name} if previous else None,
        after={"number": number, "name": policy.name, **sync.as_dict()},
    )
    return version


def ensure_policy(session: Session, org_id: int) -> PolicyVersion:
    """The active policy; an organisation that never applied one gets the shipped default."""
    version = active_policy(session, org_id)
    if version is None:
        version = do_apply_policy(session, org_id, default_policy_text(), None)
    return version


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class ConversationFacts:
    """What routing knows about a conversation: the facts and the message they come from."""

    facts: MessageFacts
    message_id: int | None


def conversation_facts(
    session: Session, conversations: Sequence[Conversation]
) -> dict[int, ConversationFacts]:
    """Facts of each conversation's latest inbound message and its author, in two queries.

    A message not yet understood routes as "other" with neutral sentiment.
    """
    ids = [c.id for c in conversations]
    latest: dict[int, Message] = {}
    fallback: dict[int, Message] = {}
    if ids:
        for row in session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(ids))
            .order_by(Message.conversation_id, Message.created_at, Message.id)
        ):
            fallback[row.conversation_id] = row
            if row.direction == "inbound":
                latest[row.conversation_id] = row
    contact_ids = {c.contact_id for c in conversations if c.contact_id is not None}
    contacts = (
        {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))}
        if contact_ids
        else {}
    )
    found: dict[int, ConversationFacts] = {}
    for conversation in conversations:
        message = latest.get(conversation.id) or fallback.get(conversation.id)
        contact = contacts.get(conversation.contact_id or 0)
        contact_facts = (
            ContactFacts(
                vip=contact.is_vip,
                journalist=contact.is_journalist,
                employee=contact.is_employee,
                followers=contact.followers,
            )
            if contact is not None
            else ContactFacts()
        )
        if message is None:
            facts = MessageFacts(
                intent="other",
                platform=conversation.platform,
                text=conversation.subject,
                contact=contact_facts,
                received_at=ensure_aware(conversation.first_message_at),
            )
        else:
            facts = MessageFacts(
                intent=message.intent or "other",
                risk_flags=frozenset(message.risk_flags or ()),
                sentiment=message.sentiment or "neutral",
                sentiment_score=message.sentiment_score or 0.0,
                language=message.language,
                platform=conversation.platform,
                text=message.text,
                contact=contact_facts,
                received_at=ensure_aware(message.created_at),
            )
        found[conversation.id] = ConversationFacts(facts, message.id if message else None)
    return found


@dataclass
class _RoutingContext:
    version: PolicyVersion
    compiled: CompiledPolicy
    queues: dict[str, Queue]
    departments: dict[str, int]


def _routing_context(session: Session, org_id: int, *, resync: bool = True) -> _RoutingContext:
    version = ensure_policy(session, org_id)
    policy, compiled = compiled_policy(version)
    by_slug = {q.slug: q for q in session.scalars(select(Queue).where(Queue.org_id == org_id))}
    queues = {}
    for spec in policy.queues:
        queue = by_slug.get(slugify(spec.name)[:64])
        if queue is None or queue.retired_at is not None:
            if not resync:
                raise ValidationFailed("policy", f"queue {spec.name} could not be created")
            # Only possible if someone edited the queue table by hand after the apply.
            _sync_structure(session, org_id, policy)
            return _routing_context(session, org_id, resync=False)
        queues[spec.name] = queue
    departments = {
        d.name: d.id for d in session.scalars(select(Department).where(Department.org_id == org_id))
    }
    return _RoutingContext(version, compiled, queues, departments)


def _apply_decision(
    context: _RoutingContext,
    conversation: Conversation,
    decision: RoutingDecision,
    message_id: int | None,
    now: datetime,
) -> RoutingDecisionRecord:
    queue = context.queues[decision.queue]
    department_id = (
        context.departments.get(decision.owner_department) if decision.owner_department else None
    )
    conversation.queue_id = queue.id
    conversation.owner_department_id = department_id or queue.department_id
    conversation.restricted = decision.restricted
    # Restricted conversations never reach the agency, whatever the kind allows.
    conversation.agency_allowed = decision.agency_allowed and not decision.restricted
    conversation.priority = decision.priority
    # The customer's clock starts when they first wrote, in the handling team's business hours.
    start = ensure_aware(conversation.first_message_at)
    conversation.first_response_due_at = due_at(
        start, decision.sla.first_response_minutes, decision.business_hours
    )
    conversation.resolution_due_at = due_at(
        start, decision.sla.resolution_minutes, decision.business_hours
    )
    warn_share = context.compiled.policy.sla_warning_percent / 100
    conversation.first_response_warn_at = due_at(
        start, decision.sla.first_response_minutes * warn_share, decision.business_hours
    )
    conversation.resolution_warn_at = due_at(
        start, decision.sla.resolution_minutes * warn_share, decision.business_hours
    )
    return RoutingDecisionRecord(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        message_id=message_id,
        policy_version_id=context.version.id,
        queue_id=queue.id,
        owner_department_id=conversation.owner_department_id,
        kind=decision.kind,
        priority=decision.priority,
        agency_allowed=conversation.agency_allowed,
        restricted=conversation.restricted,
        matched_rules=list(decision.matched_rules),
        detail=decision.to_dict(),
        explanation=decision.explain(),
        by_user_id=None,
        created_at=now,
    )


def _route(
    session: Session, context: _RoutingContext, conversations: Sequence[Conversation]
) -> list[RoutingDecisionRecord]:
    facts = conversation_facts(session, conversations)
    now = utcnow()
    from townhall.inbox.tags import add_system_tags

    records = []
    escalated = []
    tags: dict[int, tuple[str, ...]] = {}
    for conversation in conversations:
        found = facts[conversation.id]
        decision = context.compiled.decide(found.facts)
        records.append(_apply_decision(context, conversation, decision, found.message_id, now))
        if decision.escalations:
            escalated.append((conversation, decision.escalations))
        if decision.tags:
            tags[conversation.id] = tuple(decision.tags)
    session.add_all(records)
    session.flush()
    # The rules' tags join the tags people add (earlier ones stay).
    add_system_tags(session, context.version.org_id, tags)
    outgoing.announce_routed(session, records)  # outgoing webhooks, in this transaction
    for conversation, triggers in escalated:
        escalate_routed(session, conversation, triggers, context.departments)
    return records


def do_route_conversation(
    session: Session, conversation: Conversation, *, acting_user: User | None = None
) -> RoutingDecisionRecord:
    """Route one conversation with its organisation's active policy and store the decision."""
    context = _routing_context(session, conversation.org_id)
    (record,) = _route(session, context, [conversation])
    assign_by_rules(session, conversation.org_id, [(conversation, record.detail)])
    if record.queue_id is not None:
        auto_assign(session, conversation.org_id, [record.queue_id])
    audit.record(
        session,
        org_id=conversation.org_id,
        actor=acting_user,
        action="conversation.route",
        object_type="conversation",
        object_id=conversation.id,
        after={
            "queue": record.detail["queue"],
            "kind": record.kind,
            "policy_version": context.version.number,
        },
    )
    return record


def route_pending(
    session: Session,
    org_id: int,
    conversation_ids: Iterable[int] | None = None,
    *,
    batch_size: int = ROUTE_BATCH_SIZE,
    limit: int | None = None,
) -> int:
    """Route the organisation's conversations that have no queue yet; returns how many.

    ``conversation_ids`` limits the work to those conversations (already routed ones are
    skipped); ``limit`` stops after about that many, for callers that commit in between. Work goes in batches of a few queries each; every batch writes one audit row
    listing its conversations, while the decision rows record each conversation's routing.
    """
    context = _routing_context(session, org_id)
    base = select(Conversation).where(
        Conversation.org_id == org_id, Conversation.queue_id.is_(None)
    )
    routed = 0

    def route_batch(batch: Sequence[Conversation]) -> None:
        nonlocal routed
        if not batch:
            return
        records = _route(session, context, batch)
        routed += len(batch)
        assign_by_rules(session, org_id, list(zip(batch, (r.detail for r in records), strict=True)))
        auto_assign(session, org_id, {r.queue_id for r in records if r.queue_id is not None})
        audit.record(
            session,
            org_id=org_id,
            actor=None,
            action="conversation.route_batch",
            object_type="conversation",
            after={
                "policy_version": context.version.number,
                "conversation_ids": [c.id for c in batch],
            },
        )

    if conversation_ids is not None:
        wanted = sorted(set(conversation_ids))
        for start in range(0, len(wanted), batch_size):
            chunk = wanted[start : start + batch_size]
            route_batch(list(session.scalars(base.where(Conversation.id.in_(chunk)))))
        return routed
    last_id = 0
    while True:
        # Keyset pagination: routed rows drop out of the filter, so offsets would skip some.
        batch = list(
            session.scalars(
                base.where(Conversation.id > last_id).order_by(Conversation.id).limit(batch_size)
            )
        )
        if not batch:
            return routed
        route_batch(batch)
        last_id = batch[-1].id
        if limit is not None and routed >= limit:
            return routed


def latest_decision(session: Session, conversation_id: int) -> RoutingDecisionRecord | None:
    """The conversation's most recent routing decision (the policy's or a person's)."""
    return session.scalar(
        select(RoutingDecisionRecord)
        .where(RoutingDecisionRecord.conversation_id == conversation_id)
        .order_by(RoutingDecisionRecord.created_at.desc(), RoutingDecisionRecord.id.desc())
        .limit(1)
    )


def record_move(
    session: Session,
    conversation: Conversation,
    latest: RoutingDecisionRecord | None,
    *,
    detail: dict[str, Any],
    explanation: str,
    by_user_id: int | None,
    now: datetime,
) -> RoutingDecisionRecord:
    """Record a move already made to ``conversation`` (its queue and flags) as a decision.

    The kind and message come from the latest decision; the queue, owner and flags from the
    conversation as it now is. ``by_user_id`` is None when the policy itself moved it.
    """
    version = active_policy(session, conversation.org_id)
    record = RoutingDecisionRecord(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        message_id=latest.message_id if latest else None,
        policy_version_id=version.id if version else None,
        queue_id=conversation.queue_id,
        owner_department_id=conversation.owner_department_id,
        kind=latest.kind if latest else "other",
        priority=conversation.priority,
        agency_allowed=conversation.agency_allowed,
        restricted=conversation.restricted,
        matched_rules=[],
        detail=detail,
        explanation=explanation,
        by_user_id=by_user_id,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def do_reroute(
    session: Session,
    conversation: Conversation,
    queue: Queue,
    acting_user: User,
    reason: str = "",
) -> RoutingDecisionRecord:
    """A person moves a conversation to another queue; recorded as a decision with its author."""
    if not can_act(acting_user):
        raise Forbidden("your role may read conversations but not move them")
    if not (acting_user.org_id == conversation.org_id == queue.org_id):
        raise NotFound("queue")
    if queue.retired_at is not None:
        raise ValidationFailed("queue", f"{queue.name} is no longer in the ownership policy")
    if queue.id == conversation.queue_id:
        raise ValidationFailed("queue", f"the conversation is already in {queue.name}")
    reason = reason.strip()[:1000]
    latest = latest_decision(session, conversation.id)
    before = {
        "queue_id": conversation.queue_id,
        "owner_department_id": conversation.owner_department_id,
        "agency_allowed": conversation.agency_allowed,
        "restricted": conversation.restricted,
    }
    conversation.queue_id = queue.id
    conversation.owner_department_id = queue.department_id
    conversation.restricted = queue.restricted
    # Into an agency queue a person hands the conversation to the agency on purpose; elsewhere
    # it keeps what the policy allowed. Restricted queues never show anything to the agency.
    policy_allowed = latest.agency_allowed if latest is not None else False
    conversation.agency_allowed = not queue.restricted and (queue.agency_allowed or policy_allowed)
    explanation = f"moved to queue {queue.name} by {acting_user.name}"
    record = record_move(
        session,
        conversation,
        latest,
        detail={"reason": reason} if reason else {},
        explanation=f"{explanation}: {reason}" if reason else explanation,
        by_user_id=acting_user.id,
        now=utcnow(),
    )
    audit.record(
        session,
        org_id=conversation.org_id,
        actor=acting_user,
        action="conversation.reroute",
        object_type="conversation",
        object_id=conversation.id,
        before=before,
        after={
            "queue_id": queue.id,
            "owner_department_id": queue.department_id,
            "agency_allowed": conversation.agency_allowed,
            "restricted": conversation.restricted,
        },
        note=reason or None,
    )
    # Outgoing webhooks, in this transaction (do_transfer comes through here too).
    outgoing.announce_rerouted(session, conversation, record, before["queue_id"], acting_user)
    return record
