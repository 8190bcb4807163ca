"""The ``townhall`` command: set up, ingest, serve and inspect from a terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, TextColumn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from townhall import db
from townhall.config import get_settings
from townhall.conversations.schemas import IngestSummary
from townhall.core.errors import TownhallError
from townhall.governance.models import Organisation

app = typer.Typer(
    name="townhall",
    help="Townhall: run an organisation's social media together.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
audit_log_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_log_app, name="audit-log")

console = Console()
err_console = Console(stderr=True)


def _sessions() -> sessionmaker[Session]:
    return db.session_factory()


def _org_id(slug: str) -> int:
    with _sessions()() as session:
        org_id = session.scalar(select(Organisation.id).where(Organisation.slug == slug))
    if org_id is None:
        err_console.print(
            f"[red]No organisation '{slug}'.[/red] Run `townhall init` or `townhall demo` first."
        )
        raise typer.Exit(1)
    return org_id


def _upgrade_quietly() -> None:
    from townhall import migrations

    migrations.upgrade(db.get_engine())


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the database schema."""
    from townhall import migrations

    migrations.upgrade(db.get_engine(), revision)
    console.print(f"Database at revision {migrations.current_revision(db.get_engine())}.")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision the database is at."""
    from townhall import migrations

    console.print(
        migrations.current_revision(db.get_engine()) or "empty (run `townhall db upgrade`)"
    )


@app.command()
def init(
    org_name: Annotated[str, typer.Option(help="The organisation's name.")],
    admin_email: Annotated[str, typer.Option(help="The first admin's email.")],
    admin_password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters."
        ),
    ],
    org_slug: Annotated[
        str | None, typer.Option(help="Short id (default: TOWNHALL_ORG_SLUG).")
    ] = None,
    agency: Annotated[
        str | None, typer.Option(help="Name of the outsourced agency, if any.")
    ] = None,
) -> None:
    """Create the database, an organisation with its default structure, and its first admin."""
    from townhall.governance.actions import do_create_user
    from townhall.governance.models import Role
    from townhall.governance.setup import do_create_default_structure, get_or_create_organisation

    _upgrade_quietly()
    slug = org_slug or get_settings().org_slug
    try:
        with db.unit_of_work() as session:
            org, created = get_or_create_organisation(session, slug, org_name)
            if not created:
                err_console.print(f"[red]Organisation '{slug}' already exists.[/red]")
                raise typer.Exit(1)
            do_create_default_structure(session, org, agency_name=agency)
            do_create_user(
                session,
                org_id=org.id,
                acting_user=None,
                email=admin_email,
                name="Administrator",
                password=admin_password,
                role=Role.ADMIN,
            )
    except (TownhallError, ValueError) as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"Created organisation '{slug}' with admin {admin_email}.")


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    file_format: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the file name).")
    ] = None,
    errors: Annotated[
        Path | None, typer.Option(help="Write every rejected row as JSON Lines to this file.")
    ] = None,
    org: Annotated[str | None, typer.Option(help="Organisation slug.")] = None,
    store_only: Annotated[
        bool,
        typer.Option("--store-only", help="Only store; leave understanding and routing for later."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import exported posts (interchange format, JSON Lines or CSV), idempotently, then
    understand and route them."""
    from townhall.conversations.flows import ingest_file

    if file_format not in (None, "jsonl", "csv"):
        err_console.print("[red]--format must be jsonl or csv[/red]")
        raise typer.Exit(2)
    org_id = _org_id(org or get_settings().org_slug)
    size = file.stat().st_size
    errors_out = errors.open("w", encoding="utf-8") if errors else None
    try:
        with Progress(
            *Progress.get_default_columns(),
            TextColumn("{task.fields[counts]}"),
            console=err_console,
            disable=json_output or size < 1_000_000,
        ) as progress:
            task = progress.add_task(f"Ingesting {file.name}", total=size, counts="")
            done = {"rows": 0}

            def on_batch(batch: IngestSummary) -> None:
                done["rows"] += batch.ingested + batch.duplicates + batch.rejected
                # Rows are roughly uniform in size; this keeps the bar honest without seeking.
                progress.update(
                    task,
                    completed=min(size, size * done["rows"] / max(1, lines)),
                    counts=f"{done['rows']:,} rows",
                )

            lines = sum(1 for _ in file.open("rb"))
            result = ingest_file(
                _sessions(),
                org_id,
                str(file),
                file_format,  # type: ignore[arg-type]
                errors_out=errors_out,
                on_error=lambda e: err_console.print(
                    f"[yellow]rejected[/yellow] {e}", highlight=False
                ),
                on_batch=on_batch,
            )
    finally:
        if errors_out:
            errors_out.close()
    summary = result.summary
    routed = 0
    if not store_only:
        from townhall.pipeline import process_pending

        with Progress(console=err_console, disable=json_output) as progress:
            task = progress.add_task("Understanding and routing", total=None)
            routed = process_pending(
                _sessions(), org_id, on_batch=lambda n: progress.advance(task, n)
            ).routed
    if json_output:
        print(json.dumps({**summary.model_dump(), "routed": routed}))
    else:
        console.print(
            f"ingested {summary.ingested}, duplicates {summary.duplicates}, rejected {summary.rejected} "
            f"({summary.conversations_created} new conversations, {routed} routed)"
        )


