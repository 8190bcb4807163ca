"""`townhall channel add` and `townhall channel rotate-secret`."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import make_org
from townhall.channels.models import ChannelAccount
from townhall.cli import app
from townhall.governance.models import AuditEvent


def test_add_prints_key_url_and_secret_and_rotate_replaces_the_secret(
    sessions: sessionmaker[Session],
) -> None:
    make_org(sessions)
    runner = CliRunner()
    added = runner.invoke(
        app, ["channel", "add", "--org", "demo", "--platform", "X", "--handle", "@acme", "--json"]
    )
    assert added.exit_code == 0, added.output
    data = json.loads(added.stdout)
    assert data["webhook_url"].endswith(f"/hooks/{data['key']}")
    assert len(data["secret"]) >= 40
    with sessions() as session:
        account = session.scalars(select(ChannelAccount)).one()
        assert (account.platform, account.handle, account.key) == ("x", "acme", data["key"])
        assert account.webhook_secret == data["secret"]
        logged = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "channel.create")
        ).one()
        assert data["secret"] not in json.dumps(logged.after)

    again = runner.invoke(
        app, ["channel", "add", "--org", "demo", "--platform", "x", "--handle", "acme"]
    )
    assert again.exit_code == 2 and "already a channel" in again.output
    unknown = runner.invoke(
        app,
        [
            "channel",
            "add",
            "--org",
            "demo",
            "--platform",
            "x",
            "--handle",
            "b",
            "--connector",
            "nope",
        ],
    )
    assert unknown.exit_code == 2 and "connector" in unknown.output

    rotated = runner.invoke(app, ["channel", "rotate-secret", data["key"], "--json"])
    assert rotated.exit_code == 0, rotated.output
    new_secret = json.loads(rotated.stdout)["secret"]
    assert new_secret != data["secret"]
    with sessions() as session:
        assert session.scalars(select(ChannelAccount.webhook_secret)).one() == new_secret
    missing = runner.invoke(app, ["channel", "rotate-secret", "no-such-key"])
    assert missing.exit_code == 2 and "not found" in missing.output


def test_channel_keys_never_look_like_command_line_options() -> None:
    from townhall.channels.models import new_channel_key

    keys = {new_channel_key() for _ in range(2000)}
    assert len(keys) == 2000
    assert all(not key.startswith("-") and len(key) == 24 for key in keys)
