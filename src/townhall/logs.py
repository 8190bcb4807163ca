"""Logging for `townhall serve` and `townhall worker`: human text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from townhall.config import get_settings

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged too.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, the extra fields, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(log_format: str | None = None, level: str | None = None) -> dict[str, Any]:
    """A ``dictConfig`` for the whole process; uvicorn applies it in each of its workers too."""
    settings = get_settings()
    formatter: dict[str, Any] = (
        {"()": "townhall.logs.JsonFormatter"}
        if (log_format or settings.log_format) == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    # uvicorn and Dramatiq log through the root handler, so every line has one format.
    quiet = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"townhall": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "townhall",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level or settings.log_level},
        "loggers": {"uvicorn": quiet, "uvicorn.error": quiet, "uvicorn.access": quiet},
    }


def configure_logging(log_format: str | None = None, level: str | None = None) -> None:
    """Set up logging once for a `serve` or `worker` process."""
    logging.config.dictConfig(logging_config(log_format, level))
