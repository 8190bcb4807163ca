"""``townhall policy``: validate, apply, diff, show and simulate ownership policies."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from townhall import db
from townhall.config import get_settings
from townhall.core.time import utcnow
from townhall.governance.models import Organisation
from townhall.routing.policy import (
    Policy,
    PolicyError,
    default_policy,
    diff_policies,
    load_policy,
)

policy_app = typer.Typer(
    help="The ownership policy: who owns each kind of conversation.", no_args_is_help=True
)

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

OrgOption = Annotated[str | None, typer.Option("--org", help="Organisation slug.")]
PolicyFile = Annotated[Path, typer.Argument(help="A policy YAML file.", dir_okay=False)]


def _org_id(slug: str | None) -> int:
    slug = slug or get_settings().org_slug
    with db.session_factory()() as session:
        org_id = session.scalar(select(Organisation.id).where(Organisation.slug == slug))
    if org_id is None:
        err_console.print(
            f"[red]No organisation '{slug}'.[/red] Run `townhall init` or `townhall demo` first."
        )
        raise typer.Exit(1)
    return org_id


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        err_console.print(f"[red]Cannot read {path}:[/red] {error}")
        raise typer.Exit(2) from error


def _load(path: Path) -> tuple[str, Policy]:
    """The file's text and policy; prints every issue as ``file:line:column`` and exits 1."""
    text = _read(path)
    try:
        return text, load_policy(text)
    except PolicyError as error:
        for issue in error.issues:
            where = f"{issue.path}: " if issue.path else ""
            err_console.print(
                f"{path}:{issue.line}:{issue.column}: {where}{issue.message}",
                highlight=False,
                markup=False,
            )
        err_console.print(f"[red]{len(error.issues)} problem(s) in {path}[/red]")
        raise typer.Exit(1) from error


@policy_app.command("validate")
def validate_command(file: PolicyFile) -> None:
    """Check a policy file; prints each problem with its line and column, exit 1 on errors."""
    _, policy = _load(file)
    console.print(
        f"{file}: valid policy '{policy.name}' ({len(policy.kinds)} kinds, "
        f"{len(policy.queues)} queues, {len(policy.rules)} rules)",
        highlight=False,
        markup=False,
    )


@policy_app.command("apply")
def apply_command(file: PolicyFile, org: OrgOption = None) -> None:
    """Store the file as the new active policy version and bring the queues in line with it."""
    from townhall.routing.actions import do_apply_policy

    text, _ = _load(file)
    org_id = _org_id(org)
    with db.unit_of_work() as session:
        version = do_apply_policy(session, org_id, text, None)
        number, name = version.number, version.name
    console.print(f"Applied '{name}' as policy version {number}.", highlight=False, markup=False)


def _print_changes(title: str, old: Policy, new: Policy) -> None:
    changes = diff_policies(old, new)
    console.print(title, highlight=False, markup=False)
    if not changes:
        console.print("No differences.")
    for change in changes:
        console.print(f"  {change.message}", highlight=False, markup=False)


@policy_app.command("diff")
def diff_command(
    file: Annotated[
        Path | None, typer.Argument(help="Compare this file with the active policy.")
    ] = None,
    org: OrgOption = None,
) -> None:
    """What a file changes against the active policy, or what the last apply changed."""
    from townhall.routing.queries import policy_versions

    org_id = _org_id(org)
    if file is not None:
        _, draft = _load(file)
    with db.session_factory()() as session:
        versions = policy_versions(session, org_id)[:2]
        texts = [(v.number, v.text) for v in versions]
    if file is not None:
        if texts:
            _print_changes(
                f"Active version {texts[0][0]} → {file}:", load_policy(texts[0][1]), draft
            )
        else:
            _print_changes(
                f"Shipped default (nothing applied yet) → {file}:", default_policy(), draft
            )
        return
    if len(texts) < 2:
        console.print("Fewer than two policy versions applied: nothing to compare.")
        return
    (new_number, new_text), (old_number, old_text) = texts
    _print_changes(
        f"Version {old_number} → version {new_number}:",
        load_policy(old_text),
        load_policy(new_text),
    )


@policy_app.command("show")
def show_command(
    org: OrgOption = None,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="A past version number.")
    ] = None,
) -> None:
    """Print the active policy (or a past version) as YAML; the history goes to stderr."""
    from townhall.routing.queries import policy_versions

    org_id = _org_id(org)
    with db.session_factory()() as session:
        versions = policy_versions(session, org_id)
        for row in versions:
            flag = " (active)" if row.active else ""
            err_console.print(
                f"version {row.number}{flag}: {row.name} — {row.author_label}, "
                f"{row.created_at:%Y-%m-%d %H:%M}",
                highlight=False,
                markup=False,
            )
        chosen = next((v for v in versions if (v.number == version if version else v.active)), None)
        if chosen is None:
            err_console.print(
                f"[red]No policy version {version}.[/red]"
                if version
                else "[red]No policy applied yet.[/red] Run `townhall policy apply FILE`."
            )
            raise typer.Exit(1)
        typer.echo(chosen.text, nl=not chosen.text.endswith("\n"))


