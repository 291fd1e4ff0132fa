"""Version checks hold under real concurrency: a running server, many clients at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from conftest import make_key

CLIENTS = 8


def test_concurrent_patches_with_one_expected_version_succeed_once(live_server, db):
    key = make_key(db, "acme", "editor", "editor")
    headers = {"X-Api-Key": key}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        first = http.patch("/api/v5/artifacts/personas/draft", json={"name": "Start"})
        assert first.status_code == 200, first.text
        draft_id = first.json()["draft_id"]

        def patch(i: int) -> httpx.Response:
            with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as own:
                return own.patch("/api/v5/artifacts/personas/draft",
                                 json={"draft_id": draft_id, "expected_version": 1, "name": f"Writer {i}"})

        with ThreadPoolExecutor(CLIENTS) as pool:
            responses = list(pool.map(patch, range(CLIENTS)))

        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) == 1, [r.text for r in responses]
        assert statuses.count(409) == CLIENTS - 1
        assert all(r.json()["code"] == "version_conflict" and r.json()["current_version"] == 2
                   for r in responses if r.status_code == 409)
        winner = next(r.json() for r in responses if r.status_code == 200)
        view = http.post("/api/v5/artifacts/personas/get", json={"draft_id": draft_id}).json()
        assert view["draft_version"] == 2
        assert view["names"]["selected_ids"] == [winner["form_state"]["name_id"]]


def test_concurrent_read_modify_write_loses_no_update(live_server, db):
    """Each client retries on conflict; the final version equals the number of successful patches."""
    key = make_key(db, "acme", "editor", "editor")
    headers = {"X-Api-Key": key}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        draft_id = http.patch("/api/v5/artifacts/personas/draft", json={"name": "Start"}).json()["draft_id"]

    def writer(i: int) -> int:
        successes = 0
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as own:
            for n in range(5):
                while True:
                    version = own.post("/api/v5/artifacts/personas/get", json={"draft_id": draft_id}).json()[
                        "draft_version"]
                    r = own.patch("/api/v5/artifacts/personas/draft",
                                  json={"draft_id": draft_id, "expected_version": version,
                                        "examples": [f"writer {i} example {n}"]})
                    if r.status_code == 200:
                        successes += 1
                        break
                    assert r.status_code == 409 and r.json()["code"] == "version_conflict", r.text
        return successes

    with ThreadPoolExecutor(4) as pool:
        total = sum(pool.map(writer, range(4)))
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        view = http.post("/api/v5/artifacts/personas/get", json={"draft_id": draft_id}).json()
    assert total == 20
    assert view["draft_version"] == 1 + total
    examples = {o["value"] for o in view["examples"]["options"] if o["selected"]}
    assert examples == {f"writer {i} example {n}" for i in range(4) for n in range(5)}
