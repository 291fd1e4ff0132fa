"""Issue 18: what writing a revision adds to `update` and to a draft commit (budget: at most 20%).

Measured A/B in process (FastAPI's test client, no HTTP, one client), on one `seed-demo --bulk` data set:
the same requests run with revisions written as they are, and with `record_revisions` replaced by a
no-op (no revision row, no `revision.created` event, no cache announcement), alternating A and B call
by call so that drift of the machine falls on both. The difference of the medians is the revision's
cost. Appends its section to bench/RESULTS.md (between the `revision-cost` markers; `make bench` keeps it).

    .venv/bin/python bench/revision_cost.py [--personas 100000] [--calls 300] [--postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from lists import POSTGRES_ADMIN, prepared
from loomwork.engine import revisions
from run import REVISION_COST_END, REVISION_COST_START, ROOT, bench_data_dir, write_section

API = "/api/v5/artifacts/personas"
BUDGET_PERCENT = 20


def without_revisions(*_args: Any, **_kwargs: Any) -> None:
    """B: the commit as it would be if no revision were written."""


def operations(client: TestClient, headers: dict[str, str], ids: list[str]) -> dict[str, Callable[[int], None]]:
    def ok(response: Any) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        return response.json()

    def update(n: int) -> None:
        item = {"persona_id": ids[n % len(ids)], "description": f"Revision cost {n}"}
        (result,) = ok(client.post(f"{API}/update", json={"personas": [item]}, headers=headers))["results"]
        assert result["success"], result

    def draft_commit(n: int) -> None:
        persona_id = ids[n % len(ids)]
        draft = ok(
            client.patch(
                f"{API}/draft", json={"persona_id": persona_id, "description": f"Drafted {n}"}, headers=headers
            )
        )
        item = {"persona_id": persona_id, "draft_id": draft["draft_id"]}
        (result,) = ok(client.post(f"{API}/update", json={"personas": [item]}, headers=headers))["results"]
        assert result["success"], result

    return {"update": update, "draft patch + commit": draft_commit}


def a_b(call: Callable[[int], None], calls: int) -> tuple[float, float]:
    """Medians in ms of `call` with revisions (A) and without (B), alternating."""
    real = revisions.record_revisions
    with_ms: list[float] = []
    without_ms: list[float] = []
    try:
        for n in range(calls * 2 + 10):
            revisions.record_revisions = real if n % 2 == 0 else without_revisions  # type: ignore[assignment]
            started = time.perf_counter()
            call(n)
            took = (time.perf_counter() - started) * 1000
            if n >= 10:  # the first few warm caches up
                (with_ms if n % 2 == 0 else without_ms).append(took)
    finally:
        revisions.record_revisions = real  # type: ignore[assignment]
    return statistics.median(with_ms), statistics.median(without_ms)


def measure(label: str, url: str, personas: int, calls: int) -> list[str]:
    """On personas of its own, deleted at the end: the B calls leave versions without a revision, which the
    shared data set must not keep (resolve.py labels versions by their revisions)."""
    db, client, headers = prepared(url, personas)
    made = client.post(
        f"{API}/create",
        json={"personas": [{"name": f"Revision cost {i}", "departments": ["Bench"]} for i in range(200)]},
        headers=headers,
    ).json()["results"]
    ids = [row["persona_id"] for row in made]
    rows = []
    try:
        for name, call in operations(client, headers, ids).items():
            with_ms, without_ms = a_b(call, calls)
            added = (with_ms - without_ms) / without_ms * 100
            verdict = "meets" if added <= BUDGET_PERCENT else "**misses**"
            rows.append(f"| {label} | {name} | {with_ms:.2f} | {without_ms:.2f} | {added:+.1f}% | {verdict} |")
            print(rows[-1], flush=True)
    finally:
        deleted = client.post(f"{API}/delete", json={"persona_ids": ids}, headers=headers)
        assert deleted.status_code == 200, deleted.text
        db.dispose()
    return rows


def postgres_bench_url() -> str:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'loomwork_bench'").fetchone():
            conn.execute("CREATE DATABASE loomwork_bench")
    return "postgresql+psycopg://postgres@127.0.0.1:5432/loomwork_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300, help="calls with revisions, and as many without")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    rows = measure(
        "sqlite", f"sqlite:///{bench_data_dir() / f'bench-{args.personas}.sqlite3'}", args.personas, args.calls
    )
    if args.postgres:
        rows += measure("postgresql", postgres_bench_url(), args.personas, args.calls)
    load = os.getloadavg()
    body = [
        "## What a revision adds to a commit (issue 18)",
        "",
        f"Written by `python bench/revision_cost.py --personas {args.personas} --calls {args.calls}"
        f"{' --postgres' if args.postgres else ''}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load "
        f"average {load[0]:.1f} at the end on {os.cpu_count()} cores. In process, one client, on the "
        f"`make bench` data set ({args.personas:,} personas); each call with the revision written (A) "
        "alternates with the same call with `record_revisions` a no-op (B), on 200 personas made for the run and deleted after it.",
        "",
        "| database | operation | median ms with revisions | median ms without | added | budget (20%) |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    write_section(args.out, REVISION_COST_START, REVISION_COST_END, body)


if __name__ == "__main__":
    main()
