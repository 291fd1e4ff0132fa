"""A/B of one operation's cost between two checkouts, on the same data set, alternating on one machine.

A shared machine's speed drifts by a factor of two or three within an hour, so a figure measured today is
not comparable with one in RESULTS.md from another day. Alternating servers of the old and the new code
over the same database, round after round, compares them under the same conditions.

    .venv/bin/python bench/ab_get.py --old /path/to/old-checkout/.venv/bin/loomwork \\
        [--new .venv/bin/loomwork] [--database-url URL (default: make bench's SQLite file, 100,000 personas)]

Each round starts `loomwork serve --workers 1` from one checkout and sends `get` with one client (the
cost of one request), then `GET /healthz` as the floor of that round. The data set is `make bench`'s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from run import LOOMWORK, Server, bench_data_dir  # make bench's server, secret and data set

DEFAULT_DB = f"sqlite:///{bench_data_dir() / 'bench-100000.sqlite3'}"
API = "/api/v5/artifacts/personas"


def one_round(server: Server, key: str, calls: int) -> tuple[float, float]:
    """(median ms of `get`, median ms of `/healthz`) from one server, started and stopped here."""
    server.start(workers=1)
    try:
        with httpx.Client(base_url=server.base, headers={"X-Api-Key": key}, timeout=60) as client:
            page = client.post(f"{API}/search", json={"page_size": 200}).json()["personas"]
            ids = [p["persona_id"] for p in page]
            for persona_id in ids[:50]:  # warm up: caches, the statement cache, the page cache
                client.post(f"{API}/get", json={"persona_id": persona_id})
            gets = [timed(client.post, f"{API}/get", json={"persona_id": ids[n % len(ids)]}) for n in range(calls)]
            floor = [timed(client.get, "/healthz") for _ in range(calls // 2)]
        return statistics.median(gets) * 1000, statistics.median(floor) * 1000
    finally:
        server.stop()


def timed(call: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    call(*args, **kwargs).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the old checkout's loomwork executable")
    parser.add_argument("--new", default=LOOMWORK, help="the new checkout's (this one's by default)")
    parser.add_argument("--database-url", default=DEFAULT_DB, help="make bench's data set by default")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    servers = {label: Server(args.database_url, bench_data_dir(), getattr(args, label)) for label in ("old", "new")}
    key = servers["new"].loomwork("keys", "create", "--group", "default", "--name", "ab", "--role", "admin")
    key = key.strip().splitlines()[-1]
    found: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    for round_number in range(1, args.rounds + 1):
        for label in ("old", "new"):
            get_ms, floor_ms = one_round(servers[label], key, args.calls)
            found[label].append((get_ms, floor_ms))
            print(f"round {round_number} {label}: get {get_ms:.2f} ms, healthz {floor_ms:.2f} ms", flush=True)
    for label, rounds in found.items():
        get_ms = statistics.median(r[0] for r in rounds)
        floor_ms = statistics.median(r[1] for r in rounds)
        print(f"{label}: get {get_ms:.2f} ms (median of the rounds' medians), healthz {floor_ms:.2f} ms")


if __name__ == "__main__":
    main()
