"""`python -m townhall`: the same as the `townhall` command."""

from townhall.cli import app

app()
