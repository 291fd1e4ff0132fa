"""Wake the change feed's long polls the moment a group's events commit, in any worker process.

One listener thread per process (and database), started by the first long poll:
- PostgreSQL: LISTEN on the channel the outbox NOTIFYs at commit;
- SQLite: a poll of the waiting groups' `event_cursors` rows every 25 ms (a primary-key read).
Waiters are asyncio events: a waiting request holds no thread and no database connection.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import assert_never

from sqlalchemy import select
from sqlalchemy.engine import make_url

from loomwork.db.database import Database
from loomwork.db.dialect import Dialect
from loomwork.db.scoping import in_group
from loomwork.events.models import EventCursor
from loomwork.events.outbox import NOTIFY_CHANNEL

log = logging.getLogger("loomwork.notify")
SQLITE_POLL_S = 0.025
IDLE_EXIT_S = 5.0  # a listener with no waiters for this long ends (the next long poll starts another)


class ChangeNotifier:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        # group -> {(loop, event): the cursor the waiter has seen}
        self._waiters: dict[uuid.UUID, dict[tuple[asyncio.AbstractEventLoop, asyncio.Event], int]] = {}
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._busy_at = time.monotonic()
        self._listening = threading.Event()  # set once the listener would hear a commit

    async def wait(self, group_id: uuid.UUID, seen: int, timeout: float) -> None:
        """Return when the group's last cursor passes `seen`, or after `timeout` seconds."""
        loop, woken = asyncio.get_running_loop(), asyncio.Event()
        entry = (loop, woken)
        with self._lock:
            self._waiters.setdefault(group_id, {})[entry] = seen
            self._start()
        try:
            if not await asyncio.to_thread(self._passed, group_id, seen):  # a commit before we registered
                await asyncio.wait_for(woken.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                waiting = self._waiters.get(group_id)
                if waiting is not None:
                    waiting.pop(entry, None)
                    if not waiting:
                        del self._waiters[group_id]

    def close(self) -> None:
        self._closed.set()

    def _passed(self, group_id: uuid.UUID, seen: int) -> bool:
        self._listening.wait(5.0)  # a commit from here on wakes us; one before shows in the read below
        with self.db.transaction(write=False) as session:
            last = session.scalar(select(EventCursor.last).where(in_group(EventCursor, group_id))) or 0
        return last > seen

    def _wake(self, group_id: uuid.UUID, last: int | None = None) -> None:
        with self._lock:
            waiting = [entry for entry, seen in self._waiters.get(group_id, {}).items() if last is None or last > seen]
        for loop, woken in waiting:
            loop.call_soon_threadsafe(woken.set)

    def _idle_exit(self) -> bool:
        """True (and the thread forgotten, so the next waiter starts one) after a while with no waiters."""
        with self._lock:
            if self._waiters:
                self._busy_at = time.monotonic()
                return False
            if time.monotonic() - self._busy_at < IDLE_EXIT_S:
                return False
            self._thread = None
            self._listening.clear()
            return True

    def _start(self) -> None:  # under self._lock
        self._busy_at = time.monotonic()
        if self._thread is None:
            dialect = self.db.dialect
            match dialect:
                case Dialect.POSTGRESQL:
                    target = self._listen_postgresql
                case Dialect.SQLITE:
                    target = self._poll_sqlite
                case _:
                    assert_never(dialect)
            self._thread = threading.Thread(target=self._run, args=(target,), name="loomwork-notify", daemon=True)
            self._thread.start()

    def _run(self, target: Callable[[], bool]) -> None:
        while not self._closed.is_set():
            try:
                if target():
                    return
            except Exception:
                self._listening.clear()
                log.exception("change listener failed; restarting")
                self._closed.wait(0.5)

    def _poll_sqlite(self) -> bool:
        self._listening.set()
        while not self._closed.is_set():
            if self._idle_exit():
                return True
            with self._lock:
                groups = list(self._waiters)
            if groups:
                with self.db.engine.connect() as conn:
                    rows = conn.execute(
                        select(EventCursor.group_id, EventCursor.last).where(EventCursor.group_id.in_(groups))
                    ).all()
                for group_id, last in rows:
                    self._wake(group_id, last)
            self._closed.wait(SQLITE_POLL_S)
        return True

    def _listen_postgresql(self) -> bool:
        import psycopg

        url = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._listening.set()
            while not self._closed.is_set():
                if self._idle_exit():
                    return True
                for note in conn.notifies(timeout=1.0):
                    try:
                        group, last = note.payload.split(":", 1)
                        self._wake(uuid.UUID(group), int(last))
                    except ValueError:
                        continue
        return True


def notifier_for(db: Database) -> ChangeNotifier:
    """The process's notifier for this database (made on first use). It lives in the database object's own
    namespace: db/ sits below events and has no field for it."""
    namespace = vars(db)
    notifier: ChangeNotifier | None = namespace.get("_change_notifier")
    if notifier is None:
        notifier = namespace["_change_notifier"] = ChangeNotifier(db)
    return notifier
