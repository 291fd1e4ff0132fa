"""The storage floor: the SQL each operation runs, replayed straight on the database.

One request per workload runs in process (the same app, the same database) while every
statement it sends is captured with its parameters; then 8 threads replay that exact
sequence on raw connections, each time in a transaction that is rolled back, so the
replay measures the database's share of the operation and changes nothing.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from loomwork.app import create_app
from loomwork.config import Settings
from loomwork.db.database import Database
from queries import search_query

Statement = tuple[str, Any, bool]  # SQL, parameters, executemany


def _capture(db: Database, client: TestClient, request: Any) -> tuple[list[Statement], bool]:
    """The statements of one request, whose transaction is rolled back instead of committed: the replays
    must find the database as the request found it (an insert replayed after its commit would collide)."""
    captured: list[Statement] = []
    writes = [False]

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        if statement.startswith("BEGIN"):
            writes[0] = writes[0] or "IMMEDIATE" in statement
            return
        captured.append((statement, parameters, executemany))
        if statement.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes[0] = True

    event.listen(db.engine, "before_cursor_execute", record)
    commit = Session.commit
    Session.commit = Session.rollback  # type: ignore[method-assign]
    try:
        response = request(client)
        assert response.status_code == 200, response.text
    finally:
        Session.commit = commit  # type: ignore[method-assign]
        event.remove(db.engine, "before_cursor_execute", record)
    return captured, writes[0]


def _replay(db: Database, statements: list[Statement], write: bool, clients: int, seconds: float) -> float:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    engine = db.engine.execution_options(loomwork_write=write)

    def worker() -> None:
        with engine.connect() as conn:
            while time.perf_counter() < stop_at:
                began = time.perf_counter()
                transaction = conn.begin()
                cursor = conn.connection.cursor()
                for statement, parameters, many in statements:
                    if many:
                        cursor.executemany(statement, parameters)
                    else:
                        cursor.execute(statement, parameters)
                        if cursor.description:
                            cursor.fetchall()
                transaction.rollback()
                with lock:
                    latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statistics.median(latencies) * 1000


def sql_floor(url: str, secret: str, key: str, clients: int, seconds: float) -> dict[str, float]:
    """Median ms of each workload's captured SQL, replayed by `clients` threads for `seconds` each."""
    db = Database(
        url
        if "+" in url.split(":", 1)[0] or url.startswith("sqlite")
        else url.replace("postgresql://", "postgresql+psycopg://", 1)
    )
    settings = Settings(db.url, Path(tempfile.mkdtemp()), secret.encode())
    api = "/api/v5/artifacts/personas"
    headers = {"X-Api-Key": key}
    floors: dict[str, float] = {}
    with TestClient(create_app(settings, db)) as client:
        page = client.post(f"{api}/search", json={"page_size": 1}, headers=headers).json()
        persona = page["personas"][0]["persona_id"]
        search_body = search_query(lambda path, body: client.post(path, json=body, headers=headers).json())
        draft = client.patch(f"{api}/draft", json={"persona_id": persona}, headers=headers).json()["draft_id"]
        thousand = [{"name": f"Floor {n}", "departments": ["Bench"], "voices": ["Alto"]} for n in range(1000)]
        proposed = client.patch(
            f"{api}/draft", json={"draft_id": draft, "soft": True, "description": "Proposed"}, headers=headers
        ).json()["idempotency_key"]  # committed: the ack below decides it
        workloads = {  # name -> (the requests of one operation, concurrent replayers)
            "get": ([lambda c: c.post(f"{api}/get", json={"persona_id": persona}, headers=headers)], clients),
            "draft patch": (
                [lambda c: c.patch(f"{api}/draft", json={"draft_id": draft, "description": "Floor"}, headers=headers)],
                clients,
            ),
            "search": ([lambda c: c.post(f"{api}/search", json=search_body, headers=headers)], clients),
            "proposal + ack": (
                [
                    lambda c: c.patch(
                        f"{api}/draft", json={"draft_id": draft, "soft": True, "description": "Floor"}, headers=headers
                    ),
                    lambda c: c.patch(
                        f"{api}/draft",
                        json={"draft_id": draft, "idempotency_key": proposed, "accept": True},
                        headers=headers,
                    ),
                ],
                clients,
            ),
            "bulk create": ([lambda c: c.post(f"{api}/create", json={"personas": thousand}, headers=headers)], clients),
            "export": ([lambda c: c.post(f"{api}/export", json={}, headers=headers)], 1),
        }
        for name, (requests, replayers) in workloads.items():
            parts = [_capture(db, client, request) for request in requests]
            floors[name] = sum(_replay(db, statements, write, replayers, seconds) for statements, write in parts)
            print(
                f"sql floor {name}: {sum(len(p[0]) for p in parts)} statements, median {floors[name]:.2f} ms",
                flush=True,
            )
    db.dispose()
    return floors
