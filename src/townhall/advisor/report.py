"""The ownership audit: from classified sample conversations to a recommended operating model."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from townhall.advisor.erlang import StaffingResult, check_staffing_inputs, staffing_by_hour
from townhall.advisor.policy_draft import draft_policy_yaml
from townhall.advisor.render import render_report_html
from townhall.advisor.schemas import (
    GOALS,
    Arrivals,
    Assumptions,
    AuditItem,
    AuditOptions,
    AuditReport,
    Decision,
    DepartmentLoad,
    Example,
    Handler,
    KindCount,
    KindExamples,
    KindStaffing,
    Kpi,
    Mix,
    OperatingModel,
    Peak,
    PlatformMix,
    QueueSla,
    Share,
    Staffing,
)
from townhall.core.taxonomy import DEFAULT_OWNERSHIP, INTENTS, RISK_FLAGS, SENTIMENTS
from townhall.core.time import utcnow

DAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Average minutes of agent work per conversation (reading, looking things up, replying,
# follow-ups in the thread). Industry ballparks for social care; override with real data.
DEFAULT_HANDLE_MINUTES: dict[str, float] = {
    "threat": 20.0,  # assess, preserve evidence, maybe call law enforcement
    "impersonation_phishing": 15.0,  # verify, report the account, warn customers
    "protest": 20.0,
    "employee_conduct": 20.0,
    "press_inquiry": 15.0,  # find the spokesperson, agree a statement
    "sales_lead": 10.0,  # qualify and hand over to the CRM
    "strategic": 20.0,
    "complaint": 12.0,
    "support_request": 6.0,  # routine: password, webinar date, known errors
    "feedback_praise": 2.0,
    "campaign_reply": 2.0,
    "spam": 0.5,
    "other": 3.0,
}

# Risk flags that make a conversation belong to a stricter kind, whatever it was asking;
# the risk kinds head the taxonomy's priority order, so "the first kind wins" holds.
FLAG_TO_KIND: dict[str, str] = {
    "threat": "threat",
    "impersonation_phishing": "impersonation_phishing",
    "protest": "protest",
    "confidential_disclosure": "employee_conduct",
}
# Flags that bring a department into the team without changing who owns the conversation.
FLAG_TO_DEPARTMENT: dict[str, str] = {
    "offensive": "Risk",
    "self_harm": "Risk",
    "legal_threat": "Legal",
}

# Why a kind must stay in-house, from PRODUCT.md; used when the policy forbids the agency.
IN_HOUSE_REASONS: dict[str, str] = {
    "threat": "Risk: threats against people and locations may need law enforcement; restricted queue, never outsourced.",
    "impersonation_phishing": "Risk: brand impersonation and phishing need takedowns and customer warnings; restricted queue, never outsourced.",
    "protest": "Risk: planned protests need security planning; restricted queue, never outsourced.",
    "employee_conduct": "HR: employees' conduct and confidential disclosures are restricted to HR, never outsourced.",
    "press_inquiry": "PR: journalists expect the organisation itself to answer, fast; never outsourced.",
    "sales_lead": "Sales: buying signals and nurturing belong to the people who own the customer relationship.",
    "strategic": "Leadership: strategic questions about the market, direction and products are never outsourced.",
    "complaint": "Customer Service: complaints are customer-experience leadership, which stays in-house.",
}

_PRESS_KINDS = frozenset({"press_inquiry"})
_RISK_KINDS = frozenset({"threat", "impersonation_phishing", "protest", "employee_conduct"})
_EXAMPLE_CHARS = 240


class AuditOptionError(ValueError):
    """An audit option is out of range; ``field`` names the option."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_goals(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"leads, perception"`` (or a list of names) as goals in the given order, checked."""
    parts = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    goals = tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))
    unknown = [goal for goal in goals if goal not in GOALS]
    if unknown:
        raise AuditOptionError(
            "goals", f"unknown {', '.join(unknown)}; choose from {', '.join(GOALS)}"
        )
    return goals


