"""Resolve's per-process cache across `loomwork serve --workers 2` (issue 18, API.md section 9).

Both workers are warmed with the labelled version first (every request goes on a fresh connection, so
the kernel hands them to both workers). Then the label moves through one request, and every resolve
after it, whichever worker answers it, must see the new version at once: a read never serves a version
older than a label move already answered. A revision landing and a delete must show the same way.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from test_crash_recovery import serve

from conftest import assert_error, make_key

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


# --- the cache is really used, and keyed by group -------------------------------------------------------------


def clock(db) -> int:
    from sqlalchemy import select

    from loomwork.engine.models import ChangeClock

    with db.transaction(write=False) as session:
        value = session.scalar(select(ChangeClock.value).where(ChangeClock.id == 1))
    assert value is not None, "no change clock: the resolve cache would store nothing"
    return value


def test_resolve_answers_from_the_cache_until_the_change_clock_moves(make_api, db, monkeypatch):
    """Counts the cache's hits: a repeated resolve is one, a revision or a label move moves the clock (read
    here) and the next resolve is a miss with the new answer. Nothing ever empties the cache here (no
    notification), so the clock alone must make the entry stale."""
    from loomwork.engine.resolve import ResolveCache

    lookups: list[bool] = []
    real_get = ResolveCache.get

    def counting_get(self: ResolveCache, key: Any, token: int) -> Any:
        found = real_get(self, key, token)
        lookups.append(found is not None)
        return found

    monkeypatch.setattr(ResolveCache, "get", counting_get)
    monkeypatch.setattr(ResolveCache, "invalidate", lambda _self: None)
    admin = make_api("admin")
    persona_id = admin.create("personas", name="Ada")

    def resolved(**body: Any) -> int:
        return admin.ok("personas", "resolve", {"name": "Ada", **body})["version"]

    assert [resolved(), resolved(), resolved()] == [1, 1, 1]
    assert lookups == [False, True, True]

    before = clock(db)
    admin.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "take 2"}]})
    assert clock(db) > before
    lookups.clear()
    assert [resolved(), resolved()] == [2, 2]
    assert lookups == [False, True]

    admin.ok("personas", "label", {"persona_id": persona_id, "label": "staging", "version": 1})
    assert [resolved(label="staging"), resolved(label="staging")] == [1, 1]
    before, lookups[:] = clock(db), []
    admin.ok("personas", "label", {"persona_id": persona_id, "label": "staging", "version": 2, "expected_version": 1})
    assert clock(db) > before
    assert [resolved(label="staging"), resolved(label="staging")] == [2, 2]
    assert lookups == [False, True]


def test_two_groups_resolving_one_id_and_one_name_in_turn_each_see_their_own(make_api, dialect):
    """Warm entries of one group never answer another: by name each group finds its own artifact, by id
    another group's artifact is 404, and another group's ETag is never a 304; over POST, GET and
    If-None-Match, each request made right after the other group's filled the cache."""
    acme, beta = make_api("editor", group="acme"), make_api("editor", group="beta")
    acme_id = acme.create("personas", name="Ada", description="acme's")
    beta_id = beta.create("personas", name="Ada", description="beta's")
    beta.ok("personas", "update", {"personas": [{"persona_id": beta_id, "description": "beta's, take 2"}]})
    mine = {id(acme): (acme_id, 1, "acme's"), id(beta): (beta_id, 2, "beta's, take 2")}

    def get(api, target: str, **headers: str):
        return api.client.get(f"/api/v5/resolve/personas/{target}", headers={**api.headers, **headers})

    etags: dict[int, str] = {}
    for _ in range(2):
        for api in (acme, beta, acme, beta):
            own_id, version, description = mine[id(api)]
            for answer in (api.ok("personas", "resolve", {"name": "Ada"}), get(api, "Ada").json()):
                assert (answer["persona_id"], answer["version"]) == (own_id, version), answer
                assert answer["config"]["description"] == description
            by_id = get(api, own_id)
            assert by_id.status_code == 200 and by_id.json()["persona_id"] == own_id
            etags[id(api)] = by_id.headers["etag"]
    assert etags[id(acme)] != etags[id(beta)]

    for api, other in ((acme, beta), (beta, acme)):
        other_id = mine[id(other)][0]
        get(other, other_id)  # the other group's entry is warm
        assert_error(api.op("personas", "resolve", {"persona_id": other_id}), 404)
        assert_error(get(api, other_id), 404)
        assert_error(get(api, other_id, **{"If-None-Match": etags[id(other)]}), 404)
        get(other, "Ada")
        by_name = get(api, "Ada", **{"If-None-Match": etags[id(other)]})
        assert by_name.status_code == 200 and by_name.json()["persona_id"] == mine[id(api)][0]
        assert get(api, "Ada", **{"If-None-Match": etags[id(api)]}).status_code == 304
