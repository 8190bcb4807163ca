"""Routing rules and decisions: which queue, owner department and agency access a message gets."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from townhall.routing.policy import (
    PRIORITIES,
    AnyAllNone,
    KindPolicy,
    Policy,
    Priority,
    Queue,
    Rule,
    RuleConditions,
    SlaTargets,
    TimeWindow,
    Visibility,
    words_of,
)
from townhall.routing.sla import WEEKDAYS, BusinessHours

PRIORITY_RANK: dict[str, int] = {priority: rank for rank, priority in enumerate(PRIORITIES)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactFacts:
    """What the unified customer record knows about the author."""

    vip: bool = False
    journalist: bool = False
    employee: bool = False
    followers: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFacts:
    """What understanding found out about one inbound message: all routing looks at."""

    intent: str
    risk_flags: frozenset[str] = frozenset()
    sentiment: str = "neutral"
    # -1.0 (very negative) … +1.0 (very positive).
    sentiment_score: float = 0.0
    language: str | None = None
    platform: str = ""
    text: str = ""
    contact: ContactFacts = field(default_factory=ContactFacts)
    received_at: datetime


ReasonSource = Literal["kind", "risk_flag", "rule", "queue", "escalation"]


@dataclass(frozen=True, slots=True)
class Reason:
    """One line of "why": the policy entry or rule that shaped the decision."""

    source: ReasonSource
    ref: str  # kind name, rule id or queue name
    text: str


@dataclass(frozen=True, slots=True)
class EscalationTrigger:
    to: str  # department told
    reason: Literal["journalist", "influential_negative", "rule"]
    ref: str  # kind or rule id that asked for it


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingDecision:
    """Where one conversation goes and why; stored so the inbox can explain it later."""

    policy_name: str
    policy_version: int
    intent: str
    kind: str
    queue: str
    queue_team: str
    queue_is_agency: bool
    owner_department: str | None
    contributing_departments: tuple[str, ...]
    priority: Priority
    tags: tuple[str, ...]
    agency_allowed: bool
    visibility: Visibility
    sla: SlaTargets
    business_hours: BusinessHours
    breach_escalation_to: str | None
    escalations: tuple[EscalationTrigger, ...]
    auto_answer_allowed: bool
    assign_to_team: str | None
    # Not checked against departments here: the assignment step checks the agent it names.
    assign_to_user: str | None
    matched_rules: tuple[str, ...]
    reasons: tuple[Reason, ...]

    @property
    def restricted(self) -> bool:
        return self.visibility == "restricted"

    def explain(self) -> str:
        """The reasons as text, one per line, for the conversation view."""
        return "\n".join(reason.text for reason in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data for storing the decision next to the conversation."""
        return {
            "policy_name": self.policy_name,
            "policy_version": self.policy_version,
            "intent": self.intent,
            "kind": self.kind,
            "queue": self.queue,
            "queue_team": self.queue_team,
            "queue_is_agency": self.queue_is_agency,
            "owner_department": self.owner_department,
            "contributing_departments": list(self.contributing_departments),
            "priority": self.priority,
            "tags": list(self.tags),
            "agency_allowed": self.agency_allowed,
            "visibility": self.visibility,
            "sla": self.sla.model_dump(),
            "business_hours": self.business_hours.to_mapping(),
            "breach_escalation_to": self.breach_escalation_to,
            "escalations": [
                {"to": e.to, "reason": e.reason, "ref": e.ref} for e in self.escalations
            ],
            "auto_answer_allowed": self.auto_answer_allowed,
            "assign_to_team": self.assign_to_team,
            "assign_to_user": self.assign_to_user,
            "matched_rules": list(self.matched_rules),
            "reasons": [{"source": r.source, "ref": r.ref, "text": r.text} for r in self.reasons],
        }


# --------------------------------------------------------------------------- compiling


class _Message:
    """Facts of one message prepared once for all rules; words and local times on demand."""

    __slots__ = ("_local", "_padded", "_words", "facts", "flags", "intent", "kind", "language")

    def __init__(self, facts: MessageFacts, intent: str, kind: str) -> None:
        self.facts = facts
        self.intent = intent
        self.kind = kind
        self.flags = facts.risk_flags
        self.language = (facts.language or "").casefold()
        self._words: frozenset[str] | None = None
        self._padded = ""
        self._local: dict[str, datetime] = {}

    @property
    def words(self) -> frozenset[str]:
        if self._words is None:
            words = words_of(self.facts.text)
            self._words = frozenset(words)
            self._padded = f" {' '.join(words)} "
        return self._words

    @property
    def padded(self) -> str:
        """The words joined by single spaces, with a space at both ends, for phrase search."""
        self.words  # noqa: B018 - computes the padded text on first use
        return self._padded

    def local(self, zone: str) -> datetime:
        local = self._local.get(zone)
        if local is None:
            local = self._local[zone] = self.facts.received_at.astimezone(ZoneInfo(zone))
        return local


