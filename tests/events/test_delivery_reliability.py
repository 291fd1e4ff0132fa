"""Delivery under faults and the change feed at scale (API.md section 10), on SQLite and PostgreSQL:
a server killed with SIGKILL mid-delivery loses nothing, two `loomwork deliver` processes never send
one message at the same time, the feed pages through 10,000 events, and a long poll wakes within
100 ms of a commit made through another worker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from conftest import TEST_SECRET, serve_process, serving
from loomwork.app import create_app
from loomwork.db.base import utcnow
from loomwork.db.database import Database
from loomwork.events import outbox
from loomwork.events.models import Event


def make_webhook(admin: Any, receiver: Any) -> str:
    response = admin.post("/api/v5/webhooks/create", {"url": receiver.url, "events": list(outbox.EVENT_TYPES)})
    assert response.status_code == 200, response.text
    receiver.secret = response.json()["secret"]
    return response.json()["webhook_id"]


def expected_ids(db: Database) -> set[str]:
    with db.transaction(write=False) as session:
        return {f"msg_{event_id.hex}" for event_id in session.scalars(select(Event.id))}


def worker_env(data_dir: Path, **also: str) -> dict[str, str]:
    return {
        **os.environ,
        "LOOMWORK_SECRET_KEY": TEST_SECRET.decode(),
        "LOOMWORK_DATA_DIR": str(data_dir),
        "LOOMWORK_ALLOW_PRIVATE_URLS": "1",
        "LOOMWORK_WEBHOOK_LEASE_S": "2",
        "LOOMWORK_WEBHOOK_TIMEOUT_S": "1",
        "LOOMWORK_WEBHOOK_RETRY_BASE_S": "0.2",
        **also,
    }


@contextmanager
def serve(database_url: str, data_dir: Path, *, wait_until_up: bool = True) -> Iterator[subprocess.Popen]:
    with serve_process(["--database-url", database_url], worker_env(data_dir), wait=wait_until_up) as (_, process):
        yield process


def test_a_server_killed_during_200_deliveries_delivers_all_after_restart(
    make_api, receiver, db, database_url, tmp_path
):
    admin = make_api("admin")
    make_webhook(admin, receiver)
    created = admin.ok("personas", "create", {"personas": [{"name": f"p{i}"} for i in range(200)]})
    assert all(r["success"] for r in created["results"])
    wanted = expected_ids(db)
    assert len(wanted) == 200
    receiver.delay_s = 0.2  # 8 senders: 200 deliveries take about 5 s, so the kill lands among them
    # Deliveries start with the server's lifespan, maybe before /healthz answers: watch the receiver instead.
    with serve(database_url, tmp_path / "data", wait_until_up=False) as process:
        receiver.wait_for(lambda: len(receiver.messages) >= 40, timeout=180)
        process.kill()  # SIGKILL: no shutdown, claims left as they are
        process.wait(timeout=10)
    before_restart = receiver.ids()
    assert len(before_restart) < 200
    receiver.delay_s = 0
    with serve(database_url, tmp_path / "data"):
        receiver.wait_for(lambda: receiver.ids() >= wanted, timeout=60)
    assert receiver.bad_signatures == []
    assert receiver.ids() == wanted  # each webhook-id at least once, none missing, nothing else


def test_two_deliver_processes_never_send_one_message_twice_at_once(make_api, receiver, db, database_url, tmp_path):
    admin = make_api("admin")
    make_webhook(admin, receiver)
    receiver.delay_s = 0.01
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "loomwork.cli", "deliver", "--database-url", database_url],
            # Timeouts long enough that a slow machine causes no retry: then each message
            # is sent exactly once, and any second send would be a double claim.
            env=worker_env(tmp_path / "data", LOOMWORK_WEBHOOK_TIMEOUT_S="20", LOOMWORK_WEBHOOK_LEASE_S="60"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        # The events come only once both workers are up (their SIGTERM handler is set before the
        # start line): then both compete for every message, and neither is stopped while it starts.
        for process in workers:
            assert process.stderr is not None
            assert process.stderr.readline().startswith(b"Delivering webhooks"), "a worker exited on start"
        admin.ok("personas", "create", {"personas": [{"name": f"p{i}"} for i in range(120)]})
        wanted = expected_ids(db)
        receiver.wait_for(lambda: receiver.ids() >= wanted, timeout=90)
    finally:
        for process in workers:
            process.terminate()  # SIGTERM: the attempt in progress finishes, then the worker exits
        codes = [process.wait(timeout=30) for process in workers]
    assert codes == [0, 0], [p.stderr.read().decode()[-2000:] for p in workers]
    assert receiver.overlaps == [] and receiver.bad_signatures == []
    sent = [m.message_id for m in receiver.messages]
    assert sorted(sent) == sorted(wanted)  # and, with no crash, each exactly once


def test_the_feed_pages_through_10000_events_in_order(make_api, client, db, settings):
    viewer = make_api("viewer")
    group_id = viewer_group(db)
    ids = [uuid.uuid4() for _ in range(10_000)]
    with db.transaction(write=True) as session:  # one multi-row insert, numbered like any commit
        outbox.write_events(
            session,
            [
                {
                    "id": event_id,
                    "group_id": group_id,
                    "type": outbox.REVISION_CREATED,
                    "kind": "persona",
                    "at": utcnow(),
                    "data": {"n": n},
                }
                for n, event_id in enumerate(ids)
            ],
        )
    seen, after = [], 0
    while True:
        page = viewer.post("/api/v5/changes", {"after": after, "limit": 1000})
        assert page.status_code == 200, page.text
        body = page.json()
        if not body["changes"]:
            assert body["next_cursor"] == after
            break
        seen.extend(body["changes"])
        after = body["next_cursor"]
    assert [c["cursor"] for c in seen] == list(range(1, 10_001))
    assert [c["id"] for c in seen] == [str(i) for i in ids]
    assert [c["data"]["n"] for c in seen] == list(range(10_000))
    # The cursor survives a restart: a new process (a new app on the same database) goes on from it.
    with serving(create_app(settings, Database(settings.database_url))) as url:
        resumed = httpx.post(f"{url}/api/v5/changes", json={"after": 9_990}, headers=viewer.headers, timeout=60).json()
    assert [c["cursor"] for c in resumed["changes"]] == list(range(9_991, 10_001))
    # Filters: kinds and events.
    assert viewer.post("/api/v5/changes", {"kinds": ["tool"]}).json() == {"changes": [], "next_cursor": 10_000}
    assert len(viewer.post("/api/v5/changes", {"kinds": ["persona"], "limit": 5}).json()["changes"]) == 5


def viewer_group(db: Database) -> uuid.UUID:
    from loomwork.identity.models import Group

    with db.transaction(write=False) as session:
        return session.scalar(select(Group.id).where(Group.name == "acme"))


def test_a_long_poll_wakes_within_100_ms_of_a_commit_through_another_worker(make_api, db, settings):
    viewer = make_api("viewer")
    group_id = viewer_group(db)
    # The poll waits in another app with its own database connections, as another worker process would.
    with (
        serving(create_app(settings, Database(settings.database_url))) as url,
        httpx.Client(base_url=url, headers=viewer.headers, timeout=40) as http,
    ):
        after = http.post("/api/v5/changes", json={}).json()["next_cursor"]
        delays = []
        for attempt in range(5):
            answered: dict[str, Any] = {}

            def poll() -> None:
                response = http.post("/api/v5/changes", json={"after": after, "wait_s": 20})
                answered["at"], answered["body"] = time.monotonic(), response.json()

            waiting = threading.Thread(target=poll)
            waiting.start()
            time.sleep(0.5)  # the poll is waiting
            assert "at" not in answered
            with db.transaction(write=True) as session:
                outbox.emit(session, group_id, outbox.DELETED, {"kind": "persona", "attempt": attempt})
            committed = time.monotonic()
            waiting.join(timeout=25)
            assert answered["body"]["changes"][0]["data"]["attempt"] == attempt
            delays.append(answered["at"] - committed)
            after = answered["body"]["next_cursor"]
    # The median, so that one scheduling hiccup of a loaded test machine does not decide.
    assert sorted(delays)[2] < 0.1, f"woke {sorted(delays)} s after the commits"


def test_a_long_poll_with_nothing_new_answers_empty_after_wait_s(make_api):
    viewer = make_api("viewer")
    started = time.monotonic()
    body = viewer.post("/api/v5/changes", {"wait_s": 0.3}).json()
    assert body == {"changes": [], "next_cursor": 0} and 0.25 < time.monotonic() - started < 5
