"""The reads that must not grow with the group use the index made for them (SQLite's planner, checked with
EXPLAIN QUERY PLAN on the statements a request really sends).

Statement counts (tests/engine/test_statement_counts.py) catch a loop that queries per row; they cannot
see one statement that walks every row of a table. These tests can: a plan names the index it searches.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from conftest import Api


def _plans_of(db: Any, api: Api, method: str, path: str, body: dict[str, Any], needle: str) -> list[str]:
    """The query plans of the statements of one request whose SQL contains `needle`."""
    captured: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        if needle in statement:
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = api.client.request(method, path, json=body, headers=api.headers)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.text
    assert captured, f"no statement with {needle!r}"
    plans = []
    with db.engine.connect() as conn:
        for statement, parameters in captured:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            plans.append("\n".join(str(row[-1]) for row in rows))
    return plans


def test_get_counts_the_readers_staged_values_through_their_index(db, dialect, api: Api) -> None:
    if dialect != "sqlite":
        pytest.skip("SQLite's query planner only (PostgreSQL plans by its statistics)")
    # Many resources of the kinds get counts: walking them all is what the plan must not do.
    items = [{"name": f"Agent {i}", "departments": [f"Department {i}"], "voices": [f"Voice {i}"]} for i in range(200)]
    assert all(r["success"] for r in api.ok("personas", "create", {"personas": items})["results"])
    persona_id = api.ok("personas", "search", {"page_size": 1})["personas"][0]["persona_id"]

    plans = _plans_of(
        db, api, "POST", "/api/v5/artifacts/personas/get", {"persona_id": persona_id}, "GROUP BY resources.kind"
    )

    for plan in plans:
        assert "ix_resources_staged_by_group_kind" in plan, plan