Check = Callable[[_Message], bool]


def _keyword_checks(keywords: AnyAllNone) -> list[Check]:
    def split(items: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
        singles, phrases = set(), []
        for item in items:
            words = words_of(item)
            if len(words) == 1:
                singles.add(words[0])
            elif words:
                phrases.append(f" {' '.join(words)} ")
        return frozenset(singles), tuple(phrases)

    checks: list[Check] = []
    if keywords.any_of:
        any_words, any_phrases = split(keywords.any_of)
        checks.append(
            lambda m: not any_words.isdisjoint(m.words) or any(p in m.padded for p in any_phrases)
        )
    if keywords.all_of:
        all_words, all_phrases = split(keywords.all_of)
        checks.append(lambda m: all_words <= m.words and all(p in m.padded for p in all_phrases))
    if keywords.none_of:
        none_words, none_phrases = split(keywords.none_of)
        checks.append(
            lambda m: (
                none_words.isdisjoint(m.words) and not any(p in m.padded for p in none_phrases)
            )
        )
    return checks


def _time_check(window: TimeWindow) -> Check:
    zone, start, end = window.timezone, window.start_minute, window.end_minute
    days = frozenset(WEEKDAYS.index(day) for day in window.days)

    def check(m: _Message) -> bool:
        local = m.local(zone)
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        if start < end:
            return weekday in days and start <= minute < end
        # A window such as fri 18:00-08:00 starts on Friday; Saturday 02:00 belongs to it.
        if minute >= start:
            return weekday in days
        return minute < end and (weekday - 1) % 7 in days

    return check


def _compile_conditions(when: RuleConditions) -> tuple[Check, ...]:
    # Cheap checks first: most rules fail on kind, contact or sentiment before text is read.
    checks: list[Check] = []
    if when.kinds:
        kinds = frozenset(when.kinds)
        checks.append(lambda m: m.kind in kinds)
    if when.intents:
        intents = frozenset(when.intents)
        checks.append(lambda m: m.intent in intents)
    contact = when.contact
    if contact is not None:
        if contact.vip is not None:
            vip = contact.vip
            checks.append(lambda m: m.facts.contact.vip is vip)
        if contact.journalist is not None:
            journalist = contact.journalist
            checks.append(lambda m: m.facts.contact.journalist is journalist)
        if contact.employee is not None:
            employee = contact.employee
            checks.append(lambda m: m.facts.contact.employee is employee)
        if contact.followers_at_least is not None:
            followers = contact.followers_at_least
            checks.append(lambda m: m.facts.contact.followers >= followers)
    if when.sentiments:
        sentiments = frozenset(when.sentiments)
        checks.append(lambda m: m.facts.sentiment in sentiments)
    if when.sentiment_score is not None:
        low = when.sentiment_score.at_least
        high = when.sentiment_score.at_most
        if low is not None:
            checks.append(lambda m: m.facts.sentiment_score >= low)
        if high is not None:
            checks.append(lambda m: m.facts.sentiment_score <= high)
    if when.languages:
        languages = frozenset(when.languages)
        checks.append(lambda m: m.language in languages)
    if when.platforms:
        platforms = frozenset(when.platforms)
        checks.append(lambda m: m.facts.platform.casefold() in platforms)
    flags = when.risk_flags
    if flags is not None:
        if flags.any_of:
            any_flags = frozenset(flags.any_of)
            checks.append(lambda m: not any_flags.isdisjoint(m.flags))
        if flags.all_of:
            all_flags = frozenset(flags.all_of)
            checks.append(lambda m: all_flags <= m.flags)
        if flags.none_of:
            none_flags = frozenset(flags.none_of)
            checks.append(lambda m: none_flags.isdisjoint(m.flags))
    if when.time is not None:
        checks.append(_time_check(when.time))
    if when.keywords is not None:
        checks.extend(_keyword_checks(when.keywords))
    return tuple(checks)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    checks: tuple[Check, ...]
    summary: str

    def matches(self, message: _Message) -> bool:
        return all(check(message) for check in self.checks)


def _summary(rule: Rule) -> str:
    if rule.description:
        return f"rule {rule.id}: {rule.description}"
    return f"rule {rule.id} matched"


class CompiledPolicy:
    """A policy prepared for fast decisions: rules as predicates, lookups as dicts."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.rank = {kind: rank for rank, kind in enumerate(policy.precedence)}
        self.queues: dict[str, Queue] = {queue.name: queue for queue in policy.queues}
        self.hours: dict[str, BusinessHours] = {
            queue.name: policy.team(queue.team).hours for queue in policy.queues
        }
        self.default_queue = {kind: policy.default_queue(kind) for kind in policy.kinds}
        self.in_house_queue: dict[str, Queue | None] = {}
        for kind in policy.kinds:
            try:
                self.in_house_queue[kind] = policy.in_house_queue(kind)
            except KeyError:
                self.in_house_queue[kind] = None
        rules = [
            CompiledRule(rule, _compile_conditions(rule.when), _summary(rule))
            for rule in policy.rules
            if rule.enabled
        ]
        # Rules that name kinds are only tried on those kinds.
        self.rules_by_kind: dict[str, tuple[CompiledRule, ...]] = {
            kind: tuple(r for r in rules if not r.rule.when.kinds or kind in r.rule.when.kinds)
            for kind in policy.kinds
        }
        self.kind_reason = {kind: _kind_reason(entry) for kind, entry in policy.kinds.items()}

    def decide(self, facts: MessageFacts) -> RoutingDecision:
        policy = self.policy
        reasons: list[Reason] = []
        intent = facts.intent
        if intent not in policy.kinds:
            reasons.append(
                Reason("kind", "other", f"intent {intent!r} is not in the policy; routed as other")
            )
            intent = "other"
        candidates = [intent]
        for flag in facts.risk_flags:
            if flag in policy.kinds and flag != intent:
                candidates.append(flag)
        kind = min(candidates, key=self.rank.__getitem__) if len(candidates) > 1 else intent
        entry = policy.kinds[kind]
        if kind == intent:
            reasons.append(Reason("kind", kind, f"kind {kind}: the message's intent"))
        else:
            reasons.append(
                Reason("risk_flag", kind, f"risk flag {kind} takes precedence over intent {intent}")
            )
        reasons.append(Reason("kind", kind, self.kind_reason[kind]))

        agency_allowed = entry.agency_allowed
        auto_answer = entry.auto_answer
        restricted = entry.restricted
        priority: Priority = entry.priority
        for other in candidates:
            if other == kind:
                continue
            other_entry = policy.kinds[other]
            if agency_allowed and not other_entry.agency_allowed:
                agency_allowed = False
                reasons.append(
                    Reason("kind", other, f"{other} is kept in-house, so this conversation is too")
                )
            auto_answer = auto_answer and other_entry.auto_answer
            restricted = restricted or other_entry.restricted
            if PRIORITY_RANK[other_entry.priority] > PRIORITY_RANK[priority]:
                priority = other_entry.priority

        escalations: list[EscalationTrigger] = []
        escalation = entry.escalation
        contact = facts.contact
        if escalation.on_journalist is not None and contact.journalist:
            escalations.append(EscalationTrigger(escalation.on_journalist, "journalist", kind))
            reasons.append(
                Reason(
                    "escalation",
                    kind,
                    f"the author is a journalist: {escalation.on_journalist} is told",
                )
            )
        influential = escalation.on_influential_negative
        if (
            influential is not None
            and contact.followers >= influential.followers_at_least
            and facts.sentiment == "negative"
            and facts.sentiment_score <= influential.sentiment_score_at_most
        ):
            escalations.append(EscalationTrigger(influential.to, "influential_negative", kind))
            reasons.append(
                Reason(
                    "escalation",
                    kind,
                    f"very negative message from an author with {contact.followers} followers: "
                    f"{influential.to} is told",
                )
            )

        message = _Message(facts, intent, kind)
        matched: list[CompiledRule] = []
        for compiled in self.rules_by_kind[kind]:
            if compiled.matches(message):
                matched.append(compiled)
                if compiled.rule.stop:
                    break

        tags: list[str] = []
        for compiled in matched:
            then = compiled.rule.then
            reasons.append(Reason("rule", compiled.rule.id, compiled.summary))
            if then.agency_allowed is False and agency_allowed:
                agency_allowed = False
                reasons.append(
                    Reason("rule", compiled.rule.id, f"rule {compiled.rule.id} keeps it in-house")
                )
            if then.auto_answer is False:
                auto_answer = False
            if then.priority is not None and PRIORITY_RANK[then.priority] > PRIORITY_RANK[priority]:
                priority = then.priority
            for tag in then.tags:
                if tag not in tags:
                    tags.append(tag)
            if then.escalate_to is not None and not (
                restricted and then.escalate_to != entry.owner
            ):
                escalations.append(EscalationTrigger(then.escalate_to, "rule", compiled.rule.id))

        owner = entry.owner
        queue: Queue | None = None
        assign_team: str | None = None
        assign_user: str | None = None
        for compiled in matched:
            then = compiled.rule.then
            if then.queue is not None and queue is None:
                wanted = self.queues[then.queue]
                refusal = _refusal(wanted.is_agency, wanted.team, agency_allowed, restricted, owner)
                if refusal:
                    reasons.append(
                        Reason(
                            "rule",
                            compiled.rule.id,
                            f"queue {wanted.name} not used: {refusal}",
                        )
                    )
                else:
                    queue = wanted
                    reasons.append(
                        Reason(
                            "queue",
                            wanted.name,
                            f"queue {wanted.name}: set by rule {compiled.rule.id}",
                        )
                    )
            assign = then.assign_to
            if assign is not None and assign_team is None and assign_user is None:
                if assign.team is not None:
                    team = policy.team(assign.team)
                    refusal = _refusal(team.is_agency, team.name, agency_allowed, restricted, owner)
                    if refusal:
                        reasons.append(
                            Reason(
                                "rule", compiled.rule.id, f"not assigned to {team.name}: {refusal}"
                            )
                        )
                    else:
                        assign_team = team.name
                else:
                    assign_user = assign.user

        if queue is None:
            default = self.default_queue[kind]
            if default.is_agency and not agency_allowed:
                fallback = self.in_house_queue[kind]
                # Validation guarantees an in-house queue for every kind in an agency queue.
                assert fallback is not None
                queue = fallback
                reasons.append(
                    Reason(
                        "queue",
                        queue.name,
                        f"queue {queue.name}: kept in-house instead of agency queue {default.name}",
                    )
                )
            else:
                queue = default
                reasons.append(
                    Reason("queue", queue.name, f"queue {queue.name}: default for {kind}")
                )

        return RoutingDecision(
            policy_name=policy.name,
            policy_version=policy.version,
            intent=intent,
            kind=kind,
            queue=queue.name,
            queue_team=queue.team,
            queue_is_agency=queue.is_agency,
            owner_department=owner,
            contributing_departments=() if restricted else entry.contributors,
            priority=priority,
            tags=tuple(tags),
            agency_allowed=agency_allowed,
            visibility="restricted" if restricted else "normal",
            sla=entry.sla,
            business_hours=self.hours[queue.name],
            breach_escalation_to=escalation.on_breach,
            escalations=tuple(escalations),
            auto_answer_allowed=auto_answer,
            assign_to_team=assign_team,
            assign_to_user=assign_user,
            matched_rules=tuple(compiled.rule.id for compiled in matched),
            reasons=tuple(reasons),
        )


def _refusal(
    is_agency: bool, team: str, agency_allowed: bool, restricted: bool, owner: str | None
) -> str:
    """Why a rule may not send a conversation to this team ("" when it may)."""
    if is_agency and not agency_allowed:
        return "the conversation stays in-house"
    if restricted and (is_agency or team != owner):
        return f"the conversation is restricted to {owner}"
    return ""


def _kind_reason(entry: KindPolicy) -> str:
    owner = entry.owner or "no department"
    agency = "the agency may handle it" if entry.agency_allowed else "in-house only"
    visibility = ", restricted" if entry.restricted else ""
    return (
        f"policy for {entry.kind}: owned by {owner}, {agency}{visibility}, "
        f"first response within {entry.sla.first_response_minutes} business minutes"
    )


# A few recently used policies stay compiled; holding them keeps their ids from being reused.
_COMPILED: OrderedDict[int, tuple[Policy, CompiledPolicy]] = OrderedDict()
_COMPILED_KEEP = 8


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Prepare a policy once for many decisions; recently used policies stay compiled."""
    cached = _COMPILED.get(id(policy))
    if cached is not None and cached[0] is policy:
        _COMPILED.move_to_end(id(policy))
        return cached[1]
    compiled = CompiledPolicy(policy)
    _COMPILED[id(policy)] = (policy, compiled)
    while len(_COMPILED) > _COMPILED_KEEP:
        _COMPILED.popitem(last=False)
    return compiled


def decide(facts: MessageFacts, policy: Policy | CompiledPolicy) -> RoutingDecision:
    """Route one message: exactly one queue, its owner department, agency access and why."""
    compiled = policy if isinstance(policy, CompiledPolicy) else compile_policy(policy)
    return compiled.decide(facts)
