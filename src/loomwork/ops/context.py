"""The id of the request being served, for every log line written while it runs (no other imports:
the log formatter reads it in processes that never import the metrics)."""

from __future__ import annotations

from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("loomwork_request_id", default=None)
