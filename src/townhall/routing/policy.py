"""The ownership policy: a versioned YAML document of who owns each kind of conversation."""

from __future__ import annotations

import difflib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict

from townhall.core.taxonomy import DEFAULT_OWNERSHIP, INTENTS, RISK_FLAGS
from townhall.routing.sla import (
    ALWAYS_OPEN,
    WEEKDAYS,
    BusinessHours,
    check_timezone,
    format_clock,
    parse_clock,
    parse_interval,
)

Priority = Literal["low", "normal", "high", "urgent"]
# How a queue hands out its conversations: "manual" (people claim them) or a strategy of
# routing.assignment.
AssignmentMode = Literal["manual", "round_robin", "least_loaded", "skills"]
ASSIGNMENT_MODES: tuple[AssignmentMode, ...] = ("manual", "round_robin", "least_loaded", "skills")
DEFAULT_SLA_WARNING_PERCENT = 80
Visibility = Literal["normal", "restricted"]

PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
VISIBILITIES: tuple[Visibility, ...] = ("normal", "restricted")

# Every kind a policy may give an owner: the intents, then the risk flags that are not intents.
KINDS: tuple[str, ...] = INTENTS + tuple(flag for flag in RISK_FLAGS if flag not in INTENTS)

# PRODUCT.md: strategic, PR, risk and HR conversations and customer-experience leadership
# (complaints) must never be outsourced, whatever an organisation writes in its policy.
_IN_HOUSE_OWNERS = frozenset({"Leadership", "PR", "Risk", "HR"})
NEVER_OUTSOURCED: frozenset[str] = frozenset(
    {
        intent
        for intent, defaults in DEFAULT_OWNERSHIP.items()
        if defaults.owner in _IN_HOUSE_OWNERS or defaults.restricted
    }
    | set(RISK_FLAGS)
    | {"complaint"}
)

_DEFAULTS = resources.files("townhall.routing") / "defaults"

Path = tuple[str | int, ...]


# --------------------------------------------------------------------------- issues


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policy document, pointing at the line and column to fix (1-based)."""

    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(ValueError):
    """The policy document is not valid; ``issues`` says where and why."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


def format_path(path: Iterable[str | int]) -> str:
    """``("kinds", "press_inquiry", "sla")`` → ``kinds.press_inquiry.sla``; items as ``[i]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


# --------------------------------------------------------------------------- models


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Team(_Frozen):
    """A department's in-house team or an agency team, with its business hours."""

    name: str
    is_agency: bool
    hours: BusinessHours
    description: str = ""


class SlaTargets(_Frozen):
    """Response-time targets, in business minutes of the team handling the queue."""

    first_response_minutes: int
    resolution_minutes: int


class InfluentialNegative(_Frozen):
    """Escalate very negative messages from authors with a large audience."""

    followers_at_least: int
    sentiment_score_at_most: float = -0.5
    to: str


class Escalation(_Frozen):
    """Who is told when: on a breach (the department's leads), on a journalist, on very
    negative words from an influential author; and what a breach changes."""

    on_breach: str | None = None
    on_journalist: str | None = None
    # After a breach: move to this queue, and raise the priority to at least this (one step
    # up when not given).
    breach_queue: str | None = None
    breach_priority: Priority | None = None
    on_influential_negative: InfluentialNegative | None = None


class KindPolicy(_Frozen):
    """What the organisation decided for one kind of conversation."""

    kind: str
    owner: str | None
    contributors: tuple[str, ...] = ()
    agency_allowed: bool
    visibility: Visibility = "normal"
    priority: Priority = "normal"
    auto_answer: bool = False
    sla: SlaTargets
    escalation: Escalation = Escalation()
    description: str = ""

    @property
    def restricted(self) -> bool:
        return self.visibility == "restricted"


class Queue(_Frozen):
    """A queue worked by one department's team or one agency team."""

    name: str
    team: str
    is_agency: bool
    # The kinds whose default queue this is (each kind has exactly one).
    kinds: tuple[str, ...] = ()
    description: str = ""
    assignment: AssignmentMode = "manual"


class AnyAllNone(_Frozen):
    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()


class ScoreRange(_Frozen):
    at_least: float | None = None
    at_most: float | None = None


class ContactCondition(_Frozen):
    vip: bool | None = None
    journalist: bool | None = None
    employee: bool | None = None
    followers_at_least: int | None = None


class TimeWindow(_Frozen):
    """A weekly window in a timezone; ``start > end`` wraps past midnight."""

    timezone: str
    days: tuple[str, ...] = WEEKDAYS
    start_minute: int = 0
    end_minute: int = 1440


class RuleConditions(_Frozen):
    """All given conditions must hold; an empty field does not constrain."""

    intents: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    risk_flags: AnyAllNone | None = None
    sentiments: tuple[str, ...] = ()
    sentiment_score: ScoreRange | None = None
    languages: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    keywords: AnyAllNone | None = None
    contact: ContactCondition | None = None
    time: TimeWindow | None = None


class AssignTo(_Frozen):
    team: str | None = None
    user: str | None = None


