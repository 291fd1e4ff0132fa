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
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from run import SECRET, bench_data_dir  # make bench's secret and data set

DEFAULT_DB = f"sqlite:///{bench_data_dir() / 'bench-100000.sqlite3'}"
API = "/api/v5/artifacts/personas"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_round(loomwork: str, database_url: str, key: str, calls: int, env: dict[str, str]) -> tuple[float, float]:
    """(median ms of `get`, median ms of `/healthz`) from a server of this checkout."""
    port = free_port()
    server = subprocess.Popen(
        [loomwork, "serve", "--port", str(port), "--workers", "1", "--database-url", database_url],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{loomwork} serve did not start")
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=60) as client:
            page = client.post(f"{API}/search", json={"page_size": 200}).json()["personas"]
            ids = [p["persona_id"] for p in page]
            for persona_id in ids[:50]:  # warm up: caches, the statement cache, the page cache
                client.post(f"{API}/get", json={"persona_id": persona_id})
            gets = []
            for n in range(calls):
                started = time.perf_counter()
                response = client.post(f"{API}/get", json={"persona_id": ids[n % len(ids)]})
                gets.append(time.perf_counter() - started)
                response.raise_for_status()
            floor = []
            for _ in range(calls // 2):
                started = time.perf_counter()
                client.get("/healthz")
                floor.append(time.perf_counter() - started)
        return statistics.median(gets) * 1000, statistics.median(floor) * 1000
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the old checkout's loomwork executable")
    parser.add_argument("--new", default=str(Path(sys.executable).with_name("loomwork")))
    parser.add_argument("--database-url", default=DEFAULT_DB, help="make bench's data set by default")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    env = {**os.environ, "LOOMWORK_SECRET_KEY": SECRET, "LOOMWORK_DATA_DIR": str(bench_data_dir())}
    made = subprocess.run(
        [args.new, "keys", "create", "--group", "default", "--name", "ab", "--role", "admin"]
        + ["--database-url", args.database_url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.strip().splitlines()[-1]
    found: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    for round_number in range(1, args.rounds + 1):
        for label in ("old", "new"):
            get_ms, floor_ms = one_round(getattr(args, label), args.database_url, key, args.calls, env)
            found[label].append((get_ms, floor_ms))
            print(f"round {round_number} {label}: get {get_ms:.2f} ms, healthz {floor_ms:.2f} ms", flush=True)
    for label, rounds in found.items():
        get_ms = statistics.median(r[0] for r in rounds)
        floor_ms = statistics.median(r[1] for r in rounds)
        print(f"{label}: get {get_ms:.2f} ms (median of the rounds' medians), healthz {floor_ms:.2f} ms")


if __name__ == "__main__":
    main()
