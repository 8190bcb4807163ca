"""`townhall channel`: add accounts that receive signed webhooks and rotate their secrets."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from townhall import db
from townhall.config import get_settings
from townhall.core.errors import TownhallError

channel_app = typer.Typer(help="Channels and their signed webhooks.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def _print(data: dict[str, str], json_output: bool, title: str) -> None:
    if json_output:
        print(json.dumps(data))
        return
    console.print(title)
    for name, value in data.items():
        console.print(f"  {name}: [bold]{value}[/bold]", highlight=False)
    console.print("The secret is shown only now; store it where the sender can read it.")


@channel_app.command("add")
def channel_add(
    org: Annotated[str, typer.Option(help="Organisation slug.")],
    platform: Annotated[str, typer.Option(help="The platform, e.g. x, mastodon, bluesky.")],
    handle: Annotated[str, typer.Option(help="The organisation's handle on it.")],
    connector: Annotated[str, typer.Option(help="The connector that reads its payloads.")] = "fake",
    name: Annotated[str | None, typer.Option(help="A display name.")] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a channel; print its key, webhook URL and a fresh signing secret."""
    from townhall.channels.actions import do_create_channel_account, webhook_url
    from townhall.cli import _org_id

    org_id = _org_id(org)
    try:
        with db.unit_of_work() as session:
            account, secret = do_create_channel_account(
                session,
                org_id=org_id,
                platform=platform,
                handle=handle,
                connector=connector,
                name=name,
            )
            data = {
                "key": account.key,
                "webhook_url": webhook_url(get_settings().base_url, account),
                "secret": secret,
            }
    except TownhallError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _print(data, json_output, f"Channel @{account.handle} on {account.platform} added.")


@channel_app.command("rotate-secret")
def channel_rotate_secret(
    key: Annotated[str, typer.Argument(help="The channel's key (from `channel add`).")],
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Give the channel a new signing secret; the old one stops working at once."""
    from townhall.channels.actions import do_rotate_webhook_secret, webhook_url

    try:
        with db.unit_of_work() as session:
            account, secret = do_rotate_webhook_secret(session, key)
            data = {
                "key": account.key,
                "webhook_url": webhook_url(get_settings().base_url, account),
                "secret": secret,
            }
    except TownhallError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _print(data, json_output, "New secret for the channel.")
