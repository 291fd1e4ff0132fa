"""Concurrent label moves on a running server (API.md section 9): a label moves compare-and-set, so of
many moves sent at once with one `expected_version`, exactly one wins and the rest are 409
version_conflict. On PostgreSQL this rests on the artifact's row lock (READ COMMITTED lets every mover
read the same current version); on SQLite on its single writer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from conftest import make_key

MOVERS = 8
ROUNDS = 3


def test_of_concurrent_label_moves_with_one_expected_version_exactly_one_wins(live_server, db):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        made = http.post("/api/v5/artifacts/personas/create", json={"personas": [{"name": "Raced"}]})
        persona_id = made.json()["results"][0]["persona_id"]
        for n in range(2, MOVERS + 2):
            item = {"persona_id": persona_id, "description": f"take {n}"}
            http.post("/api/v5/artifacts/personas/update", json={"personas": [item]}).raise_for_status()
        http.post(
            "/api/v5/artifacts/personas/label", json={"persona_id": persona_id, "label": "staging", "version": 1}
        ).raise_for_status()

    current = 1
    for _ in range(ROUNDS):
        targets = [v for v in range(1, MOVERS + 2) if v != current][:MOVERS]
        ready = threading.Barrier(MOVERS, timeout=60)

        def move(target: int, expected: int = current, ready: threading.Barrier = ready) -> httpx.Response:
            body = {"persona_id": persona_id, "label": "staging", "version": target, "expected_version": expected}
            with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as own:
                own.get("/healthz")  # connected before the start
                ready.wait()
                return own.post("/api/v5/artifacts/personas/label", json=body)

        with ThreadPoolExecutor(MOVERS) as pool:
            answers = list(pool.map(move, targets))
        winners = [a.json() for a in answers if a.status_code == 200]
        losers = [a for a in answers if a.status_code != 200]
        assert len(winners) == 1, winners
        assert all(a.status_code == 409 and a.json()["code"] == "version_conflict" for a in losers), [
            a.text for a in losers
        ]
        (winner,) = winners
        assert winner["previous_version"] == current
        current = winner["version"]
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
            history = http.post("/api/v5/artifacts/personas/history", json={"persona_id": persona_id}).json()
            assert history["labels"] == {"staging": current}

    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        feed = http.post("/api/v5/changes", json={"events": ["label.moved"], "limit": 1000}).json()["changes"]
    assert len(feed) == 1 + ROUNDS  # the first placement, then one move per round
