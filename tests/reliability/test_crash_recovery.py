"""SIGKILL in the middle of writes loses nothing acknowledged and half-writes nothing (issue 9, part 4).

A real `loomwork serve` process takes bulk creates and draft patches from several clients; it is
killed with SIGKILL while they are in flight, then started again on the same database. Every write
that was answered 200 is there, every artifact in the database is whole (all its connections and its
search document, or nothing), and SQLite's integrity check passes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from conftest import TEST_SECRET, make_key, serve_process
from loomwork.engine.models import Artifact, Connection, Draft
from loomwork.engine.search_models import SearchDocument
from loomwork.resources.models import Resource

ITEMS_PER_REQUEST = 40
DEPARTMENTS_PER_ITEM = 3
ACKS_BEFORE_KILL = 3  # answers of each sort before the kill, so it lands among writes in flight
KILL_SPREAD_S = 0.4


@contextmanager
def serve(database_url: str, data_dir: Path, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    env = {**os.environ, "LOOMWORK_SECRET_KEY": TEST_SECRET.decode(), "LOOMWORK_DATA_DIR": str(data_dir)}
    with serve_process(["--database-url", database_url, "--workers", str(workers)], env) as served:
        yield served


class Acknowledged:
    """What the server answered 200 to, written by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.personas: dict[str, str] = {}  # id -> name
        self.examples: dict[str, set[str]] = {}  # draft id -> example values
        self.creates = 0
        self.patches = 0
        self.sent: list[list[str]] = []  # every bulk create's names, answered or not
        self.interrupted = 0  # requests that were under way when the server died
        self.failures: list[str] = []  # what went wrong in a client thread, asserted in the main thread
        self.killed_at: float | None = None

    def in_flight_when_killed(self, started: float) -> None:
        with self.lock:
            if self.killed_at is None or started < self.killed_at:
                self.interrupted += 1

    def fewest(self) -> int:
        with self.lock:
            return min(self.creates, self.patches)


def collecting(loop):
    """A client loop whose failures reach the main thread (an assert in a thread only warns there)."""

    def run(url: str, headers: dict[str, str], writer: int, acked: Acknowledged, stop: threading.Event) -> None:
        try:
            loop(url, headers, writer, acked, stop)
        except BaseException as error:  # noqa: BLE001
            with acked.lock:
                acked.failures.append(f"{loop.__name__} {writer}: {error!r}")

    return run


def create_loop(url: str, headers: dict[str, str], writer: int, acked: Acknowledged, stop: threading.Event) -> None:
    request = 0
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        while not stop.is_set():
            names = [f"crash {writer}-{request}-{i}" for i in range(ITEMS_PER_REQUEST)]
            items = [
                {
                    "name": n,
                    "description": f"about {n}",
                    "departments": [f"{n} dept {d}" for d in range(DEPARTMENTS_PER_ITEM)],
                }
                for n in names
            ]
            with acked.lock:
                acked.sent.append(names)
            started = time.monotonic()
            try:
                response = http.post("/api/v5/artifacts/personas/create", json={"personas": items})
            except httpx.TransportError:
                acked.in_flight_when_killed(started)
                return  # the server is gone
            assert response.status_code == 200, response.text
            results = response.json()["results"]
            assert all(r["success"] for r in results), results
            with acked.lock:
                acked.personas.update((r["persona_id"], names[r["index"]]) for r in results)
                acked.creates += 1
            request += 1


