"""No lost update on a running server: read-modify-write loops with `expected_version` (issue 9, part 2).

Several clients each read an artifact, add their own department to the ids they read, and write the
whole list back with the version they read, retrying on `version_conflict`. Since department ids
*replace* the list, a write that slipped past the version check would drop another client's
department. At the end the version counts every success and every client's departments are there.
(The same loop against one draft is in tests/engine/test_draft_concurrency.py.)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from conftest import make_key

CLIENTS = 4
WRITES_PER_CLIENT = 5


def test_concurrent_read_modify_write_on_one_artifact_loses_no_update(live_server, db):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        made = http.post("/api/v5/artifacts/personas/create", json={"personas": [{"name": "Shared"}]})
        persona_id = made.json()["results"][0]["persona_id"]
        wanted = [f"client {c} write {n}" for c in range(CLIENTS) for n in range(WRITES_PER_CLIENT)]
        created = http.post("/api/v5/resources/departments/create", json={"departments": wanted}).json()
        department_id = {r["value"]: r["id"] for r in created["results"]}

    # Every client's first write waits until all have read: they all hold version 1, so all but one conflict.
    all_read = threading.Barrier(CLIENTS, timeout=60)

    def writer(client: int) -> tuple[int, int]:
        successes = retries = 0
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as own:
            for n in range(WRITES_PER_CLIENT):
                mine = department_id[f"client {client} write {n}"]
                while True:
                    read = own.post("/api/v5/artifacts/personas/get", json={"persona_id": persona_id}).json()
                    item = {
                        "persona_id": persona_id,
                        "expected_version": read["version"],
                        "department_ids": [*read["departments"]["selected_ids"], mine],
                    }
                    if n == 0 and retries == 0:
                        all_read.wait()
                    (result,) = own.post("/api/v5/artifacts/personas/update", json={"personas": [item]}).json()[
                        "results"
                    ]
                    if result["success"]:
                        successes += 1
                        break
                    assert result["code"] == "version_conflict", result
                    retries += 1
        return successes, retries

    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = list(pool.map(writer, range(CLIENTS)))
    total = sum(successes for successes, _ in outcomes)
    # The version check was really exercised: without conflicts, this test could not see a lost update.
    assert sum(retries for _, retries in outcomes) >= CLIENTS - 1

    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        final = http.post("/api/v5/artifacts/personas/get", json={"persona_id": persona_id}).json()
    assert total == CLIENTS * WRITES_PER_CLIENT
    assert final["version"] == 1 + total
    assert sorted(final["departments"]["selected_ids"]) == sorted(department_id.values())
