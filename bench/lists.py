"""Every list the pages open, at a small and at a large group: the first page must not grow with the group.

The list page opens `search` with no text and no filter (the first call a client makes too); the
editor opens `get`, the drafts list and a resource catalog's search; the proposals page the drafts
list. Each is measured in-process (FastAPI's test client: no HTTP, no load of other clients) at
1,000 personas and at --personas, on one database each, and bench/LISTS.md says how they compare.

    .venv/bin/python bench/lists.py [--personas 100000] [--small 1000] [--runs 40] [--dir /tmp/loomwork-bench]
        [--postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from loomwork import groups
from loomwork.app import create_app
from loomwork.config import Settings
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork.demo import DemoSeeder
from loomwork.kinds.persona import PERSONA
from run import analyze

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"bench-server-secret-of-at-least-32-bytes"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
API = "/api/v5/artifacts/personas"


def prepared(url: str, personas: int) -> tuple[Database, TestClient, dict[str, str]]:
    db = Database(url)
    upgrade(db.engine)
    started = time.perf_counter()
    DemoSeeder(db, "default").seed(PERSONA, personas)  # a no-op for rows already there
    analyze(url)
    print(f"{personas:,} personas in {url} (seeded or checked in {time.perf_counter() - started:.0f} s)", flush=True)
    with db.transaction(write=True) as session:
        key = groups.create_group_key(session, SECRET, "default", "bench-lists", "admin")
    client = TestClient(create_app(Settings(url, Path(tempfile.gettempdir()), SECRET), db))
    return db, client, {"X-Api-Key": key}


def lists(client: TestClient, headers: dict[str, str]) -> dict[str, Callable[[], Any]]:
    def post(path: str, body: dict[str, Any]) -> Callable[[], Any]:
        def call() -> Any:
            response = client.post(path, json=body, headers=headers)
            assert response.status_code == 200, response.text
            return response

        return call

    first = post(f"{API}/search", {"page_size": 1})().json()["personas"][0]["persona_id"]
    return {
        "search: first page of 50, no text, no filter": post(f"{API}/search", {"page_size": 50}),
        "search: second page of 50": post(f"{API}/search", {"page_size": 50, "page_offset": 50}),
        "get (the editor's view)": post(f"{API}/get", {"persona_id": first}),
        "get, new form": post(f"{API}/get", {}),
        "drafts list (editor, proposals page)": post(f"{API}/drafts", {"page_size": 200}),
        "resource catalog: departments, 200": post("/api/v5/resources/departments/search", {"page_size": 200}),
        "resource catalog: names, 25": post("/api/v5/resources/names/search", {}),
    }


def measure(call: Callable[[], Any], runs: int) -> float:
    for _ in range(3):
        call()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def one_database(label: str, url_for: Callable[[int], str], sizes: list[int], runs: int) -> dict[int, dict[str, float]]:
    figures = {}
    for size in sizes:
        db, client, headers = prepared(url_for(size), size)
        figures[size] = {name: measure(call, runs) for name, call in lists(client, headers).items()}
        for name, ms in figures[size].items():
            print(f"[{label} {size:,}] {name}: {ms:.1f} ms", flush=True)
        db.dispose()
    return figures


def postgres_url(size: int) -> str:
    import psycopg

    name = f"loomwork_lists_{size}"
    with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "loomwork-bench")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "LISTS.md")
    args = parser.parse_args()
    args.dir.mkdir(exist_ok=True)
    sizes = [args.small, args.personas]
    load = os.getloadavg()
    results = {
        # the same files as make bench's (bench-N.sqlite3), so a data set is seeded once for every benchmark
        "sqlite": one_database("sqlite", lambda n: f"sqlite:///{args.dir / f'bench-{n}.sqlite3'}", sizes, args.runs)
    }
    if args.postgres:
        results["postgresql"] = one_database("postgresql", postgres_url, sizes, args.runs)
    lines = [
        "# Every list the pages open, small group and large",
        "",
        f"Written by `python bench/lists.py {' '.join(sys.argv[1:])}` on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} at the start (shared machine). In-process "
        f"(no HTTP), one client, median of {args.runs} calls, on `loomwork seed-demo --bulk` data.",
        "",
        f"| database | list | {args.small:,} personas ms | {args.personas:,} personas ms | ratio |",
        "|---|---|---|---|---|",
    ]
    for dialect, figures in results.items():
        for name in figures[args.small]:
            small, large = figures[args.small][name], figures[args.personas][name]
            lines.append(f"| {dialect} | {name} | {small:.1f} | {large:.1f} | {large / small:.2f} |")
    lines += ["", "The first page must stay within 2x between the two sizes (issue 19).", ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
