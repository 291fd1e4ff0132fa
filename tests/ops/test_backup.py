"""Backup and restore (API.md section 12).

Rules: `loomwork backup` copies a SQLite database while clients keep writing; the copy, restored into a
fresh file, passes SQLite's integrity check, holds every write acknowledged before the backup began,
every row of every table, and serves. Restore refuses a database that holds data unless --force, and
migrates what it restores. It refuses a file that is corrupt or not a Loomwork backup, and a database a
server holds (whatever --force says), each with exit 1, a message and the database untouched. The
database, its -wal and -shm and every backup are readable by their owner only (0600). Both say that the
server secret is not in the backup. On PostgreSQL both point to pg_dump/pg_restore.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from ops_server import cli_env, loomwork, serving
from sqlalchemy import func, select, text
from writers import Writers

from conftest import TEST_SECRET, make_key
from loomwork.app import create_app
from loomwork.config import ADMIN_KEY_FILE, Settings
from loomwork.db.all_models import metadata
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork.engine.models import Artifact
from loomwork.events.outbox import EVENT_TYPES
from loomwork.ops import backup as backups

SECRET_NOTICE = "is NOT in the backup"


def run(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        loomwork(*args), env=cli_env(tmp_path / "data"), capture_output=True, text=True, timeout=300, cwd=tmp_path
    )


def artifact_ids(database_url: str) -> set[str]:
    db = Database(database_url)
    try:
        with db.transaction(write=False) as session:
            return {str(i) for i in session.scalars(select(Artifact.id))}
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_a_backup_taken_while_four_clients_write_restores_every_acknowledged_write(db, database_url, dialect, tmp_path):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    backup_file = tmp_path / "backup.sqlite3"
    with serving(database_url, tmp_path / "data") as served, Writers(served.url, headers, count=4) as writers:
        writers.wait_for(200)
        began = time.monotonic()
        backed_up = run(tmp_path, "backup", "--to", str(backup_file), "--database-url", database_url)
        ended = time.monotonic()
        assert backed_up.returncode == 0, backed_up.stderr
        writers.wait_for(writers.acked_count() + 20)  # and the server still writes afterwards
    assert SECRET_NOTICE in backed_up.stderr
    owed = writers.acked_before(began)
    during = {pid for pid, at in writers.acked.items() if began <= at <= ended}
    assert owed and during, "writes were acknowledged before and while the backup ran"

    fresh = tmp_path / "restored" / "loomwork.sqlite3"
    fresh_url = f"sqlite:///{fresh}"
    restored = run(tmp_path, "restore", "--from", str(backup_file), "--database-url", fresh_url)
    assert restored.returncode == 0, restored.stderr
    assert SECRET_NOTICE in restored.stderr
    with sqlite3.connect(fresh) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    kept = artifact_ids(fresh_url)
    assert owed <= kept, f"{len(owed - kept)} acknowledged personas are missing from the backup"
    assert kept <= set(writers.acked) | artifact_ids(database_url)

    some = sorted(owed)[:3]
    with serving(fresh_url, tmp_path / "data", label="restored") as served:
        for persona_id in some:
            shown = httpx.post(
                f"{served.url}/api/v5/artifacts/personas/get",
                headers=headers,
                timeout=60,
                json={"persona_id": persona_id},
            )
            assert shown.status_code == 200, shown.text  # same secret: the backup's keys still work


def test_restore_refuses_a_database_that_holds_data_unless_forced(db, database_url, dialect, tmp_path):
    make_key(db, "acme", "editor", "editor")
    backup_file = tmp_path / "backup.sqlite3"
    backed_up = run(tmp_path, "backup", "--to", str(backup_file), "--database-url", database_url)
    if dialect == "postgresql":  # Loomwork does not reimplement pg_dump
        assert backed_up.returncode == 2
        for words in ("pg_dump", "pg_restore", SECRET_NOTICE):
            assert words in backed_up.stderr, backed_up.stderr
        assert not backup_file.exists()
        return
    assert backed_up.returncode == 0, backed_up.stderr
    assert run(tmp_path, "backup", "--to", str(backup_file), "--database-url", database_url).returncode == 1

    with db.transaction(write=True) as session:  # a change after the backup, which restore takes back
        session.execute(text("DELETE FROM api_keys"))
    refused = run(tmp_path, "restore", "--from", str(backup_file), "--database-url", database_url)
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert (
        run(
            tmp_path,
            "restore",
            "--from",
            str(tmp_path / "nothing"),
            "--database-url",
            f"sqlite:///{tmp_path / 'new.sqlite3'}",
        ).returncode
        == 1
    )

    forced = run(tmp_path, "restore", "--from", str(backup_file), "--database-url", database_url, "--force")
    assert forced.returncode == 0, forced.stderr
    with db.transaction(write=False) as session:
        assert session.execute(text("SELECT count(*) FROM api_keys")).scalar() == 1

    # A backup made by an older Loomwork is migrated on restore: one left at revision 0006 comes back at head.
    old = tmp_path / "old.sqlite3"
    old_db = Database(f"sqlite:///{old}")
    upgrade(old_db.engine, "0006")
    old_db.dispose()
    target = tmp_path / f"{uuid.uuid4().hex}.sqlite3"
    assert run(tmp_path, "restore", "--from", str(old), "--database-url", f"sqlite:///{target}").returncode == 0
    with sqlite3.connect(target) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone()[0] == _head()
        assert connection.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 0  # 0007's table


def _head() -> str:
    from alembic.script import ScriptDirectory

    from loomwork.db.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# --- every row of every table -------------------------------------------------------------------------------


def row_counts(path: Path) -> dict[str, int]:
    database = Database(f"sqlite:///{path}")
    try:
        with database.engine.connect() as connection:
            return {t.name: connection.scalar(select(func.count()).select_from(t)) or 0 for t in metadata.sorted_tables}
    finally:
        database.dispose()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The usual umask, under which a file made without an explicit mode is world-readable (0644)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


SEEDED = ("artifact_revisions", "artifact_labels", "events", "draft_entries", "audit_events", "webhooks", "uploads")


def seed_every_kind_of_row(make_api) -> None:
    """Artifacts with several revisions and labels, drafts with an agent's waiting proposal, a webhook and
    its events, an export (an upload), the audit trail: rows in most tables, through the API."""
    admin = make_api("admin")
    response = admin.post("/api/v5/webhooks/create", {"url": "https://8.8.8.8/loomwork", "events": list(EVENT_TYPES)})
    assert response.status_code == 200, response.text
    personas = [admin.create("personas", name=f"Persona {i}", description="first") for i in range(3)]
    for i, persona_id in enumerate(personas):
        for take in range(2):
            (result,) = admin.ok(
                "personas", "update", {"personas": [{"persona_id": persona_id, "description": f"take {i}.{take}"}]}
            )["results"]
            assert result["success"], result
        admin.ok("personas", "label", {"persona_id": persona_id, "label": "staging", "version": 2})
    admin.create("tools", name="Search")
    draft = admin.op("personas", "draft", {"name": "Drafted"}, method="PATCH")
    assert draft.status_code == 200, draft.text
    proposal = admin.as_agent().op(
        "personas", "draft", {"draft_id": draft.json()["draft_id"], "name": "Proposed"}, method="PATCH"
    )
    assert proposal.status_code == 200, proposal.text
    admin.ok("personas", "export", {})


@pytest.mark.sqlite_only
def test_a_backup_and_its_restore_keep_every_row_of_every_table(make_api, db, database_url, dialect, tmp_path):
    seed_every_kind_of_row(make_api)
    source = Path(database_url.removeprefix("sqlite:///"))
    before = row_counts(source)
    for table in SEEDED:
        assert before[table] > 0, f"the seed left {table} empty"

    backup_file = tmp_path / "backup.sqlite3"
    with umask(0o022):
        backed_up = run(tmp_path, "backup", "--to", str(backup_file), "--database-url", database_url)
    assert backed_up.returncode == 0, backed_up.stderr
    assert mode(backup_file) == 0o600, "the backup holds key hashes and encrypted secrets: its owner's only"
    assert row_counts(backup_file) == before

    restored = tmp_path / "restored" / "loomwork.sqlite3"
    with umask(0o022):
        done = run(tmp_path, "restore", "--from", str(backup_file), "--database-url", f"sqlite:///{restored}")
    assert done.returncode == 0, done.stderr
    assert mode(restored) == 0o600
    assert row_counts(restored) == before


# --- refusing a file that is not a sound Loomwork backup ----------------------------------------------------


def foreign_database(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        connection.execute("INSERT INTO notes (body) VALUES ('not loomwork')")
    return path


def foreign_database_with_a_revision(path: Path) -> Path:
    """Another app's database that names a revision Loomwork knows, and has none of its tables."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES (?)", (_head(),))
    return path


