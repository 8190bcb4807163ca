"""Domain errors that every entry point (CLI, web, API) turns into a clear message."""

from __future__ import annotations


class TownhallError(Exception):
    """Base class: the message is written for the person who made the request."""


class NotFound(TownhallError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Forbidden(TownhallError):
    """The user is signed in but may not do or see this."""


class ValidationFailed(TownhallError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