def patch_loop(url: str, headers: dict[str, str], writer: int, acked: Acknowledged, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        try:
            first = http.patch("/api/v5/artifacts/personas/draft", json={"name": f"draft {writer}"})
        except httpx.TransportError:
            return
        draft_id, version, n = first.json()["draft_id"], first.json()["new_version"], 0
        with acked.lock:
            acked.examples[draft_id] = set()
        while not stop.is_set():
            example = f"example {writer}-{n}"
            started = time.monotonic()
            try:
                response = http.patch(
                    "/api/v5/artifacts/personas/draft",
                    json={"draft_id": draft_id, "expected_version": version, "examples": [example]},
                )
            except httpx.TransportError:
                acked.in_flight_when_killed(started)
                return
            assert response.status_code == 200, response.text
            version = response.json()["new_version"]
            with acked.lock:
                acked.examples[draft_id].add(example)
                acked.patches += 1
            n += 1


def test_sigkill_during_writes_loses_no_acknowledged_write(db, database_url, dialect, tmp_path):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    acked, stop = Acknowledged(), threading.Event()
    with serve(database_url, tmp_path / "data") as (url, process):
        threads = [
            threading.Thread(target=collecting(loop), args=(url, headers, w, acked, stop))
            for w, loop in enumerate([create_loop, create_loop, patch_loop, patch_loop])
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while acked.fewest() < ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        # Right after an answer, the next requests are still being read and planned: a kill there never meets a
        # commit. A random pause lands it anywhere in a request (a create takes some 0.1 to 0.5 s here).
        time.sleep(random.uniform(0, KILL_SPREAD_S))
        with acked.lock:
            acked.killed_at = time.monotonic()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not [t.name for t in threads if t.is_alive()], "a client thread did not finish"
    assert not acked.failures, acked.failures
    assert acked.fewest() >= ACKS_BEFORE_KILL
    assert acked.interrupted >= 1, "the kill landed between requests: it interrupted none"

    if dialect == "sqlite":
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]

    with (
        serve(database_url, tmp_path / "data") as (url, _),
        httpx.Client(base_url=url, headers=headers, timeout=60) as http,
    ):
        for persona_id, name in acked.personas.items():
            shown = http.post("/api/v5/artifacts/personas/get", json={"persona_id": persona_id})
            assert shown.status_code == 200, f"acknowledged persona {name} is gone"
            assert shown.json()["names"]["selected_ids"], name
        for draft_id, examples in acked.examples.items():
            form = http.post("/api/v5/artifacts/personas/get", json={"draft_id": draft_id}).json()
            kept = resource_values(db, form["examples"]["selected_ids"])  # options are only one page
            assert examples <= kept, f"acknowledged patches of draft {draft_id} are missing"

    assert_every_artifact_is_whole(db)
    assert_every_request_is_whole(db, acked.sent)


def assert_every_request_is_whole(db, requests: list[list[str]]) -> None:
    """Each bulk create is one transaction: its names are all there (committed) or none (killed before)."""
    with db.transaction(write=False) as session:
        stored = set(
            session.scalars(
                select(Resource.value).where(
                    Resource.kind == "name", Resource.value.in_([n for names in requests for n in names])
                )
            )
        )
    halves = [names[0] for names in requests if 0 < sum(n in stored for n in names) < len(names)]
    assert not halves, f"requests written in part: {halves}"


def resource_values(db, ids: list[str]) -> set[str]:
    with db.transaction(write=False) as session:
        return set(session.scalars(select(Resource.value).where(Resource.id.in_([uuid.UUID(i) for i in ids]))))


def assert_every_artifact_is_whole(db) -> None:
    """Each persona has all the connections its create asked for, and its search document."""
    with db.transaction(write=False) as session:
        artifacts = session.scalar(select(func.count()).select_from(Artifact))
        documents = session.scalar(select(func.count()).select_from(SearchDocument))
        per_artifact = session.execute(
            select(Connection.slot, func.count()).group_by(Connection.artifact_id, Connection.slot)
        ).all()
        drafts = session.scalars(select(Draft)).all()
    assert artifacts and documents == artifacts
    expected = {"name": 1, "description": 1, "department": DEPARTMENTS_PER_ITEM}
    assert len(per_artifact) == artifacts * len(expected), "an artifact is missing whole slots"
    assert all(count == expected[slot] for slot, count in per_artifact), per_artifact
    assert all(d.entry_count == d.version for d in drafts), "every applied entry moved the version once"