def check_options(options: AuditOptions) -> None:
    """Raise :class:`AuditOptionError` for the first option the audit cannot use."""
    parse_goals(options.goals)
    for name in ("in_house_cost_per_hour", "agency_cost_per_conversation"):
        value = getattr(options, name)
        if not math.isfinite(value) or value < 0:
            raise AuditOptionError(name, "must be a finite number, zero or more")
    if not math.isfinite(options.target_percent) or not 0 < options.target_percent < 100:
        raise AuditOptionError("target_percent", "must be between 0 and 100 (exclusive)")
    if not math.isfinite(options.shrinkage) or not 0 <= options.shrinkage < 1:
        raise AuditOptionError("shrinkage", "must be at least 0 and less than 1")
    try:
        ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise AuditOptionError(
            "timezone", f"unknown zone {options.timezone!r} (e.g. Europe/Paris)"
        ) from error
    if not 1 <= len(options.currency.strip()) <= 8:
        raise AuditOptionError("currency", "must be 1 to 8 characters, e.g. EUR")


def audit(
    items: Sequence[AuditItem],
    options: AuditOptions,
    *,
    organisation: str = "",
    period: tuple[datetime, datetime] | None = None,
    notes: Sequence[str] = (),
) -> AuditReport:
    """:func:`build_report` with checked options; ``notes`` join the report's warnings."""
    check_options(options)
    report = build_report(
        items,
        options.goals,
        options.in_house_cost_per_hour,
        options.agency_cost_per_conversation,
        target_percent=options.target_percent,
        shrinkage=options.shrinkage,
        timezone=options.timezone,
        currency=options.currency.strip(),
        organisation=organisation,
        period=period,
    )
    if notes:
        report = report.model_copy(update={"warnings": [*report.warnings, *notes]})
    return report


@dataclass(frozen=True)
class _Conversation:
    platform: str
    thread_id: str
    kind: str
    started_at: datetime
    flags: frozenset[str]
    text: str
    messages: int


def _round(value: float, digits: int = 2) -> float:
    return round(value, digits)


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def check_items(items: Sequence[AuditItem]) -> None:
    """Raise ValueError for a sample the audit cannot use."""
    if not items:
        raise ValueError("items: the sample holds no conversations")
    for index, item in enumerate(items):
        if item.created_at.tzinfo is None:
            raise ValueError(f"items[{index}].created_at has no timezone")
        if item.intent not in DEFAULT_OWNERSHIP:
            raise ValueError(f"items[{index}].intent {item.intent!r} is not a known kind")
        if item.sentiment not in SENTIMENTS:
            raise ValueError(
                f"items[{index}].sentiment {item.sentiment!r} is not one of {SENTIMENTS}"
            )
        unknown = set(item.risk_flags) - set(RISK_FLAGS)
        if unknown:
            raise ValueError(f"items[{index}].risk_flags has unknown flags {sorted(unknown)}")


def _conversations(items: Sequence[AuditItem]) -> list[_Conversation]:
    """Group messages into threads; a thread's kind is the highest-priority kind it shows."""
    priority = {intent: rank for rank, intent in enumerate(INTENTS)}
    threads: dict[tuple[str, str], list[AuditItem]] = defaultdict(list)
    for item in items:
        threads[(item.platform, item.thread_id)].append(item)
    conversations = []
    for (platform, thread_id), members in threads.items():
        members.sort(key=lambda item: item.created_at)
        flags = frozenset(flag for item in members for flag in item.risk_flags)
        candidates = [item.intent for item in members]
        candidates += [FLAG_TO_KIND[flag] for flag in flags if flag in FLAG_TO_KIND]
        kind = min(candidates, key=lambda intent: priority[intent])
        conversations.append(
            _Conversation(
                platform=platform,
                thread_id=thread_id,
                kind=kind,
                started_at=members[0].created_at,
                flags=flags,
                text=members[0].text,
                messages=len(members),
            )
        )
    conversations.sort(key=lambda conversation: (conversation.started_at, conversation.thread_id))
    return conversations