def overwritten_in_the_middle(backup_file: Path, path: Path) -> Path:
    data = bytearray(backup_file.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = b"\xa5" * 8192
    path.write_bytes(bytes(data))
    return path


def truncated(backup_file: Path, path: Path) -> Path:
    data = backup_file.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def an_index_out_of_step(backup_file: Path, path: Path) -> Path:
    """Every page still reads, but an index no longer matches its table: only SQLite's integrity check sees it."""
    path.write_bytes(backup_file.read_bytes())
    with sqlite3.connect(path) as connection:
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ix_audit_events_group_at'"
        ).fetchone()
    data = bytearray(path.read_bytes())
    data[root * page_size - 1] ^= 0x01  # the end of the last cell of the index's one page: part of its key
    path.write_bytes(bytes(data))
    return path


def from_a_newer_loomwork(backup_file: Path, path: Path) -> Path:
    path.write_bytes(backup_file.read_bytes())
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    return path


def dangling_reference(backup_file: Path, path: Path) -> Path:
    path.write_bytes(backup_file.read_bytes())
    with sqlite3.connect(path) as connection:  # foreign keys are off in a plain connection
        connection.execute("UPDATE api_keys SET profile_id = 'ffffffffffffffffffffffffffffffff'")
    return path


@pytest.mark.sqlite_only
def test_restore_refuses_a_corrupt_or_foreign_file_even_forced_and_leaves_the_database_untouched(
    make_api, db, database_url, dialect, tmp_path
):
    seed_every_kind_of_row(make_api)
    backup_file = tmp_path / "backup.sqlite3"
    assert run(tmp_path, "backup", "--to", str(backup_file), "--database-url", database_url).returncode == 0
    target = Path(database_url.removeprefix("sqlite:///"))
    db.dispose()
    with sqlite3.connect(target) as connection:  # the target's changes all in its file, no -wal beside it
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    original = target.read_bytes()
    files = tmp_path / "files"
    files.mkdir()
    cases = {
        "text file": ((files / "notes.txt"), "not a Loomwork backup"),
        "foreign SQLite file": (foreign_database(files / "foreign.sqlite3"), "not a Loomwork backup"),
        "foreign file with a revision": (
            foreign_database_with_a_revision(files / "revision.sqlite3"),
            "not a Loomwork backup",
        ),
        "overwritten in the middle": (overwritten_in_the_middle(backup_file, files / "overwritten.sqlite3"), "corrupt"),
        "truncated": (truncated(backup_file, files / "truncated.sqlite3"), "corrupt"),
        "index out of step": (an_index_out_of_step(backup_file, files / "index.sqlite3"), "corrupt"),
        "dangling reference": (dangling_reference(backup_file, files / "dangling.sqlite3"), "corrupt"),
        "newer schema": (from_a_newer_loomwork(backup_file, files / "newer.sqlite3"), "upgrade Loomwork"),
        "missing file": (files / "nothing.sqlite3", "There is no file"),
    }
    (files / "notes.txt").write_text("SQLite format 3 - just kidding\n" * 200)
    for case, (path, words) in cases.items():
        refused = run(tmp_path, "restore", "--from", str(path), "--database-url", database_url, "--force")
        assert refused.returncode == 1, f"{case}: {refused.returncode} {refused.stderr}"
        assert words in refused.stderr, f"{case}: {refused.stderr}"
        assert "Traceback" not in refused.stderr, f"{case}: {refused.stderr}"
        assert target.read_bytes() == original, f"{case}: the database changed"

    fine = run(tmp_path, "restore", "--from", str(backup_file), "--database-url", database_url, "--force")
    assert fine.returncode == 0, fine.stderr  # the same checks pass a sound backup


