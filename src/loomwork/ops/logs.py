"""Log lines as JSON (one object a line) or plain text, for uvicorn's loggers and Loomwork's own.

`serve` hands `uvicorn_log_config()` to uvicorn, which applies it in every worker; uvicorn's access
log is off and `loomwork.access` (ops.requests) writes one line per request instead.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from loomwork.ops.context import REQUEST_ID

LOG_FORMATS = ("json", "text")


def default_log_format() -> str:
    """JSON for log pipelines; text when a person watches the terminal."""
    return "text" if sys.stderr.isatty() else "json"


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", None) or {})
    request_id = REQUEST_ID.get()
    if request_id and "request_id" not in fields:
        fields["request_id"] = request_id
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        extra = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
        line = f"{_time(record)} {record.levelname:<7} {record.getMessage()}" + (f"  {extra}" if extra else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def uvicorn_log_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A logging.dictConfig for uvicorn's `log_config`: every line to stderr in `log_format`."""
    formatter = "loomwork.ops.logs.JsonFormatter" if log_format == "json" else "loomwork.ops.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        # Libraries (the MCP SDK, httpx) speak at WARNING and above only: their INFO lines are noise.
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},  # ops.requests logs
            "loomwork": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def configure_logging(log_format: str, level: str = "INFO") -> None:
    """The same configuration for this process (the supervisor's own lines, the metrics server)."""
    import logging.config

    logging.config.dictConfig(uvicorn_log_config(log_format, level))