def _kind_counts(conversations: Iterable[_Conversation]) -> list[KindCount]:
    counts = Counter(conversation.kind for conversation in conversations)
    total = sum(counts.values())
    return [
        KindCount(
            intent=intent,
            owner=DEFAULT_OWNERSHIP[intent].owner,
            count=counts[intent],
            share=_share(counts[intent], total),
        )
        for intent in INTENTS
        if counts[intent]
    ]


def _shares(counter: Counter[str], order: Sequence[str] | None = None) -> list[Share]:
    total = sum(counter.values())
    labels = [label for label in order if counter[label]] if order else None
    if labels is None:
        labels = [label for label, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]
    return [
        Share(label=label, count=counter[label], share=_share(counter[label], total))
        for label in labels
    ]


def _mix(
    items: Sequence[AuditItem], conversations: Sequence[_Conversation], examples_per_kind: int
) -> Mix:
    by_platform: dict[str, list[_Conversation]] = defaultdict(list)
    for conversation in conversations:
        by_platform[conversation.platform].append(conversation)
    messages_by_platform = Counter(item.platform for item in items)
    platforms = []
    for platform in sorted(by_platform, key=lambda name: (-len(by_platform[name]), name)):
        sentiment = Counter(item.sentiment for item in items if item.platform == platform)
        platforms.append(
            PlatformMix(
                platform=platform,
                conversations=len(by_platform[platform]),
                messages=messages_by_platform[platform],
                share_of_conversations=_share(len(by_platform[platform]), len(conversations)),
                by_intent=_kind_counts(by_platform[platform]),
                sentiment=_shares(sentiment, SENTIMENTS),
            )
        )
    examples = []
    for intent in INTENTS:
        picked = [c for c in conversations if c.kind == intent and c.text.strip()][
            :examples_per_kind
        ]
        if picked:
            examples.append(
                KindExamples(
                    intent=intent,
                    examples=[
                        Example(
                            platform=c.platform,
                            created_at=c.started_at,
                            text=_truncate(c.text.strip()),
                        )
                        for c in picked
                    ],
                )
            )
    flagged = [c for c in conversations if c.flags]
    return Mix(
        conversations=len(conversations),
        messages=len(items),
        overall=_kind_counts(conversations),
        platforms=platforms,
        sentiment=_shares(Counter(item.sentiment for item in items), SENTIMENTS),
        languages=_shares(Counter(item.language or "unknown" for item in items)),
        risk_flagged_conversations=len(flagged),
        risk_flags=_shares(Counter(flag for c in flagged for flag in c.flags), RISK_FLAGS),
        examples=examples,
    )


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1].rstrip() + "…"


def _sample_days(
    conversations: Sequence[_Conversation], zone: ZoneInfo, period: tuple[datetime, datetime] | None
) -> tuple[date, date]:
    if period is not None:
        start, end = period
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("period: both ends need a timezone")
        if end <= start:
            raise ValueError("period: the end must come after the start")
        # The end is exclusive: a period ending at midnight does not include the next day.
        return start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(
            zone
        ).date()
    return (
        conversations[0].started_at.astimezone(zone).date(),
        conversations[-1].started_at.astimezone(zone).date(),
    )


def _hour_matrices(
    conversations: Sequence[_Conversation], zone: ZoneInfo, first: date, last: date
) -> tuple[list[int], dict[str, list[list[float]]]]:
    """Average arrivals per hour of the week, per kind, over the days the sample covers."""
    days = (last - first).days + 1
    observed = [0] * 7
    for offset in range(days):
        observed[(first + timedelta(days=offset)).weekday()] += 1
    counts: dict[str, list[list[int]]] = defaultdict(lambda: [[0] * 24 for _ in range(7)])
    for conversation in conversations:
        local = conversation.started_at.astimezone(zone)
        if not first <= local.date() <= last:
            continue
        counts[conversation.kind][local.weekday()][local.hour] += 1
    matrices = {
        kind: [
            [cell / observed[day] if observed[day] else 0.0 for cell in grid[day]]
            for day in range(7)
        ]
        for kind, grid in counts.items()
    }
    return observed, matrices


