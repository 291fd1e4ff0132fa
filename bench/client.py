"""The clients' runtime read, measured (issue 32): how soon a label move reaches a watching client, what a cached
resolve costs in process, and resolve_many of 20 artifacts against 20 single resolves.

Starts `loomwork serve` (one worker) on a fresh database, creates 20 personas (one with two versions and a
`production` label) and drives it from this process:

- label move -> on_change: 100 moves of `production` between versions 1 and 2; for each, the time from the
  label request's answer to the watching client's on_change (which is called after the client has read the
  moved entry again: the new config is in its cache). Python, then the TypeScript client (bench/client_ts.mjs,
  run by node) when it is built.
- a cached resolve: calls of `resolve` on an entry the watching client holds (no request), and for comparison
  the same without watch (a 304 revalidation per call).
- resolve_many of 20 against 20 single resolves: a cold client (nothing cached) and a warm one (the 20 single
  resolves are 20 304s; resolve_many one 304 for the whole set).

Writes bench/CLIENT.md.

    cd bench && ../.venv/bin/python client.py [--moves 100] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from loomwork import groups
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork_client import Change, Client
from run import ROOT, SECRET, Server, ok

PERSONAS = 20


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def seed(base: str, admin: str) -> list[str]:
    with httpx.Client(base_url=base, headers={"X-Api-Key": admin}, timeout=60) as c:
        items = [
            {"name": f"Persona {n}", "instructions": f"You are persona {n}, helping {{{{customer}}}}."}
            for n in range(PERSONAS)
        ]
        results = ok(c.post("/api/v5/artifacts/personas/create", json={"personas": items}))["results"]
        ids = [r["persona_id"] for r in results]
        ok(
            c.post(
                "/api/v5/artifacts/personas/update", json={"personas": [{"persona_id": ids[0], "description": "v2"}]}
            )
        )
        ok(c.post("/api/v5/artifacts/personas/label", json={"persona_id": ids[0], "label": "production", "version": 1}))
    return ids


def move_latency(base: str, admin: str, viewer: str, persona_id: str, moves: int) -> list[float]:
    """Seconds from each label move's answer to on_change in a watching Python client."""
    arrived: list[float] = []
    seen = threading.Condition()

    def on_change(change: Change) -> None:
        if change.event == "label.moved":
            with seen:
                arrived.append(time.perf_counter())
                seen.notify_all()

    latencies = []
    with (
        Client(base, viewer, watch=True, on_change=on_change, timeout=30) as loomwork,
        httpx.Client(base_url=base, headers={"X-Api-Key": admin}, timeout=30) as c,
    ):
        loomwork.resolve("personas", persona_id, label="production")
        while not loomwork.watching:
            time.sleep(0.01)
        version = 1
        for _ in range(moves):
            target = 2 if version == 1 else 1
            body = {"persona_id": persona_id, "label": "production", "version": target, "expected_version": version}
            with seen:
                before = len(arrived)
            ok(c.post("/api/v5/artifacts/personas/label", json=body))
            answered = time.perf_counter()
            with seen:
                assert seen.wait_for(lambda: len(arrived) > before, timeout=30), "a label move never reached on_change"
                latencies.append(arrived[before] - answered)
            assert loomwork.resolve("personas", persona_id, label="production").version == target
            version = target
    return latencies


def cached_resolve(base: str, viewer: str, persona_id: str) -> tuple[float, float]:
    """Microseconds per resolve of a held entry: watching (from memory), and not watching (a 304 each)."""
    with Client(base, viewer, watch=True, timeout=30) as loomwork:
        loomwork.resolve("personas", persona_id, label="production")
        while not loomwork.watching:
            time.sleep(0.01)
        calls = 100_000
        began = time.perf_counter()
        for _ in range(calls):
            loomwork.resolve("personas", persona_id, label="production")
        watching = (time.perf_counter() - began) / calls * 1e6
    with Client(base, viewer, timeout=30) as loomwork:
        loomwork.resolve("personas", persona_id, label="production")
        calls = 1000
        began = time.perf_counter()
        for _ in range(calls):
            loomwork.resolve("personas", persona_id, label="production")
        revalidating = (time.perf_counter() - began) / calls * 1e6
    return watching, revalidating


