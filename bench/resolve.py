"""Issue 18's runtime read, measured: resolve by id at a label, its 304 revalidation, 8 clients, revision size.

Seeds the same data set as `make bench` (`loomwork seed-demo --bulk`, a no-op when it is there), labels some
personas `production`, starts `loomwork serve --workers 2` and drives it from this process:

- one client: `GET /api/v5/resolve/personas/{id}?label=production` over the labelled personas (each once
  before timing, so the figures are the warm cache a production agent meets), then the same with the
  ETag in `If-None-Match` (304, no body);
- 8 clients for `--seconds`: resolves per second (the server's throughput, not one request's cost);
- on disk: the revisions table and its indexes, per revision.

Writes its section of bench/RESULTS.md (between the `resolve` markers; `make bench` keeps it).

    .venv/bin/python bench/resolve.py [--personas 100000] [--seconds 6] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from run import (
    CLIENTS,
    RESOLVE_END,
    RESOLVE_START,
    ROOT,
    Result,
    Server,
    bench_targets,
    ok,
    run_load,
    seed,
    write_section,
)

LABELLED = 200
SINGLE_CALLS = 2000
BUDGET = "resolve under 2 ms and a 304 under 1 ms (one client); over 1,500 resolves/s with 8 clients on SQLite"


def label_some(server: Server, headers: dict[str, str], count: int) -> list[str]:
    """`count` personas, each with `production` on its latest version."""
    with httpx.Client(base_url=server.base, headers=headers, timeout=120) as c:
        found = ok(c.post("/api/v5/artifacts/personas/search", json={"page_size": count}))["personas"]
        ids = [row["persona_id"] for row in found]
        for persona_id in ids:
            latest = ok(c.post("/api/v5/artifacts/personas/history", json={"persona_id": persona_id}))["version"]
            ok(
                c.post(
                    "/api/v5/artifacts/personas/label",
                    json={"persona_id": persona_id, "label": "production", "version": latest},
                )
            )
    return ids


def one_client(server: Server, headers: dict[str, str], ids: list[str]) -> tuple[list[float], list[float]]:
    """Latencies (seconds) of warm resolves and of 304 revalidations, one request at a time."""
    fetched, revalidated = [], []
    with httpx.Client(base_url=server.base, headers=headers, timeout=60) as c:
        etags = {}
        for persona_id in ids:  # warm the cache, and learn each ETag
            response = c.get(f"/api/v5/resolve/personas/{persona_id}", params={"label": "production"})
            ok(response)
            etags[persona_id] = response.headers["ETag"]
        for n in range(SINGLE_CALLS):
            persona_id = ids[n % len(ids)]
            began = time.perf_counter()
            ok(c.get(f"/api/v5/resolve/personas/{persona_id}", params={"label": "production"}))
            fetched.append(time.perf_counter() - began)
            began = time.perf_counter()
            again = c.get(
                f"/api/v5/resolve/personas/{persona_id}",
                params={"label": "production"},
                headers={"If-None-Match": etags[persona_id]},
            )
            revalidated.append(time.perf_counter() - began)
            if again.status_code != 304:
                raise RuntimeError(f"revalidation answered {again.status_code}, not 304")
    return fetched, revalidated


def revision_bytes(url: str) -> tuple[int, int]:
    """(revisions, bytes on disk for the revisions table and its indexes)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM artifact_revisions")).scalar_one()
        if engine.dialect.name == "sqlite":
            size = conn.execute(
                text(
                    "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                    "(SELECT name FROM sqlite_master WHERE tbl_name = 'artifact_revisions')"
                )
            ).scalar_one()
        else:
            size = conn.execute(text("SELECT pg_total_relation_size('artifact_revisions')")).scalar_one()
    engine.dispose()
    return count, int(size or 0)


def measure(dialect: str, url: str, args: argparse.Namespace, data_dir: Path) -> list[str]:
    server = Server(url, data_dir)
    seed(server, args.personas, args.others)
    key = server.loomwork("keys", "create", "--group", "default", "--name", "bench", "--role", "admin")
    headers = {"X-Api-Key": key.strip().splitlines()[-1]}
    server.start(args.workers)
    try:
        ids = label_some(server, headers, LABELLED)
        fetched, revalidated = one_client(server, headers, ids)
        loaded: Result = run_load(
            "resolve, 8 clients",
            server,
            headers,
            lambda _c, n: n,
            lambda c, n, calls: len(
                [ok(c.get(f"/api/v5/resolve/personas/{ids[(n * 31 + calls) % len(ids)]}?label=production"))]
            ),
            args.seconds,
        )
    finally:
        server.stop()
    revisions, size = revision_bytes(url)
    figures = {
        "resolve (one client)": statistics.median(fetched) * 1000,
        "304 revalidation (one client)": statistics.median(revalidated) * 1000,
    }
    rows = [
        f"| {dialect} | {name} | {median:.2f} | {sorted(lat)[int(len(lat) * 0.95)] * 1000:.2f} | - |"
        for (name, median), lat in zip(figures.items(), (fetched, revalidated))
    ]
    rows.append(
        f"| {dialect} | resolve, {CLIENTS} clients, --workers {args.workers} | {loaded.median_ms:.2f} | "
        f"{loaded.p95_ms:.2f} | {loaded.per_s:.0f} |"
    )
    per_revision = size / revisions if revisions else float("nan")
    rows.append(
        f"| {dialect} | on disk: {revisions:,} revisions, {size / 2**20:.1f} MiB | - | - | {per_revision:.0f} B each |"
    )
    for row in rows:
        print(row, flush=True)
    return rows


def write_resolve_section(rows: list[str], args: argparse.Namespace, path: Path) -> None:
    load = os.getloadavg()
    body = [
        "## Resolve, the runtime read (issue 18)",
        "",
        f"Written by `python bench/resolve.py --personas {args.personas}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} "
        f"UTC: the `make bench` data set ({args.personas:,} personas, `seed-demo --bulk`), {LABELLED} of them labelled "
        f"`production`; `loomwork serve --workers {args.workers}`; load average {load[0]:.1f} at the end on "
        f"{os.cpu_count()} cores.",
        "",
        "| database | workload | median ms | p95 ms | req/s |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Budget: {BUDGET}; revisions under 2 KB each on disk.",
    ]
    write_section(path, RESOLVE_START, RESOLVE_END, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=2_000, help="tools, evals and invocations each (as make bench)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    data_dir, targets = bench_targets(args.only, f"bench-{args.personas}")  # make bench's data set
    rows = [row for dialect, url in targets.items() for row in measure(dialect, url, args, data_dir)]
    write_resolve_section(rows, args, args.out)


if __name__ == "__main__":
    main()
