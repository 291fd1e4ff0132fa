"""The `loomwork` command as people run it: a real subprocess, its own working and data directories.

Rules: `migrate` builds the schema on a fresh database (and again changes
nothing); `keys create` prints the new key alone on the last line and that key
authenticates; a bad role is refused before anything is written; `serve` on an
empty database makes one admin key, prints it, saves it 0600, and it works over
real HTTP; a second start makes no new key.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from conftest import POSTGRES_URL, free_port, serve_process
from loomwork.app import create_app
from loomwork.config import Settings
from loomwork.db.database import Database
from loomwork.db.migrate import schema_differences
from loomwork.identity.models import ApiKey, Group, Profile

CLI_SECRET = "cli-test-secret-0123456789abcdef"
KEY_LINE = re.compile(r"lw_[0-9a-f]+_[A-Za-z0-9_-]+")
LOOMWORK = Path(sys.executable).parent / "loomwork"


def command() -> list[str]:
    return [str(LOOMWORK)] if LOOMWORK.exists() else [sys.executable, "-m", "loomwork.cli"]


def cli_env(tmp_path: Path, secret: str | None = CLI_SECRET) -> dict[str, str]:
    """The caller's environment without any LOOMWORK_* setting, with the data directory inside tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOMWORK_")}
    env["LOOMWORK_DATA_DIR"] = str(tmp_path / "data")
    if secret is not None:
        env["LOOMWORK_SECRET_KEY"] = secret
    return env


def run(tmp_path: Path, *args: str, secret: str | None = CLI_SECRET) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args], cwd=tmp_path, env=cli_env(tmp_path, secret), capture_output=True, text=True, timeout=60
    )


