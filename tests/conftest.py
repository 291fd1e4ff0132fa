"""Test fixtures: every test gets a fresh, migrated database, on SQLite and on PostgreSQL.

PostgreSQL runs when LOOMWORK_TEST_POSTGRES_URL names a server (.ci/run sets it);
without it the PostgreSQL half is reported as skipped, never silently dropped.
Isolation: SQLite tests copy a migrated template file; PostgreSQL tests use a
database made for this run, and before each test every table is emptied and given back the rows the
migrations wrote (`change_clock`'s one row: without it the resolve caches never store anything).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.engine import make_url

from loomwork import groups
from loomwork.app import create_app
from loomwork.config import Settings
from loomwork.db.all_models import metadata
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork.identity.models import ApiKey

POSTGRES_URL = os.environ.get("LOOMWORK_TEST_POSTGRES_URL")
TEST_SECRET = b"test-secret-key-for-hashing-and-encryption"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dialect" in metafunc.fixturenames:
        # Browser tests drive the pages, not the database: they run once, on SQLite.
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("dialect", ["sqlite"] if only_sqlite else ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def dialect(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not POSTGRES_URL:
        if os.environ.get("CI"):  # CI must run both halves: a missing server is a failure there, never a skip
            pytest.fail("CI is set but LOOMWORK_TEST_POSTGRES_URL is not: the PostgreSQL half cannot run")
        pytest.skip("PostgreSQL not configured: set LOOMWORK_TEST_POSTGRES_URL to run this half")
    return request.param


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


MigratedRows = dict[str, list[dict[str, Any]]]


def table_rows(db: Database) -> MigratedRows:
    """Every mapped table's rows, by table name (tables left empty too)."""
    with db.engine.connect() as conn:
        return {t.name: [dict(row._mapping) for row in conn.execute(select(t))] for t in metadata.sorted_tables}


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A new, migrated PostgreSQL database on the test server, dropped afterwards; yields its URL."""
    base = make_url(POSTGRES_URL)
    name = f"loomwork_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_migrated_rows: dict[str, MigratedRows] = {}


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A database of its own for this test run, migrated once, dropped at the end. The rows the migrations
    wrote are kept, for each test to start with them again."""
    with new_postgres_database() as url:
        db = Database(url)
        _migrated_rows[url] = {name: rows for name, rows in table_rows(db).items() if rows}
        db.dispose()
        yield url


def _reset_to_migrated(db: Database) -> None:
    """Empty every table, then put back what the migrations wrote (as a fresh database would hold)."""
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        for name, rows in _migrated_rows[db.url].items():
            conn.execute(insert(metadata.tables[name]), rows)


@pytest.fixture
def database_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if dialect == "sqlite":
        path = tmp_path / "loomwork.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_database_url")


@pytest.fixture
def db(database_url: str, dialect: str) -> Iterator[Database]:
    database = Database(database_url)
    if dialect == "postgresql":
        _reset_to_migrated(database)
    yield database
    database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "data", secret_key=TEST_SECRET)


@pytest.fixture(scope="session")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the whole run, started once like a server. Building it takes most of a second (the
    generated models of every kind and resource kind), which would dominate the suite; the routes read
    their database and settings from `app.state`, so `client` points it at each test's own database."""
    home = tmp_path_factory.mktemp("shared-app")
    settings = Settings(
        database_url=f"sqlite:///{home / 'unused.sqlite3'}", data_dir=home / "data", secret_key=TEST_SECRET
    )
    with TestClient(
        create_app(settings, Database(settings.database_url)), raise_server_exceptions=False
    ) as test_client:
        yield test_client


@pytest.fixture
def client(shared_client: TestClient, settings: Settings, db: Database) -> TestClient:
    """The shared app, serving this test's fresh database (tests that need their own app build one)."""
    shared_client.app.state.settings, shared_client.app.state.db = settings, db
    shared_client.cookies.clear()
    return shared_client


def make_key(db: Database, group: str, name: str, role: str) -> str:
    with db.transaction(write=True) as session:
        return groups.create_group_key(session, TEST_SECRET, group, name, role)