# --- never under a running server ---------------------------------------------------------------------------


def artifact_ids_in(database: Path) -> list[uuid.UUID]:
    """Read as the server's file holds them (the server itself writes meanwhile: a lease, a sweep)."""
    with sqlite3.connect(database) as connection:
        return sorted(uuid.UUID(i) for (i,) in connection.execute("SELECT id FROM artifacts"))


@pytest.mark.sqlite_only
def test_restore_refuses_while_a_server_holds_the_database_whatever_force_says(dialect, tmp_path):
    database = tmp_path / "served" / "loomwork.sqlite3"
    database.parent.mkdir()
    url = f"sqlite:///{database}"
    backup_file = tmp_path / "backup.sqlite3"
    with umask(0o022), serving(url, tmp_path / "data") as served:  # the server makes the database
        headers = {"X-Api-Key": (tmp_path / "data" / ADMIN_KEY_FILE).read_text().strip()}
        created = httpx.post(
            f"{served.url}/api/v5/artifacts/personas/create",
            headers=headers,
            json={"personas": [{"name": "Before the backup"}]},
            timeout=60,
        )
        assert created.status_code == 200, created.text
        for name in ("loomwork.sqlite3", "loomwork.sqlite3-wal", "loomwork.sqlite3-shm", "loomwork.sqlite3.lock"):
            assert mode(database.parent / name) == 0o600, f"{name} is {oct(mode(database.parent / name))}"

        assert run(tmp_path, "backup", "--to", str(backup_file), "--database-url", url).returncode == 0
        assert mode(backup_file) == 0o600
        (persona_id,) = [r["persona_id"] for r in created.json()["results"]]
        httpx.post(
            f"{served.url}/api/v5/artifacts/personas/create",
            headers=headers,
            json={"personas": [{"name": "After the backup"}]},
            timeout=60,
        ).raise_for_status()

        before = artifact_ids_in(database)
        assert len(before) == 2
        refused = run(tmp_path, "restore", "--from", str(backup_file), "--database-url", url, "--force")
        assert refused.returncode == 1, refused.stderr
        assert "Traceback" not in refused.stderr
        assert f"process {served.process.pid}" in refused.stderr, refused.stderr
        assert "Stop it first" in refused.stderr and "--force does not override" in refused.stderr
        assert artifact_ids_in(database) == before
        listed = httpx.post(f"{served.url}/api/v5/artifacts/personas/search", headers=headers, json={}, timeout=60)
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["personas"]) == 2, "the server still answers from its own, unreplaced file"

        served.process.send_signal(signal.SIGKILL)  # a crash: the OS drops its lock with it
        served.process.wait(timeout=60)
        restored = run(tmp_path, "restore", "--from", str(backup_file), "--database-url", url, "--force")
    assert restored.returncode == 0, restored.stderr
    assert artifact_ids_in(database) == [uuid.UUID(persona_id)]  # what the backup held, not what came after