class RuleActions(_Frozen):
    queue: str | None = None
    priority: Priority | None = None
    tags: tuple[str, ...] = ()
    assign_to: AssignTo | None = None
    # Only ever False: a rule may keep a conversation in-house or stop automatic answers,
    # never widen what the kind's policy allows.
    agency_allowed: Literal[False] | None = None
    auto_answer: Literal[False] | None = None
    escalate_to: str | None = None


class Rule(_Frozen):
    id: str
    description: str = ""
    enabled: bool = True
    stop: bool = False
    when: RuleConditions = RuleConditions()
    then: RuleActions


class Policy(_Frozen):
    """A whole ownership policy; build it with :func:`load_policy`."""

    version: int
    name: str
    description: str = ""
    departments: dict[str, Team]
    agencies: dict[str, Team] = {}
    kinds: dict[str, KindPolicy]
    precedence: tuple[str, ...]
    queues: tuple[Queue, ...]
    rules: tuple[Rule, ...] = ()
    sla_warning_percent: int = DEFAULT_SLA_WARNING_PERCENT

    def team(self, name: str) -> Team:
        return self.departments.get(name) or self.agencies[name]

    def queue(self, name: str) -> Queue:
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)

    def default_queue(self, kind: str) -> Queue:
        for queue in self.queues:
            if kind in queue.kinds:
                return queue
        raise KeyError(kind)

    def in_house_queue(self, kind: str) -> Queue:
        """Where a kind goes when the agency may not take it: its default queue if in-house,
        otherwise the first queue of its owner department."""
        default = self.default_queue(kind)
        if not default.is_agency:
            return default
        owner = self.kinds[kind].owner
        for queue in self.queues:
            if not queue.is_agency and queue.team == owner:
                return queue
        raise KeyError(kind)


# --------------------------------------------------------------------------- YAML with marks


