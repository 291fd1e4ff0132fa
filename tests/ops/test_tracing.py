"""Traces (API.md section 12): with OpenTelemetry on, a request's trace holds its server span and the
SQL statements it ran; with no OTEL_* variable set, nothing is set up and nothing is sent."""

from __future__ import annotations

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from conftest import make_key
from loomwork.app import create_app
from loomwork.ops import tracing

ROUTE = "/api/v5/artifacts/personas/search"


def _statement(span) -> str | None:
    return span.attributes.get("db.statement") or span.attributes.get("db.query.text")


def test_a_request_trace_holds_its_server_span_and_its_sql_spans(settings, db, dialect):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings, db)
    undo = tracing.instrument(app, db.engine, provider)
    try:
        with TestClient(app) as client:
            response = client.post(ROUTE, headers=headers, json={"search": "ada"})
            assert response.status_code == 200, response.text
            assert response.headers["X-Request-Id"]  # the request layer still wraps the traced stack
    finally:
        undo()
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind == SpanKind.SERVER and s.attributes.get("http.route") == ROUTE]
    assert len(servers) == 1, [(s.name, s.kind, dict(s.attributes)) for s in spans]
    server = servers[0]
    by_id = {s.context.span_id: s for s in spans}

    def under_server(span) -> bool:
        while span.parent is not None:
            if span.parent.span_id == server.context.span_id:
                return True
            span = by_id.get(span.parent.span_id)
            if span is None:
                return False
        return False

    sql = [s for s in spans if _statement(s)]
    assert sql, "no SQL span"
    assert all(s.context.trace_id == server.context.trace_id and under_server(s) for s in sql)
    statements = " ".join(_statement(s) for s in sql)
    assert "api_keys" in statements  # the key's lookup
    assert "search_documents" in statements or "artifacts" in statements  # the search itself
    assert {s.attributes.get("db.system") or s.attributes.get("db.system.name") for s in sql} == {dialect}


def test_traces_are_on_only_when_the_standard_variables_ask(settings, db, dialect, monkeypatch):
    assert not tracing.tracing_requested({})
    assert tracing.tracer_provider_from_environment({}) is None
    assert tracing.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing.tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert tracing.tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.tracing_requested(
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    )
    assert not tracing.tracing_requested(
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    )
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(settings, db)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)

    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert [type(e).__name__ for e in tracing._exporters(endpoint)] == ["OTLPSpanExporter"]
    provider = tracing.tracer_provider_from_environment(endpoint)
    try:
        assert provider.resource.attributes["service.name"] == "loomwork"
    finally:
        provider.shutdown()