@contextmanager
def fresh_database(dialect: str, tmp_path: Path) -> Iterator[str]:
    """An empty database nobody has migrated: a new SQLite file, or a new PostgreSQL database."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    base = make_url(POSTGRES_URL)
    name = f"loomwork_cli_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def count_rows(database_url: str, model) -> int:
    db = Database(database_url)
    try:
        with db.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(model))
    finally:
        db.dispose()


# --- migrate ------------------------------------------------------------------------------------------------


def test_migrate_builds_the_schema_on_a_fresh_database_and_is_repeatable(dialect, tmp_path) -> None:
    with fresh_database(dialect, tmp_path) as url:
        first = run(tmp_path, "migrate", "--database-url", url)
        assert first.returncode == 0, first.stderr
        second = run(tmp_path, "migrate", "--database-url", url)
        assert second.returncode == 0, second.stderr
        db = Database(url)
        try:
            with db.engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                assert {"groups", "profiles", "api_keys", "artifacts", "resources", "alembic_version"} <= tables
                assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
                assert schema_differences(conn) == []
        finally:
            db.dispose()
    assert not (tmp_path / ".loomwork").exists()  # the data directory is LOOMWORK_DATA_DIR, not the cwd


# --- keys create --------------------------------------------------------------------------------------------


def test_keys_create_prints_a_key_alone_on_the_last_line_and_it_authenticates(
    dialect, db, database_url, tmp_path
) -> None:
    result = run(
        tmp_path, "keys", "create", "--group", "g", "--name", "n", "--role", "editor", "--database-url", database_url
    )
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.rstrip("\n").splitlines()[-1]
    assert KEY_LINE.fullmatch(last_line), result.stdout
    key = last_line

    settings = Settings(database_url=database_url, data_dir=tmp_path / "app-data", secret_key=CLI_SECRET.encode())
    with TestClient(create_app(settings, Database(database_url))) as client:
        response = client.post("/api/v5/artifacts/personas/get", json={}, headers={"X-Api-Key": key})
        assert response.status_code == 200, response.text
        assert response.json()["actor_name"] == "n"
        assert response.json()["can_edit"] is True  # an editor
        created = client.post(
            "/api/v5/artifacts/personas/create",
            json={"personas": [{"name": "From CLI key"}]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 200 and created.json()["results"][0]["success"], created.text
    # The key is bound to the secret: another server secret does not accept it.
    other = Settings(
        database_url=database_url,
        data_dir=tmp_path / "app-data",
        secret_key=b"another secret, also of at least 32 bytes",
    )
    with TestClient(create_app(other, Database(database_url))) as client:
        response = client.post("/api/v5/artifacts/personas/get", json={}, headers={"X-Api-Key": key})
        assert response.status_code == 401, response.text


def test_keys_create_with_a_bad_role_exits_non_zero_and_writes_nothing(tmp_path) -> None:
    path = tmp_path / "never.sqlite3"
    result = run(
        tmp_path,
        "keys",
        "create",
        "--group",
        "g",
        "--name",
        "n",
        "--role",
        "owner",
        "--database-url",
        f"sqlite:///{path}",
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "role" in output and "editor" in output, output  # says which roles exist
    assert "lw_" not in result.stdout
    assert not path.exists()


# --- serve --------------------------------------------------------------------------------------------------


@contextmanager
def serving(tmp_path: Path, database_url: str, label: str) -> Iterator[tuple[str, Path]]:
    """Run `loomwork serve` until /healthz answers; yield its URL and stdout file; stop it afterwards."""
    out, err = tmp_path / f"{label}.out", tmp_path / f"{label}.err"
    with (
        out.open("w") as stdout,
        err.open("w") as stderr,
        serve_process(
            ["--database-url", database_url],
            cli_env(tmp_path, secret=None),
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
            timeout=60,
        ) as (url, _process),
    ):
        yield url, out


def _serve_bootstraps_one_admin_key(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    with serving(tmp_path, database_url, "first") as (url, out):
        # The key is a line of its own (uvicorn's access log may follow it on stdout).
        printed = [line for line in out.read_text().splitlines() if "lw_" in line]
        assert len(printed) == 1 and KEY_LINE.fullmatch(printed[0]), printed
        key = printed[0]
        key_file = data_dir / "admin.key"
        assert key_file.read_text().strip() == key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        said = (tmp_path / "first.err").read_text()
        assert f"Open {url}/ and sign in with the admin key in data/admin.key" in said, said
        # The curl line it prints, pasted as it stands where serve was started, answers something useful.
        (curl_line,) = [line.strip() for line in said.splitlines() if line.strip().startswith("curl ")]
        pasted = subprocess.run(["bash", "-c", curl_line], cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert pasted.returncode == 0 and "personas" in json.loads(pasted.stdout), (curl_line, pasted.stdout)

        headers = {"X-Api-Key": key}
        created = httpx.post(
            f"{url}/api/v5/artifacts/personas/create",
            headers=headers,
            timeout=10,
            json={"personas": [{"name": "Served", "description": "over real HTTP"}]},
        )
        assert created.status_code == 200, created.text
        result = created.json()["results"][0]
        assert result["success"], result
        view = httpx.post(
            f"{url}/api/v5/artifacts/personas/get",
            headers=headers,
            timeout=10,
            json={"persona_id": result["persona_id"]},
        )
        assert view.status_code == 200, view.text
        assert [o["value"] for o in view.json()["names"]["options"] if o["selected"]] == ["Served"]
        assert view.json()["actor_name"] == "admin"
        no_key = httpx.post(f"{url}/api/v5/artifacts/personas/get", json={}, timeout=10)
        assert no_key.status_code == 401

    with serving(tmp_path, database_url, "second") as (url, out):
        assert "lw_" not in out.read_text()
        assert key_file.read_text().strip() == key  # not replaced
        view = httpx.post(
            f"{url}/api/v5/artifacts/personas/get",
            headers=headers,
            timeout=10,
            json={"persona_id": result["persona_id"]},
        )
        assert view.status_code == 200, view.text  # same secret file, same key
    assert count_rows(database_url, ApiKey) == 1
    assert count_rows(database_url, Group) == 1
    assert count_rows(database_url, Profile) == 1
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.scalar(select(ApiKey.name)) == "admin (bootstrap)"
    engine.dispose()


def test_serve_on_an_empty_database_makes_one_admin_key_that_works(dialect, tmp_path, request) -> None:
    if dialect == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    else:
        request.getfixturevalue("db")  # truncated: no group yet
        database_url = request.getfixturevalue("database_url")
    _serve_bootstraps_one_admin_key(tmp_path, database_url)


# --- keys: agents, list and revoke ----------------------------------------------------------------------------


def test_keys_create_agent_list_and_revoke(dialect, db, database_url, tmp_path) -> None:
    url = ("--database-url", database_url)
    person = run(tmp_path, "keys", "create", "--group", "g", "--name", "Ada", "--role", "editor", *url)
    assert person.returncode == 0, person.stderr
    # An agent needs a person of the group as sponsor, and is never an admin: refused before any key is made.
    for bad in (
        ("--role", "editor", "--sponsor", "Nobody"),
        ("--role", "admin", "--sponsor", "Ada"),
        ("--role", "editor"),
    ):
        refused = run(tmp_path, "keys", "create", "--group", "g", "--name", "Bot", "--agent", *bad, *url)
        assert refused.returncode == 2 and "lw_" not in refused.stdout, refused.stdout
        assert ("sponsor" if "admin" not in bad else "admin") in refused.stderr, refused.stderr
    made = run(
        tmp_path,
        "keys",
        "create",
        "--group",
        "g",
        "--name",
        "Bot",
        "--role",
        "editor",
        "--agent",
        "--sponsor",
        "Ada",
        "--key-name",
        "laptop agent",
        *url,
    )
    assert made.returncode == 0, made.stderr
    agent_key = made.stdout.rstrip("\n").splitlines()[-1]
    assert KEY_LINE.fullmatch(agent_key)

    listed = run(tmp_path, "keys", "list", "--group", "g", *url)
    assert listed.returncode == 0, listed.stderr
    assert agent_key[:12] in listed.stdout and "laptop agent" in listed.stdout and "agent" in listed.stdout
    assert agent_key.split("_", 2)[2][:8] not in listed.stdout  # never the secret
    with db.engine.connect() as conn:
        key_id = str(conn.scalar(select(ApiKey.id).where(ApiKey.name == "laptop agent")))
    assert key_id in listed.stdout

    settings = Settings(database_url=database_url, data_dir=tmp_path / "app-data", secret_key=CLI_SECRET.encode())
    with TestClient(create_app(settings, Database(database_url))) as client:
        # No X-MCP, yet an agent: it may read, but not create.
        view = client.post("/api/v5/artifacts/personas/get", json={}, headers={"X-Api-Key": agent_key})
        assert view.status_code == 200 and view.json()["can_edit"] is False, view.text
        created = client.post(
            "/api/v5/artifacts/personas/create", json={"personas": [{"name": "x"}]}, headers={"X-Api-Key": agent_key}
        )
        assert created.status_code == 403 and created.json()["code"] == "agent_refused", created.text

        revoked = run(tmp_path, "keys", "revoke", key_id, *url)
        assert revoked.returncode == 0 and "Revoked" in revoked.stderr, revoked.stderr
        after = client.post("/api/v5/artifacts/personas/get", json={}, headers={"X-Api-Key": agent_key})
        assert after.status_code == 401 and after.json()["code"] == "key_revoked", after.text
    missing = run(tmp_path, "keys", "revoke", str(uuid.uuid4()), *url)
    assert missing.returncode == 1 and "No key" in missing.stderr


# --- the first hour: where it serves, what it says, the help, the sample ---------------------------------------


def test_serve_listens_on_loomwork_port_and_host(tmp_path) -> None:
    port = free_port()
    env = cli_env(tmp_path) | {"LOOMWORK_PORT": str(port), "LOOMWORK_HOST": "127.0.0.1"}
    process = subprocess.Popen(
        [*command(), "serve"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "serve did not answer on LOOMWORK_PORT"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_help_keeps_option_names_whole_names_kind_in_capitals_and_wraps_whole_sentences(tmp_path) -> None:
    env = cli_env(tmp_path) | {"COLUMNS": "80"}
    serve = subprocess.run([*command(), "serve", "--help"], env=env, capture_output=True, text=True, timeout=60)
    for whole in ("--graceful-timeout", "LOOMWORK_GRACEFUL_TIMEOUT", "LOOMWORK_METRICS_PORT", "LOOMWORK_PORT"):
        assert whole in serve.stdout, serve.stdout
    assert "…" not in serve.stdout
    export = subprocess.run([*command(), "export", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert "Usage: loomwork export [OPTIONS] KIND" in export.stdout, export.stdout
    rotate = subprocess.run(
        [*command(), "rotate-secret", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    # Paragraphs are rewrapped to the width: no line of a paragraph stops short before the next one goes on.
    paragraph = next(p for p in rotate.stdout.split("\n\n") if p.strip().startswith("3. Drop")).splitlines()
    assert all(len(line) > 60 for line in paragraph[:-1]), paragraph


def test_keys_create_names_the_key_after_its_profile_unless_given_a_key_name(tmp_path) -> None:
    url = ("--database-url", f"sqlite:///{tmp_path / 'k.sqlite3'}")
    made = run(tmp_path, "keys", "create", "--group", "g", "--name", "Grace Lin", "--role", "editor", *url)
    assert made.returncode == 0, made.stderr
    listed = run(tmp_path, "keys", "list", "--group", "g", *url)
    row = next(line for line in listed.stdout.splitlines() if made.stdout.strip().splitlines()[-1][:12] in line)
    assert row.count("Grace Lin") == 2, row  # the profile, and the key's name


def test_seed_demo_loads_the_sample_and_wants_bulk_for_counts(tmp_path) -> None:
    url = ("--database-url", f"sqlite:///{tmp_path / 's.sqlite3'}")
    refused = run(tmp_path, "seed-demo", "--personas", "5", *url)
    assert refused.returncode == 2 and "--bulk" in refused.stderr, refused.stderr
    loaded = run(tmp_path, "seed-demo", *url)
    assert loaded.returncode == 0, loaded.stderr
    assert "12 personas, 6 tools, 4 evals, 4 invocations" in " ".join(loaded.stderr.split()), loaded.stderr
    # Before serve ever ran: seed-demo made the admin key serve would have made, and saved it.
    key = (tmp_path / "data" / "admin.key").read_text().strip()
    assert KEY_LINE.fullmatch(key) and loaded.stdout.strip().splitlines()[-1] == key
    again = run(tmp_path, "seed-demo", *url)
    assert again.returncode == 0 and "already" in again.stderr and "lw_" not in again.stdout, again.stderr
