"""Version checks hold under real concurrency: a running server, many clients at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from conftest import make_key

CLIENTS = 8
WRITERS = 4


def test_concurrent_patches_with_one_expected_version_succeed_once(live_server, db):
    key = make_key(db, "acme", "editor", "editor")
    headers = {"X-Api-Key": key}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        first = http.patch("/api/v5/artifacts/personas/draft", json={"name": "Start"})
        assert first.status_code == 200, first.text
        draft_id = first.json()["draft_id"]

        def patch(i: int) -> httpx.Response:
            with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as own:
                return own.patch(
                    "/api/v5/artifacts/personas/draft",
                    json={"draft_id": draft_id, "expected_version": 1, "name": f"Writer {i}"},
                )

        with ThreadPoolExecutor(CLIENTS) as pool:
            responses = list(pool.map(patch, range(CLIENTS)))

        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) == 1, [r.text for r in responses]
        assert statuses.count(409) == CLIENTS - 1
        assert all(
            r.json()["code"] == "version_conflict" and r.json()["current_version"] == 2
            for r in responses
            if r.status_code == 409
        )
        winner = next(r.json() for r in responses if r.status_code == 200)
        view = http.post("/api/v5/artifacts/personas/get", json={"draft_id": draft_id}).json()
        assert view["draft_version"] == 2
        assert view["names"]["selected_ids"] == [winner["form_state"]["name_id"]]


def test_concurrent_read_modify_write_loses_no_update(live_server, db):
    """Each client adds its example by writing the whole `example_ids` list back (it replaces the list), with
    the version it read, and retries on conflict. A write that slipped past the version check would drop
    another client's example; the final version equals the number of successful patches."""
    key = make_key(db, "acme", "editor", "editor")
    headers = {"X-Api-Key": key}
    wanted = [f"writer {i} example {n}" for i in range(WRITERS) for n in range(5)]
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        draft_id = http.patch("/api/v5/artifacts/personas/draft", json={"name": "Start"}).json()["draft_id"]
        created = http.post("/api/v5/resources/examples/create", json={"examples": wanted}).json()["results"]
        example_id = {r["value"]: r["id"] for r in created}
    all_read = threading.Barrier(WRITERS, timeout=60)  # the first writes all start from version 1

    def writer(i: int) -> tuple[int, int]:
        successes = retries = 0
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as own:
            for n in range(5):
                while True:
                    view = own.post("/api/v5/artifacts/personas/get", json={"draft_id": draft_id}).json()
                    ids = [*view["examples"]["selected_ids"], example_id[f"writer {i} example {n}"]]
                    if n == 0 and retries == 0:
                        all_read.wait()
                    r = own.patch(
                        "/api/v5/artifacts/personas/draft",
                        json={"draft_id": draft_id, "expected_version": view["draft_version"], "example_ids": ids},
                    )
                    if r.status_code == 200:
                        successes += 1
                        break
                    assert r.status_code == 409 and r.json()["code"] == "version_conflict", r.text
                    retries += 1
        return successes, retries

    with ThreadPoolExecutor(WRITERS) as pool:
        outcomes = list(pool.map(writer, range(WRITERS)))
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        view = http.post("/api/v5/artifacts/personas/get", json={"draft_id": draft_id}).json()
    total = sum(successes for successes, _ in outcomes)
    assert total == WRITERS * 5 and sum(retries for _, retries in outcomes) >= WRITERS - 1
    assert view["draft_version"] == 1 + total
    assert sorted(view["examples"]["selected_ids"]) == sorted(example_id.values())