_PERIOD = re.compile(r"^(\d{1,5})([hdw]?)$")


def parse_period(text: str) -> timedelta:
    """ "30d", "12h", "2w" or a number of days."""
    match = _PERIOD.match(text.strip().lower())
    if match is None or int(match[1]) == 0:
        raise typer.BadParameter("write a period such as 30d, 12h or 2w", param_hint="--since")
    amount, unit = int(match[1]), match[2] or "d"
    return {
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
        "w": timedelta(weeks=amount),
    }[unit]


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@policy_app.command("simulate")
def simulate_command(
    draft_file: Annotated[Path, typer.Argument(help="The draft policy YAML.", dir_okay=False)],
    since: Annotated[
        str, typer.Option("--since", help="Replay this far back: 30d, 12h, 2w.")
    ] = "30d",
    org: OrgOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay past traffic under the active policy and a draft: volume, staff-hours and SLA.

    Staffing: each team's active agents from the users table (at least one) on shift during
    its business hours; handle times measured from first message to first reply.
    """
    from townhall.routing.replay import replay

    period = parse_period(since)
    _, draft = _load(draft_file)
    org_id = _org_id(org)
    started = time.perf_counter()
    start: datetime = utcnow() - period
    with db.session_factory()() as session:
        report = replay(session, org_id, draft, since=start)
    elapsed = time.perf_counter() - started
    if json_output:
        print(json.dumps(report.as_dict() | {"seconds": round(elapsed, 3)}))
        return
    console.print(
        f"{report.conversations} conversations since {start:%Y-%m-%d %H:%M} UTC: "
        f"{report.current.label} vs {draft_file}",
        highlight=False,
        markup=False,
    )
    queues = Table(title="Per queue")
    for column in (
        "Queue",
        "Volume",
        "Staff-h",
        "SLA",
        "Draft volume",
        "Draft staff-h",
        "Draft SLA",
    ):
        queues.add_column(column, justify="left" if column == "Queue" else "right")
    names = list(dict.fromkeys([*report.current.queues, *report.draft.queues]))
    for name in names:
        before, after = report.current.queues.get(name), report.draft.queues.get(name)
        queues.add_row(
            name,
            str(before.volume) if before else "0",
            f"{before.staff_hours_needed:.1f}" if before else "—",
            _percent(before.sla_attainment) if before else "—",
            str(after.volume) if after else "0",
            f"{after.staff_hours_needed:.1f}" if after else "—",
            _percent(after.sla_attainment) if after else "—",
        )
    console.print(queues)
    teams = Table(title="Per team")
    for column in (
        "Team",
        "Agents",
        "Volume",
        "Staff-h",
        "SLA",
        "Draft volume",
        "Draft staff-h",
        "Draft SLA",
    ):
        teams.add_column(column, justify="left" if column == "Team" else "right")
    for name in dict.fromkeys([*report.current.teams, *report.draft.teams]):
        before_team, after_team = report.current.teams.get(name), report.draft.teams.get(name)
        either = after_team or before_team
        assert either is not None
        teams.add_row(
            f"{name} (agency)" if either.is_agency else name,
            str(either.agents),
            str(before_team.volume) if before_team else "0",
            f"{before_team.staff_hours_needed:.1f}" if before_team else "—",
            _percent(before_team.sla_attainment) if before_team else "—",
            str(after_team.volume) if after_team else "0",
            f"{after_team.staff_hours_needed:.1f}" if after_team else "—",
            _percent(after_team.sla_attainment) if after_team else "—",
        )
    console.print(teams)
    console.print(
        f"Agency queues: {report.current.agency_volume} → {report.draft.agency_volume} "
        f"conversations ({report.moved_to_agency} move to the agency, "
        f"{report.moved_in_house} come back in-house)",
        highlight=False,
        markup=False,
    )
    for line in report.comparison.lines():
        console.print(f"  {line}", highlight=False, markup=False)
    err_console.print(f"replayed in {elapsed:.2f} s")


sla_app = typer.Typer(
    help="SLA clocks: warnings before a breach, escalation after it.", no_args_is_help=True
)


@sla_app.command("sweep")
def sla_sweep_command(
    org: OrgOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Warn about and escalate due SLA clocks once (the worker does this every few seconds)."""
    from townhall.routing.flows import run_clocks

    org_id = _org_id(org)
    result = run_clocks(db.session_factory(), [org_id], utcnow())
    if json_output:
        print(json.dumps(result.as_dict()))
        return
    console.print(
        f"{result.warnings} warning(s), {result.breaches} breach(es) escalated, "
        f"{result.moved} moved to an escalation queue, {result.notified} notification(s); "
        f"{result.stale} breach(es) older than a day recorded without escalation."
    )