class _Marks:
    """Line and column (1-based) of every key and value in the document, by path."""

    def __init__(self) -> None:
        self.keys: dict[Path, tuple[int, int]] = {}
        self.values: dict[Path, tuple[int, int]] = {}

    def locate(self, path: Path, *, at_key: bool = False) -> tuple[int, int]:
        """The value's position (or the key's, for ``at_key``); else the nearest parent's."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if at_key and end == len(path) and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
            if prefix in self.keys:
                return self.keys[prefix]
        return 1, 1


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _index_marks(
    node: yaml.Node, path: Path, marks: _Marks, issues: list[tuple[Path, str]], seen: set[int]
) -> None:
    if id(node) in seen:  # a recursive alias; the constructor reports it
        return
    inline = isinstance(node, yaml.ScalarNode) or bool(getattr(node, "flow_style", False))
    if inline or path not in marks.keys:
        marks.values[path] = _mark(node)
    seen = seen | {id(node)}
    if isinstance(node, yaml.MappingNode):
        first_line: dict[object, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *defaults" merges keys; they are located at the anchor
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or key_node.tag != "tag:yaml.org,2002:str":
                line, _ = _mark(key_node)
                issues.append((path, f"key on line {line} must be text (put it in quotes)"))
                continue
            child = (*path, key)
            if key in first_line:
                marks.keys[child] = _mark(key_node)
                issues.append((child, f"duplicate key {key!r} (first on line {first_line[key]})"))
                continue
            first_line[key] = _mark(key_node)[0]
            marks.keys[child] = _mark(key_node)
            _index_marks(value_node, child, marks, issues, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_marks(item, (*path, index), marks, issues, seen)


def _parse_yaml(text: str) -> tuple[Any, _Marks, list[PolicyIssue]]:
    marks = _Marks()
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:
        # Control characters are refused before parsing starts; point at the first one.
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        message = f"not valid YAML: character #x{error.character:04x} is not allowed"
        return None, marks, [PolicyIssue(line, column, "", message)]
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks, [PolicyIssue(1, 1, "", "the policy document is empty")]
        raw_issues: list[tuple[Path, str]] = []
        _index_marks(node, (), marks, raw_issues, set())
        if raw_issues:
            return None, marks, _to_issues(raw_issues, marks, at_key=True)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (error.context, error.problem) if part)
        return None, marks, [PolicyIssue(line, column, "", f"not valid YAML: {message}")]
    except yaml.YAMLError as error:
        return None, marks, [PolicyIssue(1, 1, "", f"not valid YAML: {error}")]
    finally:
        loader.dispose()
    return data, marks, []


def _to_issues(
    raw: Iterable[tuple[Path, str]], marks: _Marks, *, at_key: bool = False
) -> list[PolicyIssue]:
    issues = []
    for path, message in raw:
        line, column = marks.locate(path, at_key=at_key)
        issues.append(PolicyIssue(line, column, format_path(path), message))
    return sorted(issues, key=lambda issue: (issue.line, issue.column, issue.path))


# --------------------------------------------------------------------------- JSON Schema


@cache
def policy_schema() -> dict[str, Any]:
    """The JSON Schema of policy documents (shipped as ``defaults/policy.schema.json``)."""
    schema: dict[str, Any] = json.loads((_DEFAULTS / "policy.schema.json").read_text("utf-8"))
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(policy_schema())


def _schema_issues(data: Any) -> list[tuple[Path, str, bool]]:
    """(path, message, points at a key) for each schema violation."""
    found: list[tuple[Path, str, bool]] = []
    for error in _validator().iter_errors(data):
        path: Path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for key in error.instance:
                if key in allowed:
                    continue
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                found.append(
                    (
                        (*path, key),
                        f"unknown key {key!r}{suggestion} (allowed: {', '.join(allowed)})",
                        True,
                    )
                )
        elif error.validator == "required" and isinstance(error.instance, dict):
            for key in error.validator_value:
                if key not in error.instance:
                    found.append((path, f"missing required key {key!r}", True))
        elif error.validator == "const":
            found.append((path, f"must be {error.validator_value!r}", False))
        elif error.validator == "pattern":
            found.append((path, f"{error.instance!r} is not written HH:MM-HH:MM", False))
        elif error.validator == "maxProperties" and path[-1:] == ("assign_to",):
            found.append((path, "assign to either a team or a user, not both", False))
        else:
            found.append((path, error.message, False))
    return found


# --------------------------------------------------------------------------- semantic checks


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class _Checker:
    """Checks that go beyond the schema: names that must exist, and the product's rules."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.issues: list[tuple[Path, str]] = []
        self.departments: dict[str, Any] = data["departments"]
        self.agencies: dict[str, Any] = data.get("agencies") or {}
        self.kinds: dict[str, Any] = data["kinds"]
        self.queues: list[dict[str, Any]] = data["queues"]
        self.rules: list[dict[str, Any]] = data.get("rules") or []
        self.default_queue: dict[str, int] = {}

    def add(self, path: Path, message: str) -> None:
        self.issues.append((path, message))

    def run(self) -> list[tuple[Path, str]]:
        self.check_teams()
        self.check_kinds()
        self.check_queues()
        self.check_precedence()
        self.check_rules()
        self.check_breach_queues()
        return self.issues

    def department(self, path: Path, name: str) -> bool:
        if name in self.departments:
            return True
        known = ", ".join(self.departments)
        self.add(path, f"unknown department {name!r} (departments: {known})")
        return False

    def timezone(self, path: Path, name: str) -> None:
        try:
            check_timezone(name)
        except ValueError as error:
            self.add(path, str(error))

    def check_teams(self) -> None:
        for section, teams in (("departments", self.departments), ("agencies", self.agencies)):
            for name, team in teams.items():
                base: Path = (section, name)
                if section == "agencies" and name in self.departments:
                    self.add(base, f"agency {name!r} has the name of a department")
                hours = team["hours"]
                if hours == ALWAYS_OPEN:
                    continue
                self.timezone((*base, "hours", "timezone"), hours["timezone"])
                opened = False
                for day, intervals in (hours.get("weekly") or {}).items():
                    parsed: list[tuple[int, int, int]] = []
                    for index, text in enumerate(intervals):
                        try:
                            start, end = parse_interval(text)
                        except ValueError as error:
                            self.add((*base, "hours", "weekly", day, index), str(error))
                            continue
                        parsed.append((start, end, index))
                    parsed.sort()
                    for (_, end, _), (start, _, index) in itertools.pairwise(parsed):
                        if start < end:
                            path = (*base, "hours", "weekly", day, index)
                            self.add(path, "opening intervals of one day overlap")
                    opened = opened or bool(parsed)
                if not opened:
                    self.add(
                        (*base, "hours", "weekly"),
                        'business hours never open: give at least one interval or write "24/7"',
                    )

    def check_kinds(self) -> None:
        for name, kind in self.kinds.items():
            base: Path = ("kinds", name)
            if name not in KINDS:
                hint = difflib.get_close_matches(name, KINDS, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                self.add(base, f"unknown kind of conversation {name!r}{suggestion}")
            owner = kind["owner"]
            if owner is not None:
                self.department((*base, "owner"), owner)
            contributors = kind.get("contributors") or []
            for index, contributor in enumerate(contributors):
                path = (*base, "contributors", index)
                if not self.department(path, contributor):
                    continue
                if contributor == owner:
                    self.add(path, f"{contributor!r} owns this kind; it is not also a contributor")
                elif contributors.index(contributor) != index:
                    self.add(path, f"{contributor!r} is listed twice")
            restricted = kind["visibility"] == "restricted"
            if restricted:
                if owner is None:
                    self.add((*base, "owner"), "a restricted kind needs an owner department")
                if kind["agency_allowed"]:
                    self.add(
                        (*base, "agency_allowed"),
                        "agency allowed on a restricted kind: restricted conversations are "
                        "visible only to the owner department and admins",
                    )
                if contributors:
                    self.add(
                        (*base, "contributors"),
                        "a restricted kind has no contributors: only its owner department sees it",
                    )
                if kind.get("auto_answer"):
                    self.add(
                        (*base, "auto_answer"),
                        "restricted conversations are never answered automatically",
                    )
            if kind["agency_allowed"] and name in NEVER_OUTSOURCED and not restricted:
                self.add(
                    (*base, "agency_allowed"),
                    f"{name} stays in-house: strategic, PR, risk, HR and customer-experience "
                    "leadership conversations are never outsourced",
                )
            sla = kind["sla"]
            if sla["resolution_minutes"] < sla["first_response_minutes"]:
                self.add(
                    (*base, "sla", "resolution_minutes"),
                    "resolution target is shorter than the first-response target",
                )
            self.check_escalation(base, kind, restricted)
        missing = [intent for intent in INTENTS if intent not in self.kinds]
        if missing:
            self.add(("kinds",), f"every intent needs an entry; missing: {', '.join(missing)}")

    def check_escalation(self, base: Path, kind: dict[str, Any], restricted: bool) -> None:
        escalation = kind.get("escalation") or {}
        targets: list[tuple[Path, str]] = [
            ((*base, "escalation", key), escalation[key])
            for key in ("on_breach", "on_journalist")
            if key in escalation
        ]
        if "on_influential_negative" in escalation:
            path = (*base, "escalation", "on_influential_negative", "to")
            targets.append((path, escalation["on_influential_negative"]["to"]))
        for path, target in targets:
            if self.department(path, target) and restricted and target != kind["owner"]:
                self.add(
                    path,
                    f"a restricted kind escalates inside its owner department "
                    f"({kind['owner']}), not to {target!r}",
                )

    def check_breach_queues(self) -> None:
        """A breach may move a conversation only where its kind could have gone anyway."""
        by_name = {queue["name"]: queue for queue in self.queues}
        for kind_name, kind in self.kinds.items():
            target = (kind.get("escalation") or {}).get("breach_queue")
            if target is None:
                continue
            path: Path = ("kinds", kind_name, "escalation", "breach_queue")
            queue = by_name.get(target)
            if queue is None:
                known = ", ".join(by_name)
                self.add(path, f"unknown queue {target!r} (queues: {known})")
            elif queue.get("agency") is not None and not kind["agency_allowed"]:
                self.add(
                    path, f"kind {kind_name!r} is kept in-house; {target!r} is an agency queue"
                )
            elif kind["visibility"] == "restricted" and queue.get("department") != kind["owner"]:
                self.add(
                    path,
                    f"restricted kind {kind_name!r} escalates inside its owner department "
                    f"{kind['owner']!r}, not to queue {target!r}",
                )

    def check_queues(self) -> None:
        first_name: dict[str, int] = {}
        for index, queue in enumerate(self.queues):
            base: Path = ("queues", index)
            name = queue["name"]
            if name in first_name:
                self.add((*base, "name"), f"queue {name!r} is defined twice")
            first_name.setdefault(name, index)
            department, agency = queue.get("department"), queue.get("agency")
            if (department is None) == (agency is None):
                self.add(base, "a queue belongs to exactly one department or one agency")
                continue
            if department is not None:
                self.department((*base, "department"), department)
            elif agency not in self.agencies:
                known = ", ".join(self.agencies) or "none defined"
                self.add((*base, "agency"), f"unknown agency {agency!r} (agencies: {known})")
            for position, kind_name in enumerate(queue["kinds"]):
                path = (*base, "kinds", position)
                if kind_name not in self.kinds:
                    self.add(path, f"queue {name!r} takes unknown kind {kind_name!r}")
                    continue
                if kind_name in self.default_queue:
                    other = self.queues[self.default_queue[kind_name]]["name"]
                    self.add(
                        path,
                        f"kind {kind_name!r} already goes to queue {other!r}; each kind has one "
                        "default queue (send part of it elsewhere with a rule)",
                    )
                    continue
                self.default_queue[kind_name] = index
                kind = self.kinds[kind_name]
                if agency is not None and not kind["agency_allowed"]:
                    self.add(
                        path,
                        f"kind {kind_name!r} is kept in-house (agency_allowed: false); "
                        f"agency queue {name!r} cannot take it",
                    )
                if kind["visibility"] == "restricted" and department != kind["owner"]:
                    self.add(
                        path,
                        f"restricted kind {kind_name!r} must go to a queue of its owner "
                        f"department {kind['owner']!r}",
                    )
        for kind_name, kind in self.kinds.items():
            if kind_name not in self.default_queue:
                self.add(("kinds", kind_name), f"no queue takes kind {kind_name!r}")
                continue
            index = self.default_queue[kind_name]
            if self.queues[index].get("agency") is None:
                continue
            owner = kind["owner"]
            if owner is None:
                self.add(
                    ("kinds", kind_name, "owner"),
                    f"kind {kind_name!r} goes to an agency queue, so it needs an owner "
                    "department to take it back when a rule keeps it in-house",
                )
            elif not any(q.get("department") == owner for q in self.queues):
                self.add(
                    ("queues", index),
                    f"kind {kind_name!r} needs an in-house queue of {owner!r} for conversations "
                    "a rule keeps in-house",
                )

    def check_precedence(self) -> None:
        precedence = self.data.get("precedence")
        if precedence is None:
            return
        seen: set[str] = set()
        normal_seen: str | None = None
        for index, name in enumerate(precedence):
            path: Path = ("precedence", index)
            if name not in self.kinds:
                self.add(path, f"{name!r} is not a kind defined under kinds")
                continue
            if name in seen:
                self.add(path, f"{name!r} is listed twice")
                continue
            seen.add(name)
            if self.kinds[name]["visibility"] == "restricted":
                if normal_seen is not None:
                    self.add(
                        path,
                        f"restricted kind {name!r} must come before normal kind {normal_seen!r}, "
                        "so a restricted conversation is owned by the department allowed to see it",
                    )
            elif normal_seen is None:
                normal_seen = name
        missing = [name for name in self.kinds if name not in seen]
        if missing:
            self.add(("precedence",), f"precedence misses kinds: {', '.join(missing)}")

    def check_rules(self) -> None:
        first_index: dict[str, int] = {}
        queue_by_name = {queue["name"]: queue for queue in self.queues}
        for index, rule in enumerate(self.rules):
            base: Path = ("rules", index)
            if rule["id"] in first_index:
                self.add((*base, "id"), f"rule id {rule['id']!r} is used twice")
            first_index.setdefault(rule["id"], index)
            when = rule.get("when") or {}
            then = rule["then"]
            self.check_conditions(base, when)
            rule_kinds = [k for k in _as_list(when.get("kind")) if k in self.kinds]
            queue_name = then.get("queue")
            queue = queue_by_name.get(queue_name) if queue_name is not None else None
            if queue_name is not None and queue is None:
                self.add((*base, "then", "queue"), f"unknown queue {queue_name!r}")
            assign = then.get("assign_to") or {}
            team = assign.get("team")
            if team is not None and team not in self.departments and team not in self.agencies:
                self.add((*base, "then", "assign_to", "team"), f"unknown team {team!r}")
            if then.get("agency_allowed") is True:
                self.add(
                    (*base, "then", "agency_allowed"),
                    "a rule can keep a conversation in-house (agency_allowed: false) but never "
                    "widen agency access beyond its kind's policy",
                )
            if then.get("auto_answer") is True:
                self.add(
                    (*base, "then", "auto_answer"),
                    "a rule can stop automatic answers (auto_answer: false) but never allow them "
                    "beyond its kind's policy",
                )
            if "escalate_to" in then:
                self.department((*base, "then", "escalate_to"), then["escalate_to"])
            to_agency = (queue is not None and queue.get("agency") is not None) or (
                team in self.agencies
            )
            if to_agency and then.get("agency_allowed") is False:
                self.add(
                    (*base, "then"),
                    "the rule keeps conversations in-house but sends them to an agency",
                )
            elif (
                to_agency
                and rule_kinds
                and not any(self.kinds[k]["agency_allowed"] for k in rule_kinds)
            ):
                self.add(
                    (*base, "then"),
                    f"the rule sends kinds kept in-house ({', '.join(rule_kinds)}) to an "
                    "agency; it would never apply",
                )
            if (
                queue is not None
                and queue.get("department") is not None
                and rule_kinds
                and all(
                    self.kinds[k]["visibility"] == "restricted"
                    and self.kinds[k]["owner"] != queue["department"]
                    for k in rule_kinds
                )
            ):
                self.add(
                    (*base, "then", "queue"),
                    f"queue {queue_name!r} is outside the owner department of restricted "
                    f"kinds {', '.join(rule_kinds)}; the rule would never apply",
                )

    def check_conditions(self, base: Path, when: dict[str, Any]) -> None:
        path: Path
        for field, known, what in (
            ("intent", INTENTS, "intent"),
            ("kind", tuple(self.kinds), "kind defined under kinds"),
        ):
            values = when.get(field)
            for position, value in enumerate(_as_list(values)):
                if value not in known:
                    path = (*base, "when", field, position)
                    if not isinstance(values, list):
                        path = (*base, "when", field)
                    self.add(path, f"{value!r} is not a known {what}")
        flags = when.get("risk_flags") or {}
        for group, values in flags.items():
            for position, value in enumerate(values):
                if value not in RISK_FLAGS:
                    path = (*base, "when", "risk_flags", group, position)
                    self.add(path, f"unknown risk flag {value!r} (flags: {', '.join(RISK_FLAGS)})")
        keywords = when.get("keywords") or {}
        for group, values in keywords.items():
            for position, value in enumerate(values):
                if not words_of(value):
                    path = (*base, "when", "keywords", group, position)
                    self.add(path, "a keyword needs at least one letter or digit")
        score = when.get("sentiment_score") or {}
        if score.get("at_least", -1) > score.get("at_most", 1):
            path = (*base, "when", "sentiment_score")
            self.add(path, "at_least is above at_most: no message can match")
        window = when.get("time")
        if window is not None:
            self.timezone((*base, "when", "time", "timezone"), window["timezone"])
            if "hours" in window:
                start_text, end_text = window["hours"].split("-")
                try:
                    if parse_clock(start_text) == parse_clock(end_text):
                        self.add((*base, "when", "time", "hours"), "the window is empty")
                except ValueError as error:
                    self.add((*base, "when", "time", "hours"), str(error))


def words_of(text: str) -> tuple[str, ...]:
    """Lower-cased words of a text, the unit keyword conditions match on."""
    return tuple(_WORD.findall(text.casefold()))


_WORD = re.compile(r"\w+")


# --------------------------------------------------------------------------- building


def _hours(value: Any) -> BusinessHours:
    if value == ALWAYS_OPEN:
        return BusinessHours.around_the_clock()
    return BusinessHours.from_mapping(value["timezone"], value.get("weekly") or {})


def _any_all_none(value: Mapping[str, Any] | None, *, fold: bool) -> AnyAllNone | None:
    if value is None:
        return None

    def norm(items: list[str]) -> tuple[str, ...]:
        return tuple(item.casefold().strip() if fold else item for item in items)

    return AnyAllNone(
        any_of=norm(value.get("any", [])),
        all_of=norm(value.get("all", [])),
        none_of=norm(value.get("none", [])),
    )


def _conditions(when: Mapping[str, Any]) -> RuleConditions:
    window = when.get("time")
    time: TimeWindow | None = None
    if window is not None:
        start, end = 0, 1440
        if "hours" in window:
            start_text, end_text = window["hours"].split("-")
            start, end = parse_clock(start_text), parse_clock(end_text)
        days = tuple(day for day in WEEKDAYS if day in window.get("days", WEEKDAYS))
        time = TimeWindow(
            timezone=window["timezone"], days=days, start_minute=start, end_minute=end
        )
    contact = when.get("contact")
    score = when.get("sentiment_score")
    return RuleConditions(
        intents=tuple(_as_list(when.get("intent"))),
        kinds=tuple(_as_list(when.get("kind"))),
        risk_flags=_any_all_none(when.get("risk_flags"), fold=False),
        sentiments=tuple(_as_list(when.get("sentiment"))),
        sentiment_score=ScoreRange(**score) if score is not None else None,
        languages=tuple(lang.casefold() for lang in _as_list(when.get("language"))),
        platforms=tuple(platform.casefold() for platform in _as_list(when.get("platform"))),
        keywords=_any_all_none(when.get("keywords"), fold=True),
        contact=ContactCondition(**contact) if contact is not None else None,
        time=time,
    )


def _build(data: dict[str, Any]) -> Policy:
    departments = {
        name: Team(
            name=name,
            is_agency=False,
            hours=_hours(team["hours"]),
            description=team.get("description", ""),
        )
        for name, team in data["departments"].items()
    }
    agencies = {
        name: Team(
            name=name,
            is_agency=True,
            hours=_hours(team["hours"]),
            description=team.get("description", ""),
        )
        for name, team in (data.get("agencies") or {}).items()
    }
    kinds = {}
    for name, kind in data["kinds"].items():
        escalation = kind.get("escalation") or {}
        influential = escalation.get("on_influential_negative")
        kinds[name] = KindPolicy(
            kind=name,
            owner=kind["owner"],
            contributors=tuple(kind.get("contributors", [])),
            agency_allowed=kind["agency_allowed"],
            visibility=kind["visibility"],
            priority=kind.get("priority", "normal"),
            auto_answer=kind.get("auto_answer", False),
            sla=SlaTargets(**kind["sla"]),
            escalation=Escalation(
                on_breach=escalation.get("on_breach"),
                on_journalist=escalation.get("on_journalist"),
                breach_queue=escalation.get("breach_queue"),
                breach_priority=escalation.get("breach_priority"),
                on_influential_negative=InfluentialNegative(**influential) if influential else None,
            ),
            description=kind.get("description", ""),
        )
    queues = tuple(
        Queue(
            name=queue["name"],
            team=queue.get("department") or queue["agency"],
            is_agency="agency" in queue,
            kinds=tuple(queue["kinds"]),
            description=queue.get("description", ""),
            assignment=queue.get("assignment", "manual"),
        )
        for queue in data["queues"]
    )
    rules = tuple(
        Rule(
            id=rule["id"],
            description=rule.get("description", ""),
            enabled=rule.get("enabled", True),
            stop=rule.get("stop", False),
            when=_conditions(rule.get("when") or {}),
            then=RuleActions(
                queue=rule["then"].get("queue"),
                priority=rule["then"].get("priority"),
                tags=tuple(rule["then"].get("tags", [])),
                assign_to=AssignTo(**rule["then"]["assign_to"])
                if "assign_to" in rule["then"]
                else None,
                agency_allowed=rule["then"].get("agency_allowed"),
                auto_answer=rule["then"].get("auto_answer"),
                escalate_to=rule["then"].get("escalate_to"),
            ),
        )
        for rule in data.get("rules") or []
    )
    precedence = data.get("precedence")
    if precedence is None:
        # Restricted kinds first so they always win, then risk flags, then intents by the guide.
        ordered = [k for k in RISK_FLAGS + INTENTS if k in kinds]
        ordered = list(dict.fromkeys(ordered))
        precedence = [k for k in ordered if kinds[k].restricted] + [
            k for k in ordered if not kinds[k].restricted
        ]
    return Policy(
        version=int(data["version"]),
        name=data["name"],
        description=data.get("description", ""),
        departments=departments,
        agencies=agencies,
        kinds=kinds,
        precedence=tuple(precedence),
        queues=queues,
        rules=rules,
        sla_warning_percent=data.get("sla_warning_percent", DEFAULT_SLA_WARNING_PERCENT),
    )


# --------------------------------------------------------------------------- public API


def _check(text: str) -> tuple[Policy | None, list[PolicyIssue]]:
    data, marks, issues = _parse_yaml(text)
    if issues:
        return None, issues
    if not isinstance(data, dict):
        return None, [PolicyIssue(1, 1, "", "the policy document must be a mapping of keys")]
    schema_issues = _schema_issues(data)
    if schema_issues:
        located = []
        for path, message, at_key in schema_issues:
            line, column = marks.locate(path, at_key=at_key)
            located.append(PolicyIssue(line, column, format_path(path), message))
        return None, sorted(located, key=lambda i: (i.line, i.column, i.path, i.message))
    semantic = _Checker(data).run()
    if semantic:
        return None, _to_issues(semantic, marks)
    return _build(data), []


def validate_policy_text(text: str) -> list[PolicyIssue]:
    """Every problem in a policy document, sorted by line; empty when the policy is valid."""
    return _check(text)[1]


def load_policy(text: str) -> Policy:
    """Parse and check a policy document; raises :class:`PolicyError` with line-precise issues."""
    policy, issues = _check(text)
    if policy is None:
        raise PolicyError(issues)
    return policy


def default_policy_text() -> str:
    """The policy Townhall ships: ownership as PRODUCT.md recommends, with comments."""
    return (_DEFAULTS / "default_policy.yaml").read_text("utf-8")


@cache
def default_policy() -> Policy:
    return load_policy(default_policy_text())


def _without_empty(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value not in (None, [], {}, "")}


def _names(values: tuple[str, ...]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


def _any_all_none_document(value: AnyAllNone | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return _without_empty(
        {"any": list(value.any_of), "all": list(value.all_of), "none": list(value.none_of)}
    )


def _rule_document(rule: Rule) -> dict[str, Any]:
    when = rule.when
    window: dict[str, Any] | None = None
    if when.time is not None:
        window = {"timezone": when.time.timezone}
        if when.time.days != WEEKDAYS:
            window["days"] = list(when.time.days)
        if (when.time.start_minute, when.time.end_minute) != (0, 1440):
            window["hours"] = (
                f"{format_clock(when.time.start_minute)}-{format_clock(when.time.end_minute)}"
            )
    score = when.sentiment_score
    contact = when.contact
    conditions = _without_empty(
        {
            "intent": _names(when.intents) if when.intents else None,
            "kind": _names(when.kinds) if when.kinds else None,
            "risk_flags": _any_all_none_document(when.risk_flags),
            "sentiment": _names(when.sentiments) if when.sentiments else None,
            "sentiment_score": score.model_dump(exclude_none=True) if score else None,
            "language": _names(when.languages) if when.languages else None,
            "platform": _names(when.platforms) if when.platforms else None,
            "keywords": _any_all_none_document(when.keywords),
            "contact": contact.model_dump(exclude_none=True) if contact else None,
            "time": window,
        }
    )
    then = rule.then
    actions = _without_empty(
        {
            "queue": then.queue,
            "priority": then.priority,
            "tags": list(then.tags),
            "assign_to": then.assign_to.model_dump(exclude_none=True) if then.assign_to else None,
            "escalate_to": then.escalate_to,
        }
    )
    if then.agency_allowed is False:
        actions["agency_allowed"] = False
    if then.auto_answer is False:
        actions["auto_answer"] = False
    document: dict[str, Any] = {"id": rule.id}
    if rule.description:
        document["description"] = rule.description
    if not rule.enabled:
        document["enabled"] = False
    if rule.stop:
        document["stop"] = True
    if conditions:
        document["when"] = conditions
    document["then"] = actions
    return document


def _kind_document(kind: KindPolicy) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if kind.description:
        document["description"] = kind.description
    document["owner"] = kind.owner
    if kind.contributors:
        document["contributors"] = list(kind.contributors)
    document["agency_allowed"] = kind.agency_allowed
    document["visibility"] = kind.visibility
    if kind.priority != "normal":
        document["priority"] = kind.priority
    if kind.auto_answer:
        document["auto_answer"] = True
    document["sla"] = kind.sla.model_dump()
    escalation = kind.escalation.model_dump(exclude_none=True)
    if escalation:
        document["escalation"] = escalation
    return document


def _team_document(team: Team) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if team.description:
        document["description"] = team.description
    document["hours"] = team.hours.to_mapping()
    return document


def policy_document(policy: Policy) -> dict[str, Any]:
    """The policy as plain data in the shape of the YAML document."""
    document: dict[str, Any] = {"version": policy.version, "name": policy.name}
    if policy.description:
        document["description"] = policy.description
    document["departments"] = {n: _team_document(t) for n, t in policy.departments.items()}
    if policy.agencies:
        document["agencies"] = {n: _team_document(t) for n, t in policy.agencies.items()}
    document["precedence"] = list(policy.precedence)
    if policy.sla_warning_percent != DEFAULT_SLA_WARNING_PERCENT:
        document["sla_warning_percent"] = policy.sla_warning_percent
    document["kinds"] = {name: _kind_document(kind) for name, kind in policy.kinds.items()}
    document["queues"] = [
        _without_empty(
            {
                "name": queue.name,
                "description": queue.description,
                "agency" if queue.is_agency else "department": queue.team,
            }
        )
        | {"kinds": list(queue.kinds)}
        | ({"assignment": queue.assignment} if queue.assignment != "manual" else {})
        for queue in policy.queues
    ]
    if policy.rules:
        document["rules"] = [_rule_document(rule) for rule in policy.rules]
    return document


def dump_policy(policy: Policy) -> str:
    """Write a policy as a YAML document that :func:`load_policy` reads back to an equal policy.

    Comments of the original document are not kept.
    """
    return yaml.safe_dump(
        policy_document(policy),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=100,
    )


# --------------------------------------------------------------------------- diff


ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """One reviewable difference between two policies."""

    section: str  # "policy", "department", "agency", "kind", "queue" or "rule"
    key: str  # the department, kind or queue name or the rule id; "" for the policy itself
    field: str  # dotted field inside the entry; "" when the whole entry was added or removed
    change: ChangeKind
    old: str | None
    new: str | None

    @property
    def message(self) -> str:
        subject = f"{self.section} {self.key}" if self.key else self.section
        if not self.field:
            return f"{subject} {self.change}"
        if self.change == "added":
            return f"{subject}: {self.field} set to {self.new}"
        if self.change == "removed":
            return f"{subject}: {self.field} removed (was {self.old})"
        message = f"{subject}: {self.field} changed from {self.old} to {self.new}"
        if self.section == "kind" and self.field == "agency_allowed":
            where = "the agency may now handle it" if self.new == "true" else "now in-house only"
            message += f" ({where})"
        return message

    def __str__(self) -> str:
        return self.message


def _scalar(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return str(value)


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, _scalar(value)


def _diff_entries(
    section: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[PolicyChange]:
    changes: list[PolicyChange] = []
    for key in old:
        if key not in new:
            changes.append(PolicyChange(section, key, "", "removed", None, None))
    for key, entry in new.items():
        if key not in old:
            changes.append(PolicyChange(section, key, "", "added", None, None))
            continue
        before, after = dict(_flatten(old[key])), dict(_flatten(entry))
        for field in before:
            if field not in after:
                changes.append(PolicyChange(section, key, field, "removed", before[field], None))
            elif before[field] != after[field]:
                changes.append(
                    PolicyChange(section, key, field, "changed", before[field], after[field])
                )
        for field in after:
            if field not in before:
                changes.append(PolicyChange(section, key, field, "added", None, after[field]))
    return changes


def diff_policies(old: Policy, new: Policy) -> list[PolicyChange]:
    """What changed from ``old`` to ``new``, per kind, queue, rule and team field."""
    before, after = policy_document(old), policy_document(new)
    changes: list[PolicyChange] = []
    for field in ("version", "name", "description", "precedence", "sla_warning_percent"):
        old_value, new_value = before.get(field), after.get(field)
        if old_value != new_value:
            changes.append(
                PolicyChange("policy", "", field, "changed", _scalar(old_value), _scalar(new_value))
            )
    changes += _diff_entries("department", before["departments"], after["departments"])
    changes += _diff_entries("agency", before.get("agencies", {}), after.get("agencies", {}))

    def kinds_with_queue(policy: Policy, document: dict[str, Any]) -> dict[str, Any]:
        # The default queue belongs to the queue entries, but reviewers ask "where does X go?".
        return {
            name: entry | {"queue": policy.default_queue(name).name}
            for name, entry in document["kinds"].items()
        }

    changes += _diff_entries("kind", kinds_with_queue(old, before), kinds_with_queue(new, after))
    old_queues = {queue.pop("name"): queue for queue in before["queues"]}
    new_queues = {queue.pop("name"): queue for queue in after["queues"]}
    changes += _diff_entries("queue", old_queues, new_queues)
    old_rules = {rule.pop("id"): rule for rule in before.get("rules", [])}
    new_rules = {rule.pop("id"): rule for rule in after.get("rules", [])}
    changes += _diff_entries("rule", old_rules, new_rules)
    # Rules apply in order, so moving one is a change even if its text is the same.
    common_old = [rule_id for rule_id in old_rules if rule_id in new_rules]
    common_new = [rule_id for rule_id in new_rules if rule_id in old_rules]
    for rule_id in common_new:
        old_position, new_position = common_old.index(rule_id), common_new.index(rule_id)
        if old_position != new_position:
            changes.append(
                PolicyChange(
                    "rule",
                    rule_id,
                    "position",
                    "changed",
                    str(old_position + 1),
                    str(new_position + 1),
                )
            )
    return changes
