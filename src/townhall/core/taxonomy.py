"""The default kinds of conversation, risk flags and the departments that own them."""

from __future__ import annotations

from dataclasses import dataclass

# Ordered by the labelling priority of the guide: when two kinds fit, the first wins.
INTENTS: tuple[str, ...] = (
    "threat",
    "impersonation_phishing",
    "protest",
    "employee_conduct",
    "press_inquiry",
    "sales_lead",
    "strategic",
    "complaint",
    "support_request",
    "feedback_praise",
    "campaign_reply",
    "spam",
    "other",
)

# Risk flags a message can carry besides its intent (a complaint can also be offensive).
RISK_FLAGS: tuple[str, ...] = (
    "threat",
    "impersonation_phishing",
    "protest",
    "confidential_disclosure",
    "offensive",
    "self_harm",
    "legal_threat",
)

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
URGENCIES: tuple[str, ...] = ("low", "normal", "high", "critical")

DEPARTMENTS: tuple[str, ...] = (
    "Customer Service",
    "Marketing",
    "Sales",
    "PR",
    "Risk",
    "HR",
    "Legal",
    "Leadership",
)


@dataclass(frozen=True)
class KindDefaults:
    """What PRODUCT.md says about one kind of conversation, before any policy is written."""

    intent: str
    owner: str | None
    agency_allowed: bool
    restricted: bool
    first_response_minutes: int


# Strategic, PR, Risk and HR never go to the agency; routine support may.
DEFAULT_OWNERSHIP: dict[str, KindDefaults] = {
    k.intent: k
    for k in (
        KindDefaults("threat", "Risk", False, True, 15),
        KindDefaults("impersonation_phishing", "Risk", False, True, 30),
        KindDefaults("protest", "Risk", False, True, 60),
        KindDefaults("employee_conduct", "HR", False, True, 240),
        KindDefaults("press_inquiry", "PR", False, False, 30),
        KindDefaults("sales_lead", "Sales", False, False, 60),
        KindDefaults("strategic", "Leadership", False, False, 480),
        KindDefaults("complaint", "Customer Service", False, False, 60),
        KindDefaults("support_request", "Customer Service", True, False, 60),
        KindDefaults("feedback_praise", "Marketing", True, False, 480),
        KindDefaults("campaign_reply", "Marketing", True, False, 480),
        KindDefaults("spam", None, True, False, 1440),
        KindDefaults("other", "Customer Service", True, False, 1440),
    )
}
