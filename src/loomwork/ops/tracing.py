"""OpenTelemetry traces of requests and SQL statements, on only when the standard variables ask.

With OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_TRACES_EXPORTER) set,
each worker sends its spans with the OTLP/HTTP exporter (or the console one); without them nothing is
set up and nothing is sent. The SDK reads the rest (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
headers, sampling) from the environment itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("loomwork.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters == "none":
        return False
    return bool(exporters or any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES))


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    chosen: list[SpanExporter] = []
    for name in (environ.get("OTEL_TRACES_EXPORTER") or "otlp").split(","):
        name = name.strip().lower()
        if name == "otlp":
            protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            if protocol and protocol != "http/protobuf":
                log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: Loomwork sends traces over http/protobuf only.", protocol)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            chosen.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            chosen.append(ConsoleSpanExporter())
        elif name:
            log.warning("OTEL_TRACES_EXPORTER=%s is not supported here (otlp, console); ignored.", name)
    return chosen


def tracer_provider_from_environment(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """A TracerProvider exporting as the OTEL_* variables say, or None when they ask for no traces."""
    if not tracing_requested(environ):
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over this default name.
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "loomwork"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in _exporters(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def instrument(app: Any, engine: Engine, tracer_provider: TracerProvider) -> Callable[[], None]:
    """Trace `app`'s requests and `engine`'s statements into `tracer_provider`; returns the undo.

    Call it before the app serves its first request (its middleware stack is built then)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    from loomwork.ops.requests import observe_requests

    # The FastAPI instrumentation rebuilds Starlette's own stack, so it goes beneath ops.requests' layer.
    unobserved = getattr(app, "loomwork_unobserved_build", None)
    if unobserved is not None:
        app.build_middleware_stack = unobserved
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
    if unobserved is not None:
        observe_requests(app)
    instrumentor = SQLAlchemyInstrumentor()
    # Its declared range stops below SQLAlchemy 2.1, which it traces all the same (engine events only;
    # the test of a request's SQL spans keeps that true).
    instrumentor.instrument(engine=engine, tracer_provider=tracer_provider, skip_dep_check=True)

    def undo() -> None:  # for tests: SQLAlchemyInstrumentor is one per process
        instrumentor.uninstrument()

    return undo
