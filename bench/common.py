"""Shared set-up for the benchmarks: a seeded database and an API client for it."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from loomwork import groups
from loomwork.app import create_app
from loomwork.config import Settings
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork.demo import DemoSeeder
from loomwork.kinds.persona import PERSONA

SECRET = b"bench-server-secret-of-at-least-32-bytes"


def arguments(description: str, runs: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--database-url",
        default=f"sqlite:///{Path(tempfile.gettempdir()) / 'loomwork-bench.sqlite3'}",
        help="Database to seed (if it has fewer personas) and measure.",
    )
    parser.add_argument("--personas", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=runs)
    return parser.parse_args()


def prepared(args: argparse.Namespace) -> tuple[Database, TestClient, dict[str, str]]:
    db = Database(args.database_url)
    upgrade(db.engine)
    seeder = DemoSeeder(db, "default")  # the group `loomwork seed-demo --bulk` fills
    started = time.perf_counter()
    seeder.seed(PERSONA, args.personas)  # a no-op for rows already there
    print(
        f"data: {args.personas:,} personas in {db.dialect} (seeding/checking took {time.perf_counter() - started:.1f} s)"
    )
    with db.transaction(write=True) as session:
        key = groups.create_group_key(session, SECRET, "default", "bench", "admin")
    client = TestClient(create_app(Settings(args.database_url, Path(tempfile.gettempdir()), SECRET), db))
    return db, client, {"X-Api-Key": key}


def measure(label: str, runs: int, call: Callable[[], object], warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    print(f"{label}: median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms over {runs} runs")
    return timings
