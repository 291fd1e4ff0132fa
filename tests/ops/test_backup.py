"""Backup and restore (API.md section 12).

Rules: `loomwork backup` copies a SQLite database while clients keep writing; the copy, restored into a
fresh file, passes SQLite's integrity check, holds every write acknowledged before the backup began,
and serves. Restore refuses a database that holds data unless --force, and migrates what it restores.
Both say that the server secret is not in the backup. On PostgreSQL both point to pg_dump/pg_restore.
"""

from __future__ import annotations

import os
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
from ops_server import cli_env, loomwork, serving
from sqlalchemy import select, text
from writers import Writers

from conftest import make_key
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork.engine.models import Artifact

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
