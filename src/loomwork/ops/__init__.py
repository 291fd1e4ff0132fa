"""Operating Loomwork (API.md section 12): metrics, traces, request logs, backups.

`install(app, db)` is all create_app() calls: request ids and the access log line, request and database
metrics, and traces when the OTEL_* variables ask for them. The metrics server, the log configuration
and backup/restore are started from the CLI (`loomwork serve`, `backup`, `restore`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from loomwork.db.database import Database

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def install(app: Any, db: Database) -> None:
    from loomwork.ops import tracing
    from loomwork.ops.database import instrument_database
    from loomwork.ops.requests import observe_requests

    instrument_database(db)
    observe_requests(app)
    provider = tracing.tracer_provider_from_environment()
    if provider is not None:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)  # for any span code elsewhere (one provider per process)
        tracing.instrument(app, db.engine, provider)
    _on_shutdown(app, provider)


def _on_shutdown(app: Any, provider: TracerProvider | None) -> None:
    """After the app's own lifespan ends: flush the spans, and drop this worker's live gauges."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        try:
            async with inner(app_) as state:
                yield state
        finally:
            if provider is not None:
                provider.shutdown()
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(os.getpid())

    app.router.lifespan_context = lifespan