def _peaks(matrix: Sequence[Sequence[float]], count: int) -> list[Peak]:
    cells = [(matrix[day][hour], day, hour) for day in range(7) for hour in range(24)]
    cells = [cell for cell in cells if cell[0] > 0]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [
        Peak(day=DAYS[day], day_index=day, hour=hour, arrivals_per_hour=_round(value, 3))
        for value, day, hour in cells[:count]
    ]


def _arrivals(
    conversations: Sequence[_Conversation],
    zone: ZoneInfo,
    first: date,
    last: date,
    observed: list[int],
    matrices: Mapping[str, list[list[float]]],
    peak_count: int,
) -> Arrivals:
    total = [
        [sum(grid[day][hour] for grid in matrices.values()) for hour in range(24)]
        for day in range(7)
    ]
    rounded = [[_round(value, 3) for value in row] for row in total]
    days = (last - first).days + 1
    return Arrivals(
        timezone=str(zone),
        sample_start=datetime(first.year, first.month, first.day, tzinfo=zone),
        sample_end=datetime(last.year, last.month, last.day, tzinfo=zone) + timedelta(days=1),
        days_in_sample=days,
        weeks_in_sample=_round(days / 7, 2),
        days_observed_per_weekday=observed,
        conversations_per_week=_round(sum(map(sum, total)), 2),
        matrix=rounded,
        peaks=_peaks(total, peak_count),
    )


