"""Metrics (API.md section 12): Prometheus figures on their own port, summed over `serve --workers 2`.

Rules: every request counts once under its route template, method and status, whichever worker served
it; the metrics port is not the API's; waiting proposals are counted at scrape time; database pool
checkouts and SQLite lock waits are measured.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from ops_server import sample, scrape, serving, worker_pids
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.engine import make_url

from conftest import make_key
from loomwork.app import create_app

HEALTH_REQUESTS = 60
CLIENTS = 6


def test_metrics_count_every_request_made_through_two_workers(db, database_url, dialect, tmp_path):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    figures = tmp_path / "multiproc"
    with serving(
        database_url, tmp_path / "data", workers=2, metrics=True, env={"PROMETHEUS_MULTIPROC_DIR": str(figures)}
    ) as served:
        workers = worker_pids(served.process.pid)
        assert len(workers) == 2, workers

        def health_checks(count: int) -> None:
            for _ in range(count):  # a new connection each time, so the kernel hands them to either worker
                assert httpx.get(f"{served.url}/healthz", timeout=60).status_code == 200

        threads = [threading.Thread(target=health_checks, args=(HEALTH_REQUESTS // CLIENTS,)) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with httpx.Client(base_url=served.url, headers=headers, timeout=60) as http:
            for n in range(3):
                created = http.post("/api/v5/artifacts/personas/create", json={"personas": [{"name": f"m{n}"}]})
                assert created.status_code == 200, created.text
            missing = http.get(f"/api/v5/uploads/{uuid.uuid4()}")
            assert missing.status_code == 404
            proposal = http.patch("/api/v5/artifacts/personas/draft", json={"name": "proposed"}, headers={"X-MCP": "1"})
            assert proposal.status_code == 200, proposal.text
            assert http.get("/no/such/path").status_code == 404
            assert http.get("/metrics").status_code == 404  # never on the API's port

        text = scrape(served)
        # Background work (webhook delivery's poll) borrows a pooled connection now and then: the requests'
        # connections are back when a scrape catches none in use, which on a busy machine may take a moment.
        for _ in range(20):
            if sample(text, "loomwork_db_connections_in_use") == 0:
                break
            time.sleep(0.25)
            text = scrape(served)
        # The one /healthz of the start-up check, plus this test's.
        assert (
            sample(text, "loomwork_http_requests_total", route="/healthz", method="GET", status="200")
            == HEALTH_REQUESTS + 1
        )
        assert (
            sample(
                text,
                "loomwork_http_requests_total",
                route="/api/v5/artifacts/personas/create",
                method="POST",
                status="200",
            )
            == 3
        )
        assert (
            sample(
                text, "loomwork_http_requests_total", route="/api/v5/uploads/{upload_id}", method="GET", status="404"
            )
            == 1
        )
        assert sample(text, "loomwork_http_requests_total", route="<unmatched>", method="GET", status="404") == 2
        assert (
            sample(
                text,
                "loomwork_http_request_duration_seconds_count",
                route="/api/v5/artifacts/personas/create",
                method="POST",
            )
            == 3
        )
        assert sample(text, "loomwork_waiting_proposals", kind="persona") == 1
        assert sample(text, "loomwork_waiting_proposals", kind="tool") == 0
        assert sample(text, "loomwork_db_pool_checkout_seconds_count") > 0
        assert sample(text, "loomwork_db_connections_in_use") == 0  # every connection went back
        assert sample(text, "loomwork_http_requests_in_progress") == 0
        assert sample(text, "loomwork_resolve_cache_total", result="hit") == 0  # defined, for issue 13's code
        assert sample(text, "loomwork_webhook_deliveries_total") is None  # labelled by outcome once issue 15 records

        # Each worker's own figures: both served, and the scrape is their sum.
        per_worker = []
        for pid in workers:
            alone = tmp_path / f"worker-{pid}"
            alone.mkdir()
            shutil.copy(figures / f"counter_{pid}.db", alone)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(alone))
            per_worker.append(
                registry.get_sample_value(
                    "loomwork_http_requests_total", {"route": "/healthz", "method": "GET", "status": "200"}
                )
                or 0
            )
        assert sum(per_worker) == HEALTH_REQUESTS + 1
        assert all(count > 0 for count in per_worker), per_worker
    left = [f.name for f in figures.glob("gauge_live*")]
    assert not left, f"workers that stopped leave no live gauge behind: {left}"


def test_database_pool_checkouts_and_sqlite_lock_waits_are_measured(settings, db, dialect):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    with TestClient(create_app(settings, db)) as client:
        # A key's first use in a minute writes its last_used_at (a write of its own): not what is counted here.
        assert client.post("/api/v5/artifacts/personas/search", headers=headers, json={}).status_code == 200
        before = {
            "checkouts": value("loomwork_db_pool_checkout_seconds_count"),
            "process": value("loomwork_db_lock_wait_seconds_count", lock="process"),
            "database": value("loomwork_db_lock_wait_seconds_count", lock="database"),
        }
        for n in range(3):
            response = client.post(
                "/api/v5/artifacts/personas/create", headers=headers, json={"personas": [{"name": f"lock {n}"}]}
            )
            assert response.status_code == 200, response.text
    assert value("loomwork_db_pool_checkout_seconds_count") >= before["checkouts"] + 3
    writes = 3 if dialect == "sqlite" else 0  # PostgreSQL has no such lock: its writers run at once
    assert value("loomwork_db_lock_wait_seconds_count", lock="process") == before["process"] + writes
    assert value("loomwork_db_lock_wait_seconds_count", lock="database") == before["database"] + writes


@pytest.mark.sqlite_only
def test_a_sqlite_write_that_outwaits_the_busy_timeout_is_counted(settings, db, dialect, database_url):
    """Another process holding SQLite's write lock past the busy timeout: 503 database_busy, counted."""
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    app = create_app(settings, db)
    with db.engine.connect() as connection:  # the pool's one connection, which every request reuses here
        connection.exec_driver_sql("PRAGMA busy_timeout=50")  # so the write gives up after 50 ms, not 30 s
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            # The key's first use writes its last_used_at; done before the lock is held, so one write is counted.
            assert client.post("/api/v5/artifacts/personas/search", headers=headers, json={}).status_code == 200
            before = REGISTRY.get_sample_value("loomwork_db_busy_errors_total") or 0.0
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            response = client.post(
                "/api/v5/artifacts/personas/create", headers=headers, json={"personas": [{"name": "blocked"}]}
            )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_busy"
    assert time.monotonic() - started < 20  # it was the short wait that gave up
    assert REGISTRY.get_sample_value("loomwork_db_busy_errors_total") == before + 1
