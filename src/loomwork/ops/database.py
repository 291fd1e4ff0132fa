"""Pool and lock figures for the app's engine: connections in use, checkout waits, SQLite lock waits.

Recorded through SQLAlchemy's events, plus two thin wrappers (the pool's `connect` and the Database's
in-process write lock) for the two waits no event brackets.
"""

from __future__ import annotations

import sqlite3
import weakref
from time import perf_counter
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import PoolProxiedConnection

from loomwork.db.database import Database
from loomwork.db.dialect import has_one_writer
from loomwork.ops.metrics import DB_BUSY, DB_CONNECTIONS_IN_USE, DB_LOCK_WAIT, DB_POOL_CHECKOUT

_instrumented: weakref.WeakSet[Engine] = weakref.WeakSet()
_BEGIN_STARTED = "loomwork_begin_started"


class _TimedLock:
    """Database's in-process write lock, timing how long each writer queued for it."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        started = perf_counter()
        self._lock.__enter__()
        DB_LOCK_WAIT.labels(lock="process").observe(perf_counter() - started)

    def __exit__(self, *exc: Any) -> None:
        self._lock.__exit__(*exc)


def _time_pool_checkouts(engine: Engine) -> None:
    pool = engine.pool
    connect = pool.connect

    def timed_connect() -> PoolProxiedConnection:
        started = perf_counter()
        try:
            return connect()
        finally:
            DB_POOL_CHECKOUT.observe(perf_counter() - started)

    pool.connect = timed_connect  # type: ignore[method-assign]


def _is_busy(error: BaseException | None) -> bool:
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def instrument_database(db: Database) -> None:
    """Record `db`'s pool and lock figures (once per engine), and keep SQL parameters out of logs."""
    engine = db.engine
    if engine in _instrumented:
        return
    _instrumented.add(engine)
    # A failed statement's message would otherwise carry its parameters (request values) into the logs.
    engine.hide_parameters = True
    _time_pool_checkouts(engine)

    @event.listens_for(engine, "checkout")
    def _checked_out(*_args: Any) -> None:
        DB_CONNECTIONS_IN_USE.inc()

    @event.listens_for(engine, "checkin")
    def _checked_in(*_args: Any) -> None:
        DB_CONNECTIONS_IN_USE.dec()

    if not has_one_writer(db.dialect):
        return
    if not isinstance(db._write_lock, _TimedLock):  # the one-writer databases' FairLock, timed once
        db._write_lock = _TimedLock(db._write_lock)

    # BEGIN IMMEDIATE is where a writer waits for other processes' writers (up to the busy timeout).
    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            conn.info[_BEGIN_STARTED] = perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, *_args: Any) -> None:
        started = conn.info.pop(_BEGIN_STARTED, None)
        if started is not None:
            DB_LOCK_WAIT.labels(lock="database").observe(perf_counter() - started)

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        if context.connection is not None:
            context.connection.info.pop(_BEGIN_STARTED, None)
        if _is_busy(context.original_exception):
            DB_BUSY.inc()
