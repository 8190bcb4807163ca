"""The ``townhall`` command: set up, ingest, serve and inspect from a terminal."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="townhall",
    help="Townhall: run an organisation's social media together.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# Domain commands are registered below; each lives in its domain's cli module.