def _kind_staffing(
    intent: str,
    matrix: list[list[float]],
    handle_minutes: float,
    first_response_minutes: float,
    target_percent: float,
    shrinkage: float,
    in_house_cost_per_hour: float,
    agency_cost_per_conversation: float,
) -> KindStaffing:
    defaults = DEFAULT_OWNERSHIP[intent]
    assert defaults.owner is not None  # unowned kinds (spam) are filtered, not staffed
    flat = [matrix[day][hour] for day in range(7) for hour in range(24)]
    results: list[StaffingResult] = staffing_by_hour(
        flat, handle_minutes, target_percent, first_response_minutes, shrinkage
    )
    agents = [[results[day * 24 + hour].agents for hour in range(24)] for day in range(7)]
    per_week = sum(flat)
    staffed = sum(result.agents for result in results)
    paid = sum(result.fte for result in results)
    peak_agents = max(result.agents for result in results)
    peak = None
    if peak_agents:
        index = next(i for i, result in enumerate(results) if result.agents == peak_agents)
        peak = Peak(
            day=DAYS[index // 24],
            day_index=index // 24,
            hour=index % 24,
            arrivals_per_hour=_round(flat[index], 3),
        )
    in_house = _round(paid * in_house_cost_per_hour)
    agency = _round(per_week * agency_cost_per_conversation) if defaults.agency_allowed else None
    cheaper: Handler | None = None
    if agency is not None:
        cheaper = "agency" if agency < in_house else "in_house"
    return KindStaffing(
        intent=intent,
        owner=defaults.owner,
        agency_allowed=defaults.agency_allowed,
        restricted=defaults.restricted,
        handle_minutes=handle_minutes,
        first_response_minutes=first_response_minutes,
        target_percent=target_percent,
        conversations_per_week=_round(per_week),
        workload_hours_per_week=_round(per_week * handle_minutes / 60),
        staffed_hours_per_week=staffed,
        paid_hours_per_week=_round(paid),
        peak_agents=peak_agents,
        peak=peak,
        agents_by_hour=agents,
        in_house_cost_per_week=in_house,
        agency_cost_per_week=agency,
        cheaper=cheaper,
    )


def _agency_decision(kind: KindStaffing, high_volume_per_week: float) -> tuple[bool, str]:
    """Whether the agency should take an agency-allowed kind, and why."""
    assert kind.agency_cost_per_week is not None
    cheaper = kind.agency_cost_per_week < kind.in_house_cost_per_week
    high_volume = kind.conversations_per_week >= high_volume_per_week
    if cheaper and high_volume:
        return (
            True,
            "High-volume, routine traffic the agency handles for less than an in-house team.",
        )
    if cheaper:
        return True, "The agency handles this volume for less than staffing it in-house."
    if high_volume:
        return True, (
            "High-volume, routine traffic: the agency absorbs the peaks even though "
            "in-house is not dearer."
        )
    return False, "At this volume an in-house team costs no more than the agency."


def _model(
    staffing: Staffing,
    mix: Mix,
    conversations: Sequence[_Conversation],
    goals: Sequence[str],
    weekly_negative: Sequence[float],
    contributor_min_share: float,
    high_volume_per_week: float,
    phone_handle_minutes: float,
    agency_kinds: set[str],
) -> OperatingModel:
    departments = staffing.departments
    ranked = sorted(
        departments, key=lambda d: (-d.workload_hours_per_week, -d.conversations_per_week)
    )
    leader = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    reason = (
        f"{leader.department} owns the largest share of the work: "
        f"{leader.workload_share * 100:.1f}% of {staffing.workload_hours_per_week:.2f} "
        "work-hours a week. Lead the cross-functional team from there so the most common "
        "conversations set the pace, while every other kind keeps its own owner."
    )
    lead_figures: dict[str, float | int | str] = {
        "workload_share": leader.workload_share,
        "workload_hours_per_week": leader.workload_hours_per_week,
        "total_workload_hours_per_week": staffing.workload_hours_per_week,
        "conversations_per_week": leader.conversations_per_week,
    }
    if runner_up is not None:
        lead_figures["runner_up"] = runner_up.department
        lead_figures["runner_up_workload_share"] = runner_up.workload_share
    lead = Decision(subject=leader.department, reason=reason, figures=lead_figures)

    kinds_by_owner: dict[str, set[str]] = defaultdict(set)
    for kind in staffing.kinds:
        if kind.conversations_per_week > 0:
            kinds_by_owner[kind.owner].add(kind.intent)
    flag_departments: Counter[str] = Counter()
    for conversation in conversations:
        for flag in conversation.flags:
            if flag in FLAG_TO_DEPARTMENT:
                flag_departments[FLAG_TO_DEPARTMENT[flag]] += 1
            elif flag in FLAG_TO_KIND:
                owner = DEFAULT_OWNERSHIP[FLAG_TO_KIND[flag]].owner
                if owner is not None:
                    flag_departments[owner] += 1
    contributors = []
    by_name = {d.department: d for d in departments}
    for name in sorted(set(by_name) | set(flag_departments)):
        if name == leader.department:
            continue
        load = by_name.get(name)
        share = load.workload_share if load else 0.0
        owned = sorted(kinds_by_owner.get(name, set()), key=INTENTS.index)
        reasons = []
        if share >= contributor_min_share:
            reasons.append(f"owns {share * 100:.1f}% of the work-hours")
        if owned and set(owned) & _PRESS_KINDS:
            reasons.append("journalists ask for comment and need a fast, in-house answer")
        if owned and set(owned) & _RISK_KINDS:
            reasons.append("risk items arrived in the sample; they go to a restricted queue")
        if name == "Leadership" and owned:
            reasons.append("strategic questions arrived; they need a leadership voice")
        if flag_departments[name]:
            reasons.append(f"{flag_departments[name]} conversations carried risk flags for them")
        if not reasons:
            continue
        figures: dict[str, float | int | str] = {
            "workload_share": share,
            "workload_hours_per_week": load.workload_hours_per_week if load else 0.0,
            "conversations_per_week": load.conversations_per_week if load else 0.0,
            "flagged_conversations": flag_departments[name],
        }
        if owned:
            figures["kinds"] = ", ".join(owned)
        reason = "; ".join(reasons) + "."
        contributors.append(
            Decision(subject=name, reason=reason[0].upper() + reason[1:], figures=figures)
        )
    contributors.sort(key=lambda d: -float(d.figures["workload_share"]))

    agency_takes, in_house = [], []
    for kind in staffing.kinds:
        if kind.conversations_per_week <= 0:
            continue
        figures = {
            "conversations_per_week": kind.conversations_per_week,
            "in_house_cost_per_week": kind.in_house_cost_per_week,
            "staffed_hours_per_week": kind.staffed_hours_per_week,
        }
        if kind.intent in agency_kinds:
            assert kind.agency_cost_per_week is not None
            figures["agency_cost_per_week"] = kind.agency_cost_per_week
            figures["saving_per_week"] = _round(
                kind.in_house_cost_per_week - kind.agency_cost_per_week
            )
            _, why = _agency_decision(kind, high_volume_per_week)
            agency_takes.append(Decision(subject=kind.intent, reason=why, figures=figures))
            continue
        if kind.agency_allowed:
            assert kind.agency_cost_per_week is not None
            figures["agency_cost_per_week"] = kind.agency_cost_per_week
            _, why = _agency_decision(kind, high_volume_per_week)
        else:
            why = IN_HOUSE_REASONS.get(kind.intent, f"{kind.owner} keeps it in-house.")
        in_house.append(Decision(subject=kind.intent, reason=why, figures=figures))

    queues = [
        QueueSla(
            queue=kind.intent,
            owner=kind.owner,
            handler="agency" if kind.intent in agency_kinds else "in_house",
            restricted=kind.restricted,
            first_response_minutes=kind.first_response_minutes,
            target_percent=kind.target_percent,
            conversations_per_week=kind.conversations_per_week,
            peak_agents=kind.peak_agents,
        )
        for kind in staffing.kinds
    ]
    kpis = _kpis(goals, staffing, mix, weekly_negative, phone_handle_minutes)
    return OperatingModel(
        lead=lead,
        contributors=contributors,
        agency_takes=agency_takes,
        stays_in_house=in_house,
        queues=queues,
        kpis=kpis,
    )


def _kpis(
    goals: Sequence[str],
    staffing: Staffing,
    mix: Mix,
    weekly_negative: Sequence[float],
    phone_handle_minutes: float,
) -> list[Kpi]:
    by_kind = {kind.intent: kind for kind in staffing.kinds}
    kpis = []
    for goal in goals:
        if goal == "leads":
            leads = by_kind["sales_lead"].conversations_per_week if "sales_lead" in by_kind else 0.0
            share = next((k.share for k in mix.overall if k.intent == "sales_lead"), 0.0)
            kpis.append(
                Kpi(
                    goal=goal,
                    name="Leads found and accepted",
                    definition=(
                        "Buying signals routed to Sales per week, and the share Sales accepts "
                        "as a qualified lead."
                    ),
                    baseline=leads,
                    unit="leads per week",
                    target="Grow leads found week over week; accept rate reported next to it.",
                    figures={"leads_per_week": leads, "share_of_conversations": share},
                )
            )
        elif goal == "support_cost":
            support = [by_kind[k] for k in ("support_request", "complaint") if k in by_kind]
            per_week = _round(sum(k.conversations_per_week for k in support))
            social_hours = _round(sum(k.workload_hours_per_week for k in support))
            phone_hours = _round(per_week * phone_handle_minutes / 60)
            kpis.append(
                Kpi(
                    goal=goal,
                    name="Contacts resolved on social instead of by phone",
                    definition=(
                        "Support requests and complaints resolved in the social inbox, and the "
                        f"phone time they save at {phone_handle_minutes:g} minutes per call."
                    ),
                    baseline=per_week,
                    unit="contacts per week",
                    target="Resolve more on social; report phone hours saved each week.",
                    figures={
                        "contacts_per_week": per_week,
                        "phone_minutes_per_contact": phone_handle_minutes,
                        "phone_hours_saved_per_week": phone_hours,
                        "social_hours_per_week": social_hours,
                        "net_hours_saved_per_week": _round(phone_hours - social_hours),
                    },
                )
            )
        elif goal == "perception":
            negative = next((s.share for s in mix.sentiment if s.label == "negative"), 0.0)
            slope = _slope(weekly_negative)
            figures: dict[str, float | int | str] = {
                "negative_share": negative,
                "weekly_trend_points": _round(slope * 100, 2),
                "weeks": len(weekly_negative),
            }
            for week, value in enumerate(weekly_negative, start=1):
                figures[f"week_{week}_negative_share"] = value
            kpis.append(
                Kpi(
                    goal=goal,
                    name="Negative-sentiment share, week by week",
                    definition="Share of inbound messages with negative sentiment, per week.",
                    baseline=negative,
                    unit="share of messages",
                    target=(
                        "Turn the trend around: the weekly share falls for four weeks running."
                        if slope >= 0
                        else "Keep the falling trend: the weekly share keeps going down."
                    ),
                    figures=figures,
                )
            )
    return kpis


def _slope(values: Sequence[float]) -> float:
    """Least-squares slope per step; 0 for fewer than two points."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    den = sum((x - mean_x) ** 2 for x in range(n))
    return num / den


def _weekly_negative(items: Sequence[AuditItem], zone: ZoneInfo, first: date) -> list[float]:
    totals: Counter[int] = Counter()
    negatives: Counter[int] = Counter()
    for item in items:
        week = (item.created_at.astimezone(zone).date() - first).days // 7
        if week < 0:
            continue
        totals[week] += 1
        if item.sentiment == "negative":
            negatives[week] += 1
    if not totals:
        return []
    return [_share(negatives[w], totals[w]) for w in range(max(totals) + 1)]


def build_report(
    items: Sequence[AuditItem],
    goals: Sequence[str],
    in_house_cost_per_hour: float,
    agency_cost_per_conversation: float,
    *,
    target_percent: float = 80.0,
    handle_minutes: Mapping[str, float] | None = None,
    first_response_minutes: Mapping[str, float] | None = None,
    shrinkage: float = 0.0,
    phone_handle_minutes: float = 10.0,
    contributor_min_share: float = 0.05,
    high_volume_per_week: float = 200.0,
    timezone: str = "UTC",
    period: tuple[datetime, datetime] | None = None,
    currency: str = "EUR",
    organisation: str = "",
    title: str = "Social media ownership audit",
    examples_per_kind: int = 3,
    peak_count: int = 5,
    generated_at: datetime | None = None,
) -> AuditReport:
    """Audit a classified sample: mix, arrivals, staffing and cost, and an operating model.

    ``handle_minutes`` and ``first_response_minutes`` override the defaults per kind
    (:data:`DEFAULT_HANDLE_MINUTES`, the taxonomy's ``first_response_minutes``).
    ``period`` is the ``[start, end)`` the sample was drawn from; without it the sample
    spans the days from its first to its last conversation.
    """
    check_items(items)
    unknown_goals = [goal for goal in goals if goal not in GOALS]
    if unknown_goals:
        raise ValueError(f"goals: unknown {unknown_goals}; choose from {GOALS}")
    for name, value in (
        ("in_house_cost_per_hour", in_house_cost_per_hour),
        ("agency_cost_per_conversation", agency_cost_per_conversation),
        ("phone_handle_minutes", phone_handle_minutes),
        ("high_volume_per_week", high_volume_per_week),
    ):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}: must be a finite number, zero or more")
    if not 0 <= contributor_min_share <= 1:
        raise ValueError("contributor_min_share: must be between 0 and 1")
    handle = {**DEFAULT_HANDLE_MINUTES, **(handle_minutes or {})}
    response = {k: float(v.first_response_minutes) for k, v in DEFAULT_OWNERSHIP.items()}
    response.update(first_response_minutes or {})
    for mapping_name, mapping in (("handle_minutes", handle), ("first_response_minutes", response)):
        unknown = set(mapping) - set(DEFAULT_OWNERSHIP)
        if unknown:
            raise ValueError(f"{mapping_name}: unknown kinds {sorted(unknown)}")
    for intent in INTENTS:
        check_staffing_inputs(0.0, handle[intent], target_percent, response[intent], shrinkage)
    zone = ZoneInfo(timezone)

    conversations = _conversations(items)
    first, last = _sample_days(conversations, zone, period)
    observed, matrices = _hour_matrices(conversations, zone, first, last)
    mix = _mix(items, conversations, examples_per_kind)
    arrivals = _arrivals(conversations, zone, first, last, observed, matrices, peak_count)

    empty = [[0.0] * 24 for _ in range(7)]
    kinds = [
        _kind_staffing(
            intent,
            matrices.get(intent, empty),
            handle[intent],
            response[intent],
            target_percent,
            shrinkage,
            in_house_cost_per_hour,
            agency_cost_per_conversation,
        )
        for intent in INTENTS
        # Unowned kinds (spam) are filtered by the product, not answered, so need no staff.
        if DEFAULT_OWNERSHIP[intent].owner is not None
    ]
    agency_kinds = {
        kind.intent
        for kind in kinds
        if kind.agency_allowed
        and kind.conversations_per_week > 0
        and _agency_decision(kind, high_volume_per_week)[0]
    }
    total_work = sum(kind.workload_hours_per_week for kind in kinds)
    departments = []
    for owner in dict.fromkeys(kind.owner for kind in kinds):
        owned = [kind for kind in kinds if kind.owner == owner]
        work = sum(kind.workload_hours_per_week for kind in owned)
        per_week = sum(kind.conversations_per_week for kind in owned)
        if per_week <= 0:
            continue
        departments.append(
            DepartmentLoad(
                department=owner,
                conversations_per_week=_round(per_week),
                workload_hours_per_week=_round(work),
                workload_share=_share(work, total_work),
                staffed_hours_per_week=sum(kind.staffed_hours_per_week for kind in owned),
                in_house_cost_per_week=_round(sum(kind.in_house_cost_per_week for kind in owned)),
            )
        )
    if not departments:
        raise ValueError("items: the sample holds only unowned kinds (spam); nothing to staff")
    departments.sort(key=lambda d: -d.workload_hours_per_week)
    all_in_house = _round(sum(kind.in_house_cost_per_week for kind in kinds))
    recommended = _round(
        sum(
            (kind.agency_cost_per_week or 0.0)
            if kind.intent in agency_kinds
            else kind.in_house_cost_per_week
            for kind in kinds
        )
    )
    agents_total = [
        [sum(kind.agents_by_hour[day][hour] for kind in kinds) for hour in range(24)]
        for day in range(7)
    ]
    staffing = Staffing(
        target_percent=target_percent,
        shrinkage=shrinkage,
        currency=currency,
        in_house_cost_per_hour=in_house_cost_per_hour,
        agency_cost_per_conversation=agency_cost_per_conversation,
        kinds=kinds,
        departments=departments,
        agents_by_hour_total=agents_total,
        peak_agents_total=max(map(max, agents_total)),
        staffed_hours_per_week=sum(kind.staffed_hours_per_week for kind in kinds),
        workload_hours_per_week=_round(total_work),
        all_in_house_cost_per_week=all_in_house,
        recommended_cost_per_week=recommended,
        saving_per_week=_round(all_in_house - recommended),
    )
    weekly_negative = _weekly_negative(items, zone, first)
    model = _model(
        staffing,
        mix,
        conversations,
        goals,
        weekly_negative,
        contributor_min_share,
        high_volume_per_week,
        phone_handle_minutes,
        agency_kinds,
    )
    warnings = []
    if arrivals.days_in_sample < 7:
        warnings.append(
            f"The sample covers {arrivals.days_in_sample} days, less than a week: "
            "weekdays it does not cover count as quiet."
        )
    elif arrivals.days_in_sample < 28:
        warnings.append(
            f"The sample covers {arrivals.days_in_sample} days; four weeks or more give steadier "
            "hourly averages."
        )
    policy_text, policy_source = draft_policy_yaml(model)
    return AuditReport(
        title=title,
        organisation=organisation,
        generated_at=generated_at or utcnow(),
        goals=list(goals),
        assumptions=Assumptions(
            handle_minutes=handle,
            first_response_minutes=response,
            target_percent=target_percent,
            shrinkage=shrinkage,
            phone_handle_minutes=phone_handle_minutes,
            contributor_min_share=contributor_min_share,
            high_volume_per_week=high_volume_per_week,
            currency=currency,
        ),
        warnings=warnings,
        mix=mix,
        arrivals=arrivals,
        staffing=staffing,
        model=model,
        policy_yaml=policy_text,
        policy_source=policy_source,
    )


def render_html(report: AuditReport) -> str:
    """A self-contained HTML page: inline CSS and SVG, no scripts, no network, prints well."""
    return render_report_html(report)
