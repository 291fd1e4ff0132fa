"""Resolve's per-process cache across `loomwork serve --workers 2` (issue 18, API.md section 9).

Both workers are warmed with the labelled version first (every request goes on a fresh connection, so
the kernel hands them to both workers). Then the label moves through one request, and every resolve
after it, whichever worker answers it, must see the new version at once: a read never serves a version
older than a label move already answered. A revision landing and a delete must show the same way.
"""

from __future__ import annotations

import httpx
import pytest
from test_crash_recovery import serve

from conftest import make_key

ROUNDS = 24  # requests per check, each on a new connection


def resolve_versions(url: str, headers: dict[str, str], path: str) -> set[int]:
    seen = set()
    for _ in range(ROUNDS):
        with httpx.Client(base_url=url, headers=headers, timeout=30) as fresh:
            response = fresh.get(path)
            assert response.status_code == 200, response.text
            seen.add(response.json()["version"])
    return seen


def test_a_label_moved_through_one_worker_is_seen_at_once_through_the_other(database_url, db, tmp_path):
    headers = {"X-Api-Key": make_key(db, "acme", "admin", "admin")}
    with serve(database_url, tmp_path / "data", workers=2) as (url, _process):
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            created = http.post("/api/v5/artifacts/personas/create", json={"personas": [{"name": "Ada"}]}).json()
            persona_id = created["results"][0]["persona_id"]
            for version in (2, 3):
                http.post(
                    "/api/v5/artifacts/personas/update",
                    json={"personas": [{"persona_id": persona_id, "description": f"take {version}"}]},
                ).raise_for_status()
            http.post(
                "/api/v5/artifacts/personas/label", json={"persona_id": persona_id, "label": "production", "version": 1}
            ).raise_for_status()
        path = "/api/v5/resolve/personas/Ada?label=production"
        assert resolve_versions(url, headers, path) == {1}  # both workers now hold version 1

        for previous, target in ((1, 2), (2, 3), (3, 1)):
            with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
                moved = http.post(
                    "/api/v5/artifacts/personas/label",
                    json={
                        "persona_id": persona_id,
                        "label": "production",
                        "version": target,
                        "expected_version": previous,
                    },
                )
                assert moved.status_code == 200, moved.text
            assert resolve_versions(url, headers, path) == {target}

        latest = f"/api/v5/resolve/personas/{persona_id}"
        assert resolve_versions(url, headers, latest) == {3}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            http.post(
                "/api/v5/artifacts/personas/update",
                json={"personas": [{"persona_id": persona_id, "description": "take 4"}]},
            ).raise_for_status()
        assert resolve_versions(url, headers, latest) == {4}


@pytest.mark.parametrize("emptying", ["on", "off"])
def test_two_app_instances_on_one_database_see_each_others_label_moves_at_once(
    settings, db, database_url, monkeypatch, emptying
):
    """The same mechanism without process start-up: two apps, each with its own engine and so its own
    cache, on one database. A label moved through one is seen through the other at once.

    With `emptying` off, no cache is ever emptied (no notification, no own-write drop): the change clock must
    suffice alone. PostgreSQL's notifications reach other processes a moment after the commit, and a CI run
    caught a read in that moment serving the old version when the cache trusted them."""
    from fastapi.testclient import TestClient

    from loomwork.app import create_app
    from loomwork.db.database import Database
    from loomwork.engine.resolve import ResolveCache

    if emptying == "off":
        monkeypatch.setattr(ResolveCache, "invalidate", lambda _self: None)
    headers = {"X-Api-Key": make_key(db, "acme", "admin", "admin")}
    second_db = Database(database_url)
    try:
        first, second = TestClient(create_app(settings, db)), TestClient(create_app(settings, second_db))
        created = first.post(
            "/api/v5/artifacts/personas/create", headers=headers, json={"personas": [{"name": "Ada"}]}
        ).json()
        persona_id = created["results"][0]["persona_id"]
        first.post(
            "/api/v5/artifacts/personas/update",
            headers=headers,
            json={"personas": [{"persona_id": persona_id, "description": "take 2"}]},
        ).raise_for_status()
        previous = None
        for target in (1, 2, 1, 2):
            moved = first.post(
                "/api/v5/artifacts/personas/label",
                headers=headers,
                json={"persona_id": persona_id, "label": "production", "version": target, "expected_version": previous},
            )
            assert moved.status_code == 200, moved.text
            for path in (
                f"/api/v5/resolve/personas/{persona_id}?label=production",
                "/api/v5/resolve/personas/Ada?label=production",
            ):
                for _ in range(3):  # the first read fills the second app's cache, the others are served from it
                    assert second.get(path, headers=headers).json()["version"] == target
                    assert first.get(path, headers=headers).json()["version"] == target
            previous = target
    finally:
        second_db.dispose()
