"""The ownership audit's input item and its report, as plain data that serialises to JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Figures = dict[str, float | int | str]
Handler = Literal["agency", "in_house"]

GOALS: tuple[str, ...] = ("leads", "support_cost", "perception")
# What an in-house agent hour and an agency conversation cost when the organisation does not
# say: a loaded hourly cost of a European social-care agent and a typical per-conversation
# agency rate. Override both with the organisation's own figures.
DEFAULT_IN_HOUSE_COST_PER_HOUR = 35.0
DEFAULT_AGENCY_COST_PER_CONVERSATION = 4.0


@dataclass(frozen=True)
class AuditItem:
    """One classified message from the sample; the caller has already understood it."""

    platform: str
    created_at: datetime
    thread_id: str
    intent: str
    sentiment: str
    language: str
    risk_flags: tuple[str, ...] = field(default_factory=tuple)
    text: str = ""


@dataclass(frozen=True)
class AuditOptions:
    """The choices an audit is run with; the same for the command and the web page."""

    goals: tuple[str, ...] = GOALS
    in_house_cost_per_hour: float = DEFAULT_IN_HOUSE_COST_PER_HOUR
    agency_cost_per_conversation: float = DEFAULT_AGENCY_COST_PER_CONVERSATION
    target_percent: float = 80.0
    shrinkage: float = 0.0
    timezone: str = "UTC"
    currency: str = "EUR"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Share(_Model):
    label: str
    count: int
    share: float


class KindCount(_Model):
    intent: str
    owner: str | None
    count: int
    share: float


class PlatformMix(_Model):
    platform: str
    conversations: int
    messages: int
    share_of_conversations: float
    by_intent: list[KindCount]
    sentiment: list[Share]


class Example(_Model):
    platform: str
    created_at: datetime
    text: str


class KindExamples(_Model):
    intent: str
    examples: list[Example]


class Mix(_Model):
    """What the audience uses each channel for. Kinds count conversations; sentiment counts messages."""

    conversations: int
    messages: int
    overall: list[KindCount]
    platforms: list[PlatformMix]
    sentiment: list[Share]
    languages: list[Share]
    risk_flagged_conversations: int
    risk_flags: list[Share]
    examples: list[KindExamples]


class Peak(_Model):
    day: str
    day_index: int
    hour: int
    arrivals_per_hour: float


class Arrivals(_Model):
    """Average conversations arriving per hour of the week (Monday first, local hours)."""

    timezone: str
    sample_start: datetime
    sample_end: datetime
    days_in_sample: int
    weeks_in_sample: float
    days_observed_per_weekday: list[int]
    conversations_per_week: float
    matrix: list[list[float]]
    peaks: list[Peak]


class KindStaffing(_Model):
    intent: str
    owner: str
    agency_allowed: bool
    restricted: bool
    handle_minutes: float
    first_response_minutes: float
    target_percent: float
    conversations_per_week: float
    workload_hours_per_week: float
    staffed_hours_per_week: int
    paid_hours_per_week: float
    peak_agents: int
    peak: Peak | None
    agents_by_hour: list[list[int]]
    in_house_cost_per_week: float
    agency_cost_per_week: float | None
    cheaper: Handler | None


class DepartmentLoad(_Model):
    department: str
    conversations_per_week: float
    workload_hours_per_week: float
    workload_share: float
    staffed_hours_per_week: int
    in_house_cost_per_week: float


class Staffing(_Model):
    target_percent: float
    shrinkage: float
    currency: str
    in_house_cost_per_hour: float
    agency_cost_per_conversation: float
    kinds: list[KindStaffing]
    departments: list[DepartmentLoad]
    agents_by_hour_total: list[list[int]]
    peak_agents_total: int
    staffed_hours_per_week: int
    workload_hours_per_week: float
    all_in_house_cost_per_week: float
    recommended_cost_per_week: float
    saving_per_week: float


class Decision(_Model):
    """One recommendation with the reasoning and the figures that support it."""

    subject: str
    reason: str
    figures: Figures = Field(default_factory=dict)


class QueueSla(_Model):
    queue: str
    owner: str | None
    handler: Handler
    restricted: bool
    first_response_minutes: float
    target_percent: float
    conversations_per_week: float
    peak_agents: int


class Kpi(_Model):
    goal: str
    name: str
    definition: str
    baseline: float | None
    unit: str
    target: str
    figures: Figures = Field(default_factory=dict)


class OperatingModel(_Model):
    lead: Decision
    contributors: list[Decision]
    agency_takes: list[Decision]
    stays_in_house: list[Decision]
    queues: list[QueueSla]
    kpis: list[Kpi]


class Assumptions(_Model):
    handle_minutes: dict[str, float]
    first_response_minutes: dict[str, float]
    target_percent: float
    shrinkage: float
    phone_handle_minutes: float
    contributor_min_share: float
    high_volume_per_week: float
    currency: str


class AuditReport(_Model):
    title: str
    organisation: str
    generated_at: datetime
    goals: list[str]
    assumptions: Assumptions
    warnings: list[str]
    mix: Mix
    arrivals: Arrivals
    staffing: Staffing
    model: OperatingModel
    policy_yaml: str
    policy_source: str

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)
