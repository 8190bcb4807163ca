"""Jinja2 templates shared by every domain's views."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

from townhall import __version__
from townhall.core.time import ensure_aware, utcnow

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def ago(value: datetime | None) -> str:
    """'5 min ago' style ages, which agents scan faster than timestamps."""
    if value is None:
        return ""
    seconds = int((utcnow() - ensure_aware(value)).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def until(value: datetime | None) -> str:
    """'in 25 min' style time left; 'now' once it has passed."""
    if value is None:
        return ""
    seconds = int((ensure_aware(value) - utcnow()).total_seconds())
    if seconds < 60:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"in {seconds // size} {unit}"
    return "now"


def label(value: str | None) -> str:
    return (value or "").replace("_", " ")


templates.env.filters["ago"] = ago
templates.env.filters["until"] = until
templates.env.filters["label"] = label
templates.env.globals["version"] = __version__
