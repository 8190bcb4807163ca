"""Terminal commands of the advisor: ``townhall staffing`` and ``townhall audit``."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from townhall.advisor.erlang import StaffingInputError, staffing
from townhall.advisor.report import GOALS, build_report, render_html
from townhall.advisor.sample import UnderstandingLike, audit_items, inbound_only
from townhall.advisor.schemas import AuditReport
from townhall.conversations.readers import read_file
from townhall.conversations.schemas import RowError


def _option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def staffing_command(
    arrivals_per_hour: Annotated[
        float, typer.Option("--arrivals-per-hour", help="Conversations arriving per hour.")
    ],
    handle_minutes: Annotated[
        float, typer.Option("--handle-minutes", help="Average minutes to handle one.")
    ],
    target_percent: Annotated[
        float, typer.Option("--target-percent", help="Share to answer in time, e.g. 80.")
    ],
    within_minutes: Annotated[
        float, typer.Option("--within-minutes", help="The response-time target in minutes.")
    ],
    shrinkage: Annotated[
        float,
        typer.Option("--shrinkage", help="Share of paid time agents are not available, 0–0.99."),
    ] = 0.0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """How many agents a queue needs to meet its response-time target (Erlang C)."""
    try:
        result = staffing(
            arrivals_per_hour, handle_minutes, target_percent, within_minutes, shrinkage
        )
    except StaffingInputError as error:
        # BadParameter exits with code 2 and names the option, like any other usage error.
        raise typer.BadParameter(error.reason, param_hint=_option_name(error.field)) from error
    if json_output:
        payload = {**result.to_dict(), "target_percent": target_percent}
        payload["within_minutes"] = within_minutes
        payload["arrivals_per_hour"] = arrivals_per_hour
        payload["handle_minutes"] = handle_minutes
        payload["shrinkage"] = shrinkage
        typer.echo(json.dumps(payload))
        return
    table = Table(
        title=(
            f"Staffing for {arrivals_per_hour:g} arrivals/hour, {handle_minutes:g} min each, "
            f"{target_percent:g}% within {within_minutes:g} min"
        )
    )
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    table.add_row("Agents on duty", str(result.agents))
    table.add_row("Service level", f"{result.service_level * 100:.1f}%")
    table.add_row("Average speed of answer", f"{result.asa_minutes:.2f} min")
    table.add_row("Occupancy", f"{result.occupancy * 100:.1f}%")
    table.add_row("Traffic", f"{result.traffic_erlangs:.2f} Erlangs")
    table.add_row(f"FTE (shrinkage {shrinkage * 100:g}%)", f"{result.fte:.2f}")
    Console().print(table)


def _understand(texts: list[str]) -> list[UnderstandingLike]:
    """Classify with the shipped models; imported late because loading them is slow."""
    # importlib keeps this module importable (and type-checkable) without the models.
    try:
        module = importlib.import_module("townhall.understanding")
    except ImportError as error:
        raise RuntimeError(f"the understanding models are not available ({error})") from error
    get_understander = getattr(module, "get_understander", None)
    if get_understander is None:
        raise RuntimeError("the understanding models are not available")
    return list(get_understander().understand(texts))


def audit_command(
    path: Annotated[
        Path, typer.Argument(help="Interchange file (JSON Lines or CSV) of sample conversations.")
    ],
    in_house_cost_per_hour: Annotated[
        float, typer.Option("--in-house-cost-per-hour", help="Cost of one paid agent hour.")
    ],
    agency_cost_per_conversation: Annotated[
        float, typer.Option("--agency-cost-per-conversation", help="What the agency charges.")
    ],
    goal: Annotated[
        list[str] | None,
        typer.Option("--goal", help="leads, support_cost or perception; repeat for several."),
    ] = None,
    target_percent: Annotated[
        float, typer.Option("--target-percent", help="Share answered within the SLA.")
    ] = 80.0,
    shrinkage: Annotated[
        float, typer.Option("--shrinkage", help="Unavailable share of paid time.")
    ] = 0.0,
    timezone: Annotated[str, typer.Option("--timezone", help="The organisation's zone.")] = "UTC",
    currency: Annotated[str, typer.Option("--currency")] = "EUR",
    organisation: Annotated[str, typer.Option("--organisation")] = "",
    html_path: Annotated[Path | None, typer.Option("--html", help="Write the report here.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the JSON here.")] = None,
) -> None:
    """Audit a sample of conversations: mix, arrivals, staffing, cost and an operating model."""
    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a file", param_hint="PATH")
    goals = goal or list(GOALS)
    unknown = [name for name in goals if name not in GOALS]
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; choose from {GOALS}", param_hint="--goal")
    rows, errors = [], 0
    for _line, parsed in read_file(str(path)):
        if isinstance(parsed, RowError):
            errors += 1
            typer.echo(f"line {parsed.line}: {parsed.field or 'row'}: {parsed.reason}", err=True)
        else:
            rows.append(parsed)
    rows = inbound_only(rows)
    if not rows:
        typer.echo("No inbound conversations to audit.", err=True)
        raise typer.Exit(1)
    try:
        understood = _understand([row.text for row in rows])
        report = build_report(
            audit_items(rows, understood),
            goals,
            in_house_cost_per_hour,
            agency_cost_per_conversation,
            target_percent=target_percent,
            shrinkage=shrinkage,
            timezone=timezone,
            currency=currency,
            organisation=organisation,
        )
    except (ValueError, RuntimeError) as error:
        typer.echo(f"Cannot audit: {error}", err=True)
        raise typer.Exit(1) from error
    if html_path is not None:
        html_path.write_text(render_html(report), encoding="utf-8")
    if json_path is not None:
        json_path.write_text(report.to_json(), encoding="utf-8")
    _print_summary(report, skipped=errors)


def _print_summary(report: AuditReport, skipped: int) -> None:
    table = Table(title=f"Ownership audit: {report.mix.conversations} conversations")
    table.add_column("Finding")
    table.add_column("Value")
    model, staffing_ = report.model, report.staffing
    table.add_row(
        "Lead department",
        f"{model.lead.subject} ({model.lead.figures['workload_share']:.1%} of work)",
    )
    table.add_row("Contributing", ", ".join(d.subject for d in model.contributors) or "none")
    table.add_row("Agency may take", ", ".join(d.subject for d in model.agency_takes) or "nothing")
    table.add_row("Peak agents (all queues)", str(staffing_.peak_agents_total))
    table.add_row(
        "Weekly cost, recommended",
        f"{staffing_.currency} {staffing_.recommended_cost_per_week:,.2f} "
        f"(all in-house {staffing_.all_in_house_cost_per_week:,.2f})",
    )
    if skipped:
        table.add_row("Rows skipped", str(skipped))
    Console().print(table)
