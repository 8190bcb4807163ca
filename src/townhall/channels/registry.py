"""Finds connectors by name through the ``townhall.connectors`` entry point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from townhall.channels.base import Connector
from townhall.core.errors import NotFound


@cache
def available() -> dict[str, type]:
    return {ep.name: ep.load() for ep in entry_points(group="townhall.connectors")}


def get_connector(name: str) -> Connector:
    try:
        factory = available()[name]
    except KeyError as exc:
        raise NotFound(f"connector '{name}'") from exc
    connector = factory()
    if not isinstance(connector, Connector):
        raise TypeError(f"connector '{name}' does not implement the Connector protocol")
    return connector