def run_async(function: Any, *args: Any) -> Any:
    """anyio.run(function, *args) on a thread of its own. The session-scoped Playwright browser keeps an event
    loop running in the main thread of whichever xdist worker ran a browser test, and anyio.run refuses to
    start a second loop inside it."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, function, *args).result()


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Every error body is JSON with a non-empty `detail` and `code` (API.md section 6); returns it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert isinstance(body.get("code"), str) and body["code"], body
    if code is not None:
        assert body["code"] == code, body
    return body


@dataclass
class Api:
    """A client acting as one profile: `api.op("personas", "create", {...})`."""

    client: TestClient
    key: str
    agent: bool = False

    @property
    def headers(self) -> dict[str, str]:
        headers = {"X-Api-Key": self.key}
        if self.agent:
            headers["X-MCP"] = "1"
        return headers

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.client.post(path, json=body if body is not None else {}, headers=self.headers, **kwargs)

    def op(self, kind: str, operation: str, body: Any = None, method: str = "POST"):
        path = f"/api/v5/artifacts/{kind}/{operation}"
        return self.client.request(method, path, json=body if body is not None else {}, headers=self.headers)

    def ok(self, kind: str, operation: str, body: Any = None, method: str = "POST") -> dict[str, Any]:
        response = self.op(kind, operation, body, method)
        assert response.status_code == 200, response.text
        return response.json()

    def create(self, kind: str, **item: Any) -> str:
        """Create one artifact and return its id (the item must succeed)."""
        result = self.ok(kind, "create", {kind: [item]})["results"][0]
        assert result["success"], result
        return result[f"{kind[:-1]}_id"]

    def as_agent(self) -> Api:
        return Api(self.client, self.key, agent=True)


@pytest.fixture
def make_api(client: TestClient, db: Database):
    """Factory: `make_api(role="viewer", group="other")` gives a client for a new profile."""

    def factory(role: str = "editor", group: str = "acme", name: str | None = None) -> Api:
        return Api(client, make_key(db, group, name or f"{role}-{uuid.uuid4().hex[:6]}", role))

    return factory


@pytest.fixture
def api(make_api) -> Api:
    """An editor in group `acme`."""
    return make_api("editor")


@dataclass
class LiveServer:
    url: str
    settings: Settings
    app: Any = None


def free_port() -> int:
    """A loopback port nobody listens on now (the one helper every launcher and test uses)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A loaded machine (two xdist workers, each spawning servers) can take long to import the whole app.
SERVE_START_SECONDS = 180


@contextmanager
def serve_process(
    args: list[str],
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    stdout: Any = None,
    stderr: Any = None,
    log: Path | None = None,
    workers: int = 1,
    wait: bool = True,
    timeout: float = SERVE_START_SECONDS,
    stop_timeout: float = 90,
) -> Iterator[tuple[str, Any]]:
    """The one launcher of `loomwork serve` (with `args`) in its own process, on a free port.

    Yields (URL, process) once /healthz answers (`wait=False`: at once, for a test that watches something
    else). With `log`, stderr goes to that file, the start waits until `workers` workers have logged their
    start, and a failed start shows the log's tail. Afterwards: SIGTERM (uvicorn's supervisor stops its
    workers and drains), then SIGKILL after `stop_timeout`."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    with contextlib.ExitStack() as files:
        if log is not None:
            stderr = files.enter_context(log.open("w"))
        process = subprocess.Popen(
            [sys.executable, "-m", "loomwork.cli", "serve", "--port", str(port), *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout or subprocess.DEVNULL,
            stderr=stderr or subprocess.DEVNULL,
        )

    def tail() -> str:
        return log.read_text()[-3000:] if log is not None else "(stderr not kept)"

    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while wait:
            assert process.poll() is None, f"serve exited with {process.returncode} on start: {tail()}"
            assert time.monotonic() < deadline, f"serve did not start in {timeout:.0f} s: {tail()}"
            if log is None or log.read_text().count("Application startup complete") >= workers:
                try:
                    if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, lifespan and all (it runs the MCP server); yields its URL."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """The real app on a loopback port, for tests that need concurrent HTTP clients or the streamable HTTP
    transport."""
    with serving(create_app(settings, db)) as url:
        yield LiveServer(url, settings)


@dataclass
class StatementCounter:
    count: int = 0


@pytest.fixture
def count_statements(db: Database):
    """`with count_statements() as counter:` counts the SQL statements the app sends meanwhile."""
    from sqlalchemy import event

    @contextmanager
    def counting() -> Iterator[StatementCounter]:
        counter = StatementCounter()
        # A key's last use is written at most once a minute: which request pays for it depends on the clock
        # (a slow run crosses a minute), so mark every key as used already for the counted requests.
        with db.transaction(write=True) as session:
            session.execute(update(ApiKey).values(last_used_at=datetime(2999, 1, 1, tzinfo=UTC)))

        def on_execute(*_args: Any) -> None:
            # The server's own background threads (resolve's listener, the change notifier, webhook delivery)
            # poll the same engine on their own clock: under load they would land in a request's count.
            if not threading.current_thread().name.startswith("loomwork-"):
                counter.count += 1

        event.listen(db.engine, "before_cursor_execute", on_execute)
        try:
            yield counter
        finally:
            event.remove(db.engine, "before_cursor_execute", on_execute)

    return counting
