"""Draft an ownership-policy YAML from the audit's recommended operating model."""

from __future__ import annotations

from typing import Any

import yaml

from townhall.advisor.schemas import OperatingModel
from townhall.routing.policy import PolicyError, default_policy, load_policy, policy_document

_AGENCY_QUEUE = "Agency first line"


def draft_policy_yaml(model: OperatingModel) -> tuple[str, str]:
    """The drafted policy text and a sentence saying what it was built from.

    It starts from the policy Townhall ships and changes only what the audit has evidence
    for: which kinds seen in the sample the agency takes (and so which queue each kind
    lands in) and each kind's first-response target. The draft is checked with
    ``load_policy``; should it not pass, the shipped policy is returned unchanged.
    """
    document = policy_document(default_policy())
    issues = _apply(document, model)
    text = _header(model) + yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )
    try:
        load_policy(text)
    except PolicyError as error:
        fallback = _header(model) + yaml.safe_dump(
            policy_document(default_policy()), sort_keys=False, allow_unicode=True, width=100
        )
        return fallback, (
            "The shipped default policy, unchanged: the drafted changes did not validate "
            f"({error})."
        )
    source = (
        "The shipped default policy with the audit's changes: agency scope and "
        "first-response targets for the kinds seen in the sample. Checked with the policy "
        "validator."
    )
    if issues:
        source += " " + " ".join(issues)
    return text, source


def _header(model: OperatingModel) -> str:
    lead = model.lead
    lines = [
        "Ownership policy drafted by the Townhall ownership audit.",
        f"Lead department: {lead.subject} "
        f"({float(lead.figures.get('workload_share', 0.0)) * 100:.1f}% of the work-hours).",
        "Contributing: " + (", ".join(d.subject for d in model.contributors) or "none") + ".",
        "Agency takes: " + (", ".join(d.subject for d in model.agency_takes) or "nothing") + ".",
        "Review it with every department, then check it with `townhall policy validate`.",
    ]
    return "".join(f"# {line}\n" for line in lines)


def _apply(document: dict[str, Any], model: OperatingModel) -> list[str]:
    """Change the policy document in place; returns notes on changes made another way."""
    agency = {decision.subject for decision in model.agency_takes}
    kinds: dict[str, Any] = document["kinds"]
    seen = {q.queue for q in model.queues if q.conversations_per_week > 0 and q.queue in kinds}
    for queue in model.queues:
        if queue.queue not in kinds:
            continue
        sla = kinds[queue.queue]["sla"]
        first = max(1, round(queue.first_response_minutes))
        sla["first_response_minutes"] = first
        # A resolution target shorter than the first answer is refused by the validator.
        sla["resolution_minutes"] = max(sla["resolution_minutes"], first)
    document["name"] = f"Drafted by the ownership audit (lead: {model.lead.subject})"
    document["description"] = (
        "The shipped default policy with the agency scope and response targets the "
        "ownership audit recommends."
    )
    notes: list[str] = []
    for intent in sorted(seen):
        wanted = intent in agency
        # Kinds the sample never showed keep the shipped setting: the audit has no evidence.
        kinds[intent]["agency_allowed"] = wanted
        queues: list[dict[str, Any]] = document["queues"]
        current = next(q for q in queues if intent in q["kinds"])
        if ("agency" in current) == wanted:
            continue
        owner = kinds[intent]["owner"]
        if wanted:
            if _only_in_house_queue_of(queues, current, owner):
                # The owner needs an in-house queue to take back what a rule keeps in-house,
                # so the kind stays there and a rule sends it to the agency. Appended last:
                # the first queue a rule names wins, so the organisation's own rules come first.
                document.setdefault("rules", []).append(
                    {
                        "id": f"audit-agency-{intent.replace('_', '-')}",
                        "description": "The ownership audit recommends the agency handles these.",
                        "when": {"kind": intent},
                        "then": {"queue": _agency_queue(document)["name"]},
                    },
                )
                notes.append(f"{intent} reaches the agency through a rule.")
                continue
            target = _agency_queue(document)
        else:
            target = _in_house_queue(document, owner)
        current["kinds"].remove(intent)
        target["kinds"].append(intent)
    document["queues"] = [q for q in document["queues"] if q["kinds"]]
    return notes


def _only_in_house_queue_of(
    queues: list[dict[str, Any]], current: dict[str, Any], owner: str | None
) -> bool:
    if current.get("department") != owner or len(current["kinds"]) > 1:
        return False
    return not any(q is not current and q.get("department") == owner for q in queues)


def _agency_queue(document: dict[str, Any]) -> dict[str, Any]:
    queues: list[dict[str, Any]] = document["queues"]
    for queue in queues:
        if "agency" in queue:
            return queue
    agencies: dict[str, Any] = document.setdefault("agencies", {})
    if not agencies:
        agencies["Agency"] = {"hours": "24/7"}
    queue = {"name": _AGENCY_QUEUE, "agency": next(iter(agencies)), "kinds": []}
    queues.append(queue)
    return queue


def _in_house_queue(document: dict[str, Any], owner: str) -> dict[str, Any]:
    queues: list[dict[str, Any]] = document["queues"]
    for queue in queues:
        if queue.get("department") == owner:
            return queue
    queue = {"name": owner, "department": owner, "kinds": []}
    queues.append(queue)
    return queue