def many_against_single(base: str, viewer: str, ids: list[str], rounds: int = 30) -> dict[str, float]:
    """Median milliseconds: resolve_many of the 20 against 20 single resolves, cold and warm (revalidating)."""
    items = [("personas", i) for i in ids]
    times: dict[str, list[float]] = {"many cold": [], "single cold": [], "many warm": [], "single warm": []}
    for _ in range(rounds):
        with Client(base, viewer, timeout=30) as loomwork:
            began = time.perf_counter()
            loomwork.resolve_many(items)
            times["many cold"].append(time.perf_counter() - began)
            began = time.perf_counter()
            loomwork.resolve_many(items)
            times["many warm"].append(time.perf_counter() - began)
        with Client(base, viewer, timeout=30) as loomwork:
            began = time.perf_counter()
            for kind, i in items:
                loomwork.resolve(kind, i)
            times["single cold"].append(time.perf_counter() - began)
            began = time.perf_counter()
            for kind, i in items:
                loomwork.resolve(kind, i)
            times["single warm"].append(time.perf_counter() - began)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def typescript_latency(base: str, admin: str, viewer: str, persona_id: str, moves: int) -> list[float] | None:
    package = ROOT / "clients" / "typescript"
    if not shutil.which("node") or not (package / "node_modules" / ".bin" / "tsc").exists():
        return None
    subprocess.run(["npm", "run", "build"], cwd=package, check=True, capture_output=True)
    env = {**os.environ, "LOOMWORK_URL": base, "LOOMWORK_API_KEY": viewer, "LOOMWORK_ADMIN_KEY": admin}
    done = subprocess.run(
        ["node", str(ROOT / "bench" / "client_ts.mjs"), persona_id, str(moves)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return [float(line) for line in done.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        url = args.database_url or f"sqlite:///{Path(home) / 'bench.sqlite3'}"
        db = Database(url)
        upgrade(db.engine)
        group = f"clients-{os.getpid()}"
        with db.transaction(write=True) as session:
            admin = groups.create_group_key(session, SECRET.encode(), group, "bench-admin", "admin")
            viewer = groups.create_group_key(session, SECRET.encode(), group, "bench-viewer", "viewer")
        db.dispose()
        server = Server(url, Path(home) / "data")
        server.start(workers=1)
        try:
            ids = seed(server.base, admin)
            python = move_latency(server.base, admin, viewer, ids[0], args.moves)
            typescript = typescript_latency(server.base, admin, viewer, ids[0], args.moves)
            watching_us, revalidating_us = cached_resolve(server.base, viewer, ids[0])
            many = many_against_single(server.base, viewer, ids)
        finally:
            server.stop()

    def moves_row(name: str, values: list[float]) -> str:
        return (
            f"| {name} | {len(values)} | {statistics.median(values) * 1000:.1f} ms | "
            f"{percentile(values, 99) * 1000:.1f} ms | {max(values) * 1000:.1f} ms |"
        )

    dialect = url.split(":", 1)[0].split("+", 1)[0]
    lines = [
        "",
        "",
        f"`cd bench && ../.venv/bin/python client.py --moves {args.moves}` on {dialect}, one server worker, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared with other work), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "A label move's answer to a watching client's on_change (the moved entry already read again):",
        "",
        "| client | moves | median | p99 | max |",
        "|---|---|---|---|---|",
        moves_row("Python", python),
    ]
    if typescript:
        lines.append(moves_row("TypeScript", typescript))
    lines += [
        "",
        "A cached resolve in process (the same entry, called in a loop):",
        "",
        "| client | per call |",
        "|---|---|",
        f"| Python, watching (from memory, no request) | {watching_us:.1f} µs |",
        f"| Python, not watching (a 304 revalidation each) | {revalidating_us:.0f} µs |",
        "",
        f"{PERSONAS} personas: one resolve_many against {PERSONAS} single resolves (median of 30 rounds):",
        "",
        "| | resolve_many | single resolves |",
        "|---|---|---|",
        f"| cold (nothing cached) | {many['many cold']:.1f} ms | {many['single cold']:.1f} ms |",
        f"| warm (revalidation: one 304 against {PERSONAS}) | {many['many warm']:.1f} ms | {many['single warm']:.1f} ms |",
        "",
    ]
    section = "\n".join(lines[2:])
    print(section)
    write_report(dialect, section)


def write_report(dialect: str, section: str) -> None:
    """bench/CLIENT.md keeps one section per database: this run replaces its own and leaves the other."""
    path = ROOT / "bench" / "CLIENT.md"
    sections = {}
    if path.exists():
        for part in path.read_text().split("<!-- client:")[1:]:
            name, _, body = part.partition(" -->\n")
            sections[name] = body.split("<!-- /client -->")[0]
    sections[dialect] = f"## {dialect}\n\n{section}\n"
    body = "".join(f"<!-- client:{name} -->\n{text}<!-- /client -->\n\n" for name, text in sorted(sections.items()))
    path.write_text("# The clients' runtime read, measured (bench/client.py)\n\n" + body.rstrip() + "\n")


if __name__ == "__main__":
    main()
