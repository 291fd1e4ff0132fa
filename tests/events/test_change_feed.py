"""The change feed read by a consumer that filters (API.md section 10): paged with `next_cursor` past
events of other kinds, every event it asked for comes exactly once, in cursor order, on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Api

FEED = "/api/v5/changes"


def read_all(api: Api, limit: int, **filters: Any) -> list[dict[str, Any]]:
    """Every page from the start, each sent with the last page's `next_cursor`, until an empty one."""
    seen: list[dict[str, Any]] = []
    after = 0
    for _ in range(100):
        page = api.post(FEED, {"after": after, "limit": limit, **filters})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["changes"]) <= limit
        if not body["changes"]:
            return seen
        seen.extend(body["changes"])
        after = body["next_cursor"]
    raise AssertionError("the feed never ran out")


@pytest.fixture
def interleaved(make_api) -> tuple[Api, list[dict[str, Any]]]:
    """Events of personas and tools taking turns (one request each), and the whole unfiltered feed."""
    admin = make_api("admin")
    persona_id = admin.create("personas", name="P0")
    for n in range(1, 5):
        admin.create("tools", name=f"T{n}")
        if n % 2:
            admin.create("tools", name=f"T{n}b")
        admin.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": f"take {n}"}]})
    admin.ok("personas", "label", {"persona_id": persona_id, "label": "staging", "version": 2})
    admin.create("tools", name="T5")
    admin.ok("personas", "label", {"persona_id": persona_id, "label": "staging", "version": 3, "expected_version": 2})
    everything = read_all(admin, 1000)
    assert [c["cursor"] for c in everything] == list(range(1, len(everything) + 1))
    return admin, everything


def test_a_kinds_filtered_feed_paged_on_sees_each_event_of_its_kind_exactly_once(interleaved):
    admin, everything = interleaved
    for kind in ("persona", "tool"):
        wanted = [c for c in everything if c["data"].get("kind") == kind]
        assert len(wanted) >= 6 and len(wanted) < len(everything)
        for limit in (1, 2, 3):
            assert read_all(admin, limit, kinds=[kind]) == wanted, (kind, limit)


def test_an_events_filtered_feed_paged_on_sees_each_such_event_exactly_once(interleaved):
    admin, everything = interleaved
    wanted = [c for c in everything if c["event"] == "artifact.revision_created"]
    assert 0 < len(wanted) < len(everything)
    assert read_all(admin, 2, events=["artifact.revision_created"]) == wanted
    moved = [c for c in everything if c["event"] == "label.moved"]
    assert read_all(admin, 1, kinds=["persona"], events=["label.moved"]) == moved and len(moved) == 2
