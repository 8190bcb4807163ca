"""Terminal commands of the advisor: ``townhall staffing`` and ``townhall audit``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from townhall import db
from townhall.advisor.erlang import StaffingInputError, staffing
from townhall.advisor.queries import org_audit, organisation_named
from townhall.advisor.report import (
    AuditOptionError,
    audit,
    check_options,
    parse_goals,
    render_html,
)
from townhall.advisor.sample import UnderstandingLike, audit_items, inbound_only, understand
from townhall.advisor.schemas import (
    DEFAULT_AGENCY_COST_PER_CONVERSATION,
    DEFAULT_IN_HOUSE_COST_PER_HOUR,
    GOALS,
    AuditOptions,
    AuditReport,
)
from townhall.config import get_settings
from townhall.conversations.readers import read_file
from townhall.conversations.schemas import InboundItem, RowError


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


def _understand(texts: Sequence[str]) -> Sequence[UnderstandingLike]:
    """Classify with the shipped models in one batch (a seam for tests)."""
    return understand(texts)


# How many rejected rows are listed one by one before the rest are only counted.
_SHOWN_REJECTIONS = 20


def audit_command(
    report_path: Annotated[
        Path,
        typer.Option("--report", "--html", help="Write the HTML report here.", show_default=False),
    ],
    path: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="Interchange file (JSON Lines or CSV) of sample conversations.",
            show_default=False,
        ),
    ] = None,
    from_db: Annotated[
        bool,
        typer.Option("--from-db", help="Audit the organisation's stored conversations instead."),
    ] = False,
    org: Annotated[
        str | None,
        typer.Option("--org", help="Organisation slug for --from-db (default: TOWNHALL_ORG_SLUG)."),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, help="With --from-db: only the last N days (default: all)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report's JSON (every figure) here.")
    ] = None,
    goals: Annotated[
        str | None,
        typer.Option(
            "--goals", help="Comma-separated: leads,support_cost,perception (default all)."
        ),
    ] = None,
    goal: Annotated[
        list[str] | None,
        typer.Option("--goal", help="One goal; repeat for several (same as --goals)."),
    ] = None,
    in_house_cost_per_hour: Annotated[
        float, typer.Option("--in-house-cost-per-hour", help="Cost of one paid agent hour.")
    ] = DEFAULT_IN_HOUSE_COST_PER_HOUR,
    agency_cost_per_conversation: Annotated[
        float,
        typer.Option("--agency-cost-per-conversation", help="What the agency charges per one."),
    ] = DEFAULT_AGENCY_COST_PER_CONVERSATION,
    target_percent: Annotated[
        float, typer.Option("--target-percent", help="Share answered within the SLA.")
    ] = 80.0,
    shrinkage: Annotated[
        float, typer.Option("--shrinkage", help="Unavailable share of paid time, 0–0.99.")
    ] = 0.0,
    timezone: Annotated[str, typer.Option("--timezone", help="The organisation's zone.")] = "UTC",
    currency: Annotated[str, typer.Option("--currency")] = "EUR",
    organisation: Annotated[
        str, typer.Option("--organisation", help="Name on the report (default: from the DB).")
    ] = "",
    file_format: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the file name).")
    ] = None,
) -> None:
    """Audit a sample of conversations: mix, arrivals, staffing, cost and an operating model."""
    if (path is None) == (not from_db):
        raise typer.BadParameter(
            "give an interchange FILE or --from-db (one of them)", param_hint="FILE / --from-db"
        )
    if path is not None and not path.is_file():
        raise typer.BadParameter(f"{path} is not a file", param_hint="FILE")
    if file_format not in (None, "jsonl", "csv"):
        raise typer.BadParameter("must be jsonl or csv", param_hint="--format")
    for hint, value in (("--org", org), ("--days", days)):
        if value is not None and not from_db:
            raise typer.BadParameter("only applies with --from-db", param_hint=hint)
    for hint, out in (("--report", report_path), ("--json", json_path)):
        if out is not None and (out.is_dir() or not out.parent.is_dir()):
            raise typer.BadParameter(f"cannot write {out}: no such folder", param_hint=hint)
    try:
        options = AuditOptions(
            goals=parse_goals([*(goal or []), goals or ""]) or GOALS,
            in_house_cost_per_hour=in_house_cost_per_hour,
            agency_cost_per_conversation=agency_cost_per_conversation,
            target_percent=target_percent,
            shrinkage=shrinkage,
            timezone=timezone,
            currency=currency,
        )
        check_options(options)
    except AuditOptionError as error:
        raise typer.BadParameter(error.reason, param_hint=_option_name(error.field)) from error

    if path is not None:
        report = _audit_file(path, file_format, options, organisation)
    else:
        report = _audit_db(org or get_settings().org_slug, days, options, organisation)
    report_path.write_text(render_html(report), encoding="utf-8")
    if json_path is not None:
        json_path.write_text(report.to_json(), encoding="utf-8")
    _print_summary(report)
    written = f"Report written to {report_path}" + (f" and {json_path}" if json_path else "")
    typer.echo(written + ".")


def _audit_file(
    path: Path, file_format: str | None, options: AuditOptions, organisation: str
) -> AuditReport:
    rows: list[InboundItem] = []
    rejected: list[RowError] = []
    for _line, parsed in read_file(str(path), file_format):  # type: ignore[arg-type]
        if isinstance(parsed, RowError):
            rejected.append(parsed)
            if len(rejected) <= _SHOWN_REJECTIONS:
                typer.echo(f"rejected {parsed}", err=True)
        else:
            rows.append(parsed)
    if len(rejected) > _SHOWN_REJECTIONS:
        typer.echo(f"… and {len(rejected) - _SHOWN_REJECTIONS} more rejected rows", err=True)
    inbound = inbound_only(rows)
    if not inbound:
        raise typer.BadParameter(
            f"{path} holds no usable inbound conversations "
            f"({len(rejected)} rows rejected, {len(rows) - len(inbound)} outbound)",
            param_hint="FILE",
        )
    notes = []
    if rejected:
        lines = ", ".join(str(error.line) for error in rejected[:_SHOWN_REJECTIONS])
        more = "…" if len(rejected) > _SHOWN_REJECTIONS else ""
        notes.append(
            f"{len(rejected)} rows of {path.name} were rejected (lines {lines}{more}); "
            f"the audit used the other {len(rows)}."
        )
    try:
        understood = _understand([row.text for row in inbound])
        return audit(
            audit_items(inbound, understood), options, organisation=organisation, notes=notes
        )
    except ValueError as error:
        typer.echo(f"Cannot audit: {error}", err=True)
        raise typer.Exit(1) from error


def _audit_db(slug: str, days: int | None, options: AuditOptions, organisation: str) -> AuditReport:
    try:
        with db.session_factory()() as session:
            org = organisation_named(session, slug)
            if org is None:
                raise typer.BadParameter(
                    f"no organisation '{slug}' (run `townhall init` or `townhall demo` first)",
                    param_hint="--org",
                )
            report = org_audit(session, org.id, options, _understand, days=days)
    except SQLAlchemyError as error:
        typer.echo(
            f"Cannot read the database ({type(error).__name__}); run `townhall db upgrade`?",
            err=True,
        )
        raise typer.Exit(1) from error
    except ValueError as error:
        typer.echo(f"Cannot audit: {error}", err=True)
        raise typer.Exit(1) from error
    if report is None:
        typer.echo(f"Organisation '{slug}' has no stored inbound conversations to audit.", err=True)
        raise typer.Exit(1)
    if organisation:
        report = report.model_copy(update={"organisation": organisation})
    return report


def _print_summary(report: AuditReport) -> None:
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
    for warning in report.warnings:
        table.add_row("Note", warning)
    Console().print(table)
