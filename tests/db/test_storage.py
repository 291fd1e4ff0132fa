"""Storage on both databases: migrations match the models, SQLite is tuned, writers queue, health answers.

Rules: after `upgrade`, Alembic's autogenerate finds nothing to change; SQLite
connections use WAL, foreign keys and a busy timeout; concurrent writers all
succeed (none fails with "database is locked" or a 5xx); /healthz is liveness
and /readyz says which database answers (503 when none does).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text

from loomwork.app import create_app
from loomwork.config import Settings
from loomwork.db.all_models import metadata
from loomwork.db.database import Database
from loomwork.engine.models import Artifact

# What each database builds its own way for text search, which no model maps (and so is left out of the
# comparison): SQLite's FTS5 table with its shadow tables, PostgreSQL's expression index.
SQLITE_FTS = "search_fts"
POSTGRES_WORDS_INDEX = "ix_search_documents_words"


def _database_owned(name: str | None, type_: str, _parent: Any) -> bool:
    if type_ == "table":
        return name == SQLITE_FTS or (bool(name) and name.startswith(f"{SQLITE_FTS}_"))
    if type_ == "index":
        return name == POSTGRES_WORDS_INDEX
    return False


# --- migrations ---------------------------------------------------------------------------------------------


def test_migrations_leave_nothing_for_autogenerate_to_change(db, dialect) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": lambda name, type_, parent: not _database_owned(name, type_, parent),
            },
        )
        differences = compare_metadata(context, metadata)
        assert differences == [], differences
        # The structures left out above do exist: leaving them out hides nothing missing.
        inspector = inspect(conn)
        if dialect == "sqlite":
            assert SQLITE_FTS in inspector.get_table_names()
        else:
            assert POSTGRES_WORDS_INDEX in {i["name"] for i in inspector.get_indexes("search_documents")}
        assert set(metadata.tables) <= set(inspector.get_table_names())


# --- SQLite tuning ------------------------------------------------------------------------------------------


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(db, dialect) -> None:
    if dialect != "sqlite":
        pytest.skip("SQLite pragmas only")

    def pragmas(execute) -> tuple[Any, Any, Any]:
        return tuple(
            execute(text(f"PRAGMA {name}")).scalar() for name in ("journal_mode", "foreign_keys", "busy_timeout")
        )

    with db.engine.connect() as conn:
        journal_mode, foreign_keys, busy_timeout = pragmas(conn.execute)
        checkpoint_pages = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    assert checkpoint_pages > 1000  # bulk writes would checkpoint (and fsync) at nearly every commit
    assert journal_mode == "wal"
    assert foreign_keys == 1
    assert busy_timeout > 0
    for write in (False, True):  # the sessions requests use, readers and writers alike
        with db.transaction(write=write) as session:
            assert pragmas(session.execute) == (journal_mode, 1, busy_timeout)


def test_sqlite_foreign_keys_are_enforced(db, dialect) -> None:
    if dialect != "sqlite":
        pytest.skip("SQLite pragmas only")
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.transaction(write=True) as session:
        session.execute(
            text(
                "INSERT INTO profiles (id, group_id, name, role, created_at) "
                "VALUES (:id, :group_id, 'orphan', 'viewer', CURRENT_TIMESTAMP)"
            ),
            {"id": uuid.uuid4().hex, "group_id": uuid.uuid4().hex},
        )


def test_writers_of_one_process_queue_past_the_busy_timeout(db, dialect, monkeypatch) -> None:
    """A queue of long writes (bulk creates) can outlast SQLite's busy timeout; writers of one process wait
    their turn in the process instead, so none fails with "database is locked"."""
    if dialect != "sqlite":
        pytest.skip("SQLite's single writer only")
    import threading
    import time

    from loomwork.db import database as database_module

    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    short = database_module.Database(db.url)  # its connections wait at most 50 ms for the file lock
    holding, errors = threading.Event(), []

    def long_writer() -> None:
        with short.transaction(write=True) as session:
            session.execute(text("CREATE TABLE held (x INTEGER)"))
            holding.set()
            time.sleep(0.5)  # ten busy timeouts

    def second_writer() -> None:
        holding.wait()
        try:
            with short.transaction(write=True) as session:
                session.execute(text("INSERT INTO held VALUES (1)"))
        except Exception as exc:  # noqa: BLE001 - the failure this test is about
            errors.append(exc)

    threads = [threading.Thread(target=long_writer), threading.Thread(target=second_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    short.dispose()
    assert errors == []
    with db.transaction(write=False) as session:
        assert session.execute(text("SELECT count(*) FROM held")).scalar() == 1


# --- concurrent writers -------------------------------------------------------------------------------------

THREADS = 8
PER_THREAD = 10


def test_concurrent_writers_all_succeed(live_server, db, make_api) -> None:
    key = make_api("editor").key
    barrier = threading.Barrier(THREADS)
    outcomes: list[list[tuple[int, Any]]] = [[] for _ in range(THREADS)]

    def writer(index: int) -> None:
        with httpx.Client(base_url=live_server.url, headers={"X-Api-Key": key}, timeout=60) as http:
            barrier.wait()
            for n in range(PER_THREAD):
                response = http.post(
                    "/api/v5/artifacts/personas/create",
                    json={"personas": [{"name": f"Writer {index} persona {n}", "departments": ["Shared department"]}]},
                )
                body = response.json() if response.status_code == 200 else response.text
                outcomes[index].append((response.status_code, body))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    flat = [outcome for per_thread in outcomes for outcome in per_thread]
    assert len(flat) == THREADS * PER_THREAD
    failures = [o for o in flat if o[0] != 200 or not o[1]["results"][0]["success"]]
    assert failures == []
    ids = {o[1]["results"][0]["persona_id"] for o in flat}
    assert len(ids) == THREADS * PER_THREAD
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Artifact).where(Artifact.kind == "persona")) == 80
        # The department shared by all 80 was deduped into one resource, not made once per writer.
        assert conn.scalar(text("SELECT count(*) FROM resources WHERE kind = 'department'")) == 1
    search = httpx.post(
        f"{live_server.url}/api/v5/artifacts/personas/search",
        headers={"X-Api-Key": key},
        json={"page_size": 1},
        timeout=30,
    )
    assert search.json()["total_count"] == 80


# --- health -------------------------------------------------------------------------------------------------


def test_healthz_is_200_and_readyz_names_the_dialect(client, dialect) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["database"] == dialect


def test_readyz_is_503_when_the_database_does_not_answer(dialect, tmp_path) -> None:
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.sqlite3'}"
    else:
        url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    settings = Settings(database_url=url, data_dir=tmp_path / "data", secret_key=b"unused-but-at-least-32-bytes-long")
    with TestClient(create_app(settings, Database(url)), raise_server_exceptions=False) as client:
        assert client.get("/healthz").status_code == 200  # alive, just not ready
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["code"] == "not_ready"