@pytest.mark.sqlite_only
def test_a_worker_holds_its_database_for_its_lifetime_and_a_restore_keeps_servers_out(database_url, dialect, tmp_path):
    database = Path(database_url.removeprefix("sqlite:///"))
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", secret_key=TEST_SECRET)
    with (
        TestClient(create_app(settings, Database(database_url))),  # one worker, started
        pytest.raises(backups.DatabaseInUse),
        backups.sole_use(database),
    ):
        pass
    # The worker stopped: the database is free, and a restore keeps a starting server out.
    with backups.sole_use(database), pytest.raises(backups.DatabaseInUse, match="restore"):
        backups.hold_database(database_url)
    hold = backups.hold_database(database_url)
    assert hold is not None
    hold.release()


@pytest.mark.sqlite_only
def test_loomwork_deliver_holds_the_database_too(database_url, dialect, tmp_path):
    process = subprocess.Popen(
        loomwork("deliver", "--database-url", database_url),
        env=cli_env(tmp_path / "data"),
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        assert "Delivering webhooks" in process.stderr.readline()
        backup_file = tmp_path / "backup.sqlite3"
        assert run(tmp_path, "backup", "--to", str(backup_file), "--database-url", database_url).returncode == 0
        refused = run(tmp_path, "restore", "--from", str(backup_file), "--database-url", database_url, "--force")
        assert refused.returncode == 1 and "Stop it first" in refused.stderr, refused.stderr
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_the_database_and_its_wal_are_made_private_whatever_the_umask(tmp_path):
    fresh = tmp_path / "fresh.sqlite3"
    with umask(0o022):
        made = Database(f"sqlite:///{fresh}")
        upgrade(made.engine)
        with made.transaction(write=True) as session:
            session.execute(text("CREATE TABLE written (x)"))
            assert {p.name: mode(p) for p in tmp_path.glob("fresh.sqlite3*")} == {
                "fresh.sqlite3": 0o600,
                "fresh.sqlite3-wal": 0o600,
                "fresh.sqlite3-shm": 0o600,
            }
        made.dispose()

        old = tmp_path / "old.sqlite3"  # made world-readable by an older Loomwork, with a -wal left behind
        old.write_bytes(fresh.read_bytes())
        (tmp_path / "old.sqlite3-wal").write_bytes(b"")
        for path in tmp_path.glob("old.sqlite3*"):
            path.chmod(0o644)
        Database(f"sqlite:///{old}").dispose()
    assert {p.name: mode(p) for p in tmp_path.glob("old.sqlite3*")} == {"old.sqlite3": 0o600, "old.sqlite3-wal": 0o600}
