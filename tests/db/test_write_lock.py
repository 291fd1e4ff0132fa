"""SQLite's writers of one process take turns in the order they came (db/database.py's FairLock).

A writer of many transactions, such as an import that commits a batch at a time, let the lock go and took
it straight back while another writer was still waking up: on a loaded machine another group's create
waited through three batches. Now a writer that queued while the lock was held gets it at the next
release, before the writer that held it can take it again. (PostgreSQL has no such lock.)
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from loomwork.db.database import Database

QUEUED_S = 0.2  # long enough for the other thread to block on the lock (it cannot get it before)
ROUNDS = 3  # with the old lock the other writer won one round in five, by chance


def test_a_queued_writer_goes_before_the_writer_that_just_committed_takes_the_lock_again(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'writers.sqlite3'}")
    firsts = []
    for _ in range(ROUNDS):
        order: list[str] = []
        started = threading.Event()

        def other_writer(order: list[str] = order, started: threading.Event = started) -> None:
            started.set()
            with db.transaction(write=True):
                order.append("other")

        other = threading.Thread(target=other_writer)
        with db.transaction(write=True):
            other.start()
            started.wait()
            time.sleep(QUEUED_S)
        for _ in range(5):  # the batches that follow at once
            with db.transaction(write=True):
                order.append("batch")
        other.join()
        firsts.append(order[0])
    db.dispose()

    assert firsts == ["other"] * ROUNDS