@app.command()
def demo(
    conversations: Annotated[int, typer.Option(min=13, help="How many conversations.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load the demo airline: departments, an agency, users of every role, weeks of traffic."""
    from townhall.demo.load import load_demo

    if get_settings().env == "production":
        err_console.print(
            "[red]The demo organisation has known passwords; it is refused in production.[/red]"
        )
        raise typer.Exit(2)
    _upgrade_quietly()
    with Progress(console=err_console, disable=json_output) as progress:
        task = progress.add_task("Loading demo traffic", total=None)
        result = load_demo(
            _sessions(),
            conversations=conversations,
            seed=seed,
            on_batch=lambda b: progress.advance(task, b.ingested + b.duplicates),
        )
    if json_output:
        print(json.dumps({"created": result.created, **result.summary.model_dump()}))
    else:
        console.print(
            f"Demo organisation {'created' if result.created else 'already present'}: "
            f"{result.summary.ingested} messages added, {result.summary.duplicates} already there."
        )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Serve the web app, the JSON API and the webhooks."""
    import uvicorn

    from townhall.logs import configure_logging, logging_config

    settings = get_settings()
    configure_logging()
    uvicorn.run(
        "townhall.web:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=logging_config(),
        log_level=settings.log_level.lower(),
        # With --workers, uvicorn restarts a worker that has not answered in 5 s; loading
        # the app (understanding models included) can take longer on a busy machine, and
        # the workers then die and restart forever. Give startup a minute.
        timeout_worker_healthcheck=60,
    )


@app.command()
def worker(
    threads: Annotated[
        int, typer.Option(min=1, max=64, help="Threads that run wake-up jobs from Redis.")
    ] = 2,
) -> None:
    """Run a background worker: wake-up jobs from Redis plus a sweep of the database every few
    seconds. Run as many as you like, on any machine that reaches the database and Redis."""
    from townhall.logs import configure_logging
    from townhall.worker import run_worker

    configure_logging()
    run_worker(threads)


@app.command()
def run() -> None:
    """Migrate, load the demo organisation if needed, print the admin login and serve."""
    from townhall.demo.load import ADMIN_EMAIL, DEMO_PASSWORD

    settings = get_settings()
    demo(conversations=3000, seed=7, json_output=False)
    console.rule("Townhall is starting")
    console.print(f"Open http://{settings.host}:{settings.port} and sign in as")
    console.print(f"  email:    [bold]{ADMIN_EMAIL}[/bold]")
    console.print(f"  password: [bold]{DEMO_PASSWORD}[/bold]")
    console.print("(every demo user has the same password; see the README for the list)")
    serve(host=None, port=None, workers=1)


@audit_log_app.command("verify")
def audit_log_verify(
    org: Annotated[str | None, typer.Option(help="Organisation slug.")] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check the audit log's hash chain; exit 1 if any row was edited, deleted or reordered."""
    from townhall.governance import audit

    org_id = _org_id(org or get_settings().org_slug)
    with _sessions()() as session:
        problems = audit.verify(session, org_id)
    if json_output:
        print(json.dumps({"ok": not problems, "problems": [p.__dict__ for p in problems]}))
    elif problems:
        for problem in problems:
            err_console.print(f"[red]audit row {problem.event_id}[/red]: {problem.reason}")
    else:
        console.print("Audit log intact.")
    if problems:
        raise typer.Exit(1)


# Domain commands are registered below; each lives in its domain's cli module.
from townhall.advisor.cli import staffing_command  # noqa: E402

app.command("staffing")(staffing_command)

from townhall.routing.cli import policy_app, sla_app  # noqa: E402

app.add_typer(policy_app, name="policy")
app.add_typer(sla_app, name="sla")


from townhall.understanding.cli import eval_command  # noqa: E402

app.command("eval")(eval_command)


from townhall.advisor.cli import audit_command  # noqa: E402

app.command("audit")(audit_command)


from townhall.channels.cli import channel_app  # noqa: E402

app.add_typer(channel_app, name="channel")


if __name__ == "__main__":
    app()
