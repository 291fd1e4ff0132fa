"""One engine per database, tuned per dialect, and the request-sized transaction.

SQLite is the embedded default: WAL so readers never block the writer, foreign
keys on, a busy timeout, and write transactions that start with BEGIN IMMEDIATE
so concurrent writers queue on the lock instead of failing half-way with
"database is locked". PostgreSQL needs nothing special.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import assert_never

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from loomwork.db.dialect import Dialect, dialect_of, fold_text, has_one_writer
from loomwork.db.sqlite_files import create_private, sqlite_file

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 32 * 1024  # per connection
# Pages the WAL may hold before a commit copies them back into the database file (SQLite's default is
# 1,000, 4 MB). A bulk create of 1,000 items dirties about that many, so with the default nearly every one
# paid a checkpoint and its fsync inside the write lock (0.4 s more of a 0.4 s commit, under load); a
# larger WAL checkpoints a page written by several requests once.
SQLITE_WAL_CHECKPOINT_PAGES = 10_000


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the driver's own is always DEFERRED).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A bigger page cache than the 2 MB default for reads of a large file. No mmap: its pages count in
        # every connection's share of RSS (an export peaked at 741 MiB with 256 MiB mapped, 488 without) and
        # it bought no speed once export let the database aggregate (7.55 s with it, 7.63 s without).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
        cursor.close()
        dbapi_conn.create_function("loomwork_fold", 1, fold_text, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("loomwork_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


AFTER_COMMIT = "loomwork.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once this session's transaction has committed and its connection is back in the pool,
    before the request that made it is answered (`Database.transaction`). A rollback drops it."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def create_db_engine(url: str) -> Engine:
    if url.startswith(Dialect.SQLITE):
        if (path := sqlite_file(url)) is not None:
            create_private(path)  # 0600, before SQLite would make it with the umask's mode
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    """Hands out sessions; a `transaction()` is the unit of work of one request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self._writer = self.engine.execution_options(loomwork_write=True)
        self._sessions = sessionmaker(expire_on_commit=False, autoflush=False)
        # A read that must see one moment across many statements (an export).
        self._snapshot: Engine
        dialect = self.dialect
        match dialect:
            case Dialect.SQLITE:  # its read transaction is one snapshot already (WAL)
                self._snapshot = self.engine
            case Dialect.POSTGRESQL:  # its default READ COMMITTED takes one snapshot per statement
                self._snapshot = self.engine.execution_options(isolation_level="REPEATABLE READ")
            case _:
                assert_never(dialect)
        # SQLite has one writer at a time. Writers of this process queue here, where the next one starts
        # the moment the last commits, instead of polling the file lock until the busy timeout gives up
        # (a queue of bulk writes can be longer than any timeout). Other processes still meet the timeout.
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if has_one_writer(dialect) else contextlib.nullcontext()
        )

    @property
    def dialect(self) -> Dialect:
        return dialect_of(self.engine)

    @contextmanager
    def transaction(self, *, write: bool, snapshot: bool = False) -> Iterator[Session]:
        """Commit once at the end, roll back on any error. Writers take the write lock up front;
        a `snapshot` read sees one moment's data in all its statements."""
        with self._write_lock if write else contextlib.nullcontext():
            session = self._sessions(bind=self._writer if write else self._snapshot if snapshot else self.engine)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
                callbacks = session.info.pop(AFTER_COMMIT, [])
        for callback in callbacks:  # reached only after a commit
            callback()

    def dispose(self) -> None:
        self.engine.dispose()
