"""No N+1: each operation sends as many SQL statements for 50 options, matches or users as for one.

Every case builds the same scene twice, once with 1 and once with 50 of the thing that grows,
then counts the statements of the one request under test. A loop that queries per option makes
the two counts differ, and the test names the operation.

Bulk create is batched too (engine/bulk.py): 50 items cost as many statements as one (a few per
resource kind the items give values of, then one per table). Bulk update
and delete are the exception, by design for now: each item runs in its own savepoint so that a
failing item changes nothing (API.md section 2), which costs a fixed number of statements per
item. Their test pins that: the cost per item is a constant, whatever the items hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Api
from loomwork.db import tallies


@pytest.fixture(autouse=True)
def no_random_folds(monkeypatch):
    """A write folds its group's tally deltas one time in 32, at random (db/tallies.py): a counted request
    must not, or two identical scenes differ by chance. Folding is tested in test_tallies.py."""
    monkeypatch.setattr(tallies, "FOLD_ONE_IN", 0)


@dataclass(frozen=True)
class Case:
    name: str
    # Builds the scene with `n` of the growing thing; returns the request to count: (method, path, body).
    scene: Callable[[Api, int], tuple[str, str, Any]]


def _artifacts(api: Api, n: int, **fields: Any) -> list[str]:
    items = [{"name": f"Agent {i}", "description": "Helps", **fields} for i in range(n)]
    results = api.ok("personas", "create", {"personas": items})["results"]
    assert all(r["success"] for r in results), results
    return [r["persona_id"] for r in results]


def _departments(n: int) -> list[str]:
    return [f"Department {i}" for i in range(n)]


def get_with_options(api: Api, n: int) -> tuple[str, str, Any]:
    (persona_id,) = _artifacts(api, 1, departments=_departments(n), voices=[f"voice {i}" for i in range(n)])
    return "POST", "/api/v5/artifacts/personas/get", {"persona_id": persona_id}


def search_matches(api: Api, n: int) -> tuple[str, str, Any]:
    _artifacts(api, n, departments=["Sales"])
    return "POST", "/api/v5/artifacts/personas/search", {"search": "agent"}


def drafts_list(api: Api, n: int) -> tuple[str, str, Any]:
    for i in range(n):
        response = api.op("personas", "draft", {"name": f"Draft {i}"}, method="PATCH")
        assert response.status_code == 200, response.text
    return "POST", "/api/v5/artifacts/personas/drafts", {}


def draft_patch_values(api: Api, n: int) -> tuple[str, str, Any]:
    draft_id = api.ok("personas", "draft", {"name": "Ada"}, method="PATCH")["draft_id"]
    return "PATCH", "/api/v5/artifacts/personas/draft", {"draft_id": draft_id, "departments": _departments(n)}


def export_all(api: Api, n: int) -> tuple[str, str, Any]:
    _artifacts(api, n, departments=["Sales", "Ops"])
    return "POST", "/api/v5/artifacts/personas/export", {}


def create_with_options(api: Api, n: int) -> tuple[str, str, Any]:
    return (
        "POST",
        "/api/v5/artifacts/personas/create",
        {
            "personas": [
                {"name": "Many-sided", "departments": _departments(n), "voices": [f"voice {i}" for i in range(n)]}
            ]
        },
    )


def bulk_create(api: Api, n: int) -> tuple[str, str, Any]:
    """Items as varied as people send them: values new and old, shared and not, ids, flags by `active`."""
    _artifacts(api, 1, departments=["Existing"])
    (existing,) = api.post("/api/v5/resources/departments/search", {"search": "existing"}).json()["departments"]
    return (
        "POST",
        "/api/v5/artifacts/personas/create",
        {
            "personas": [
                {
                    "name": f"Bulk {i}",
                    "description": "Helps" if i % 2 else f"Helps with {i}",
                    "color": f"#0000{i:02x}",
                    "departments": ["Sales", f"Team {i}"],
                    "department_ids": [existing["id"]],
                    "examples": [f"Example {i}"],
                    "voices": ["Alto"],
                    "active": i % 2 == 0,
                }
                for i in range(n)
            ]
        },
    )


def resources_search(api: Api, n: int) -> tuple[str, str, Any]:
    _artifacts(api, 2, departments=_departments(n))
    return "POST", "/api/v5/resources/departments/search", {"page_size": 100}


def resource_users(api: Api, n: int) -> tuple[str, str, Any]:
    _artifacts(api, n, departments=["Shared"])
    (shared,) = api.post("/api/v5/resources/departments/search", {"search": "shared"}).json()["departments"]
    api.ok("personas", "draft", {"name": "Holding", "department_ids": [shared["id"]]}, method="PATCH")
    return "POST", "/api/v5/resources/departments/get", {"id": shared["id"]}


CASES = [
    Case("get with every section", get_with_options),
    Case("search", search_matches),
    Case("drafts list", drafts_list),
    Case("draft patch with new values", draft_patch_values),
    Case("export", export_all),
    Case("create with many options", create_with_options),
    Case("bulk create", bulk_create),
    Case("resources search with usage", resources_search),
    Case("resource get with its users", resource_users),
]


def _count(make_api, count_statements, case: Case, sizes: tuple[int, ...]) -> dict[int, int]:
    counts = {}
    for n in sizes:
        api = make_api("editor", group=f"scene-{n}")  # a group of its own, so the scenes do not mix
        method, path, body = case.scene(api, n)
        with count_statements() as counter:
            response = api.client.request(method, path, json=body, headers=api.headers)
        assert response.status_code == 200, response.text
        assert all(r["success"] for r in response.json().get("results", [])), response.text
        counts[n] = counter.count
    return counts


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_an_operation_sends_as_many_statements_for_fifty_as_for_one(make_api, count_statements, dialect, case):
    counts = _count(make_api, count_statements, case, (1, 50))
    assert counts[1] == counts[50], f"{case.name}: {counts[1]} statements for 1, {counts[50]} for 50"


def update_items(api: Api, n: int) -> tuple[str, str, Any]:
    ids = _artifacts(api, n)
    return (
        "POST",
        "/api/v5/artifacts/personas/update",
        {"personas": [{"persona_id": pid, "description": f"Changed {i}"} for i, pid in enumerate(ids)]},
    )


def delete_items(api: Api, n: int) -> tuple[str, str, Any]:
    return "POST", "/api/v5/artifacts/personas/delete", {"persona_ids": _artifacts(api, n)}


BULK_CASES = [Case("bulk update", update_items), Case("bulk delete", delete_items)]


@pytest.mark.parametrize("case", BULK_CASES, ids=[case.name for case in BULK_CASES])
def test_a_bulk_write_costs_a_constant_number_of_statements_per_item(make_api, count_statements, dialect, case):
    counts = _count(make_api, count_statements, case, (1, 2, 50))
    per_item = counts[2] - counts[1]
    assert counts[50] == counts[1] + 49 * per_item, f"{case.name}: {counts}"
    assert per_item <= 20, f"{case.name}: {per_item} statements per item"
