"""Bulk create throughput (issue 8: over 3,000 personas/s with 8 clients on SQLite, PostgreSQL within 1.5x).

Seeds `loomwork seed-demo --bulk --personas N` into /tmp/bulk-bench/ (SQLite) and into the
PostgreSQL database `loomwork_bulk_bench` (created when missing; `--drop` drops it
after), starts `loomwork serve` on it, and posts 1,000 realistic personas per request:
a name, a description, 3 departments, 2 examples and a color, about half of the values
already in the catalog and half new. Each round runs once with 1 client and once with
8 concurrent clients (one request each); the personas it made are deleted before the
next round, so every round sees the same data set. Prints each round and the medians.

    cd bench && ../.venv/bin/python bulk_create.py [--personas 20000] [--rounds 5] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from run import Server, ok

DATA_DIR = Path("/tmp/bulk-bench")
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_DB = "loomwork_bulk_bench"
ITEMS = 1000
API = "/api/v5/artifacts/personas"


def catalog(client: httpx.Client, plural: str) -> list[str]:
    """Some values the seeded group already has, so items mix existing and new values."""
    page = ok(client.post(f"/api/v5/resources/{plural}/search", json={"page_size": 100}))[plural]
    return [option["value"] for option in page]


def items(rng: random.Random, known: dict[str, list[str]], tag: str) -> list[dict[str, Any]]:
    def pick(plural: str, k: int) -> list[str]:  # half existing values, half new to this request
        return [
            rng.choice(known[plural]) if rng.random() < 0.5 else f"New {plural} {tag} {rng.randrange(500)}"
            for _ in range(k)
        ]

    return [
        {
            "name": f"Bench persona {tag}-{n}",
            "description": pick("descriptions", 1)[0],
            "departments": pick("departments", 3),
            "examples": pick("examples", 2),
            "color": f"#{rng.randrange(0x1000000):06x}",
        }
        for n in range(ITEMS)
    ]


def round_of(server: Server, headers: dict[str, str], known: dict[str, list[str]], clients: int, label: str) -> float:
    """Personas per second of one round: `clients` concurrent clients, one 1,000-item request each."""
    bodies = [items(random.Random(f"{label}/{n}"), known, f"{label}-{n}-{time.time_ns()}") for n in range(clients)]
    sessions = [httpx.Client(base_url=server.base, headers=headers, timeout=1800) for _ in range(clients)]
    created: list[list[str]] = [[] for _ in range(clients)]

    def create(n: int) -> None:
        results = ok(sessions[n].post(f"{API}/create", json={"personas": bodies[n]}))["results"]
        created[n] = [r["persona_id"] for r in results if r["success"]]

    threads = [threading.Thread(target=create, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    for session in sessions:
        session.close()
    made = [pid for ids in created for pid in ids]
    if len(made) != clients * ITEMS:
        raise RuntimeError(f"{clients * ITEMS - len(made)} of {clients * ITEMS} items were not created")
    delete_all(server, headers, made)
    return len(made) / took


def delete_all(server: Server, headers: dict[str, str], ids: list[str]) -> None:
    with httpx.Client(base_url=server.base, headers=headers, timeout=1800) as client:
        for start in range(0, len(ids), ITEMS):
            ok(client.post(f"{API}/delete", json={"persona_ids": ids[start : start + ITEMS]}))


def measure(dialect: str, url: str, args: argparse.Namespace) -> dict[int, list[float]]:
    server = Server(url, DATA_DIR)
    started = time.perf_counter()
    server.loomwork("seed-demo", "--bulk", "--personas", str(args.personas))
    print(f"[{dialect}] seeded {args.personas:,} personas in {time.perf_counter() - started:.0f} s", flush=True)
    key = (
        server.loomwork("keys", "create", "--group", "default", "--name", "bench", "--role", "admin")
        .strip()
        .splitlines()[-1]
    )
    headers = {"X-Api-Key": key}
    rates: dict[int, list[float]] = {1: [], 8: []}
    server.start()
    try:
        with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
            known = {plural: catalog(client, plural) for plural in ("descriptions", "departments", "examples")}
        for number in range(args.rounds):
            for clients in (1, 8):
                rate = round_of(server, headers, known, clients, f"{dialect}-{number}-{clients}")
                rates[clients].append(rate)
                print(f"[{dialect}] round {number + 1}: {clients} client(s): {rate:,.0f} personas/s", flush=True)
    finally:
        server.stop()
    for clients, values in rates.items():
        print(
            f"[{dialect}] {clients} client(s): median {statistics.median(values):,.0f} personas/s "
            f"over {len(values)} rounds ({', '.join(f'{v:,.0f}' for v in values)})",
            flush=True,
        )
    return rates


def postgres_database(drop: bool = False) -> bool:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (POSTGRES_DB,)).fetchone()
            if drop and exists:
                conn.execute(f"DROP DATABASE {POSTGRES_DB} WITH (FORCE)")
            elif not drop and not exists:
                conn.execute(f"CREATE DATABASE {POSTGRES_DB}")
        return True
    except psycopg.Error as exc:
        print(f"PostgreSQL does not answer at 127.0.0.1:5432 ({exc}); measuring SQLite only.")
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--drop", action="store_true", help="drop the PostgreSQL database afterwards")
    args = parser.parse_args()
    DATA_DIR.mkdir(exist_ok=True)
    targets = {}
    if args.only in (None, "sqlite"):
        targets["sqlite"] = f"sqlite:///{DATA_DIR / f'bulk-{args.personas}.sqlite3'}"
    if args.only in (None, "postgresql") and postgres_database():
        targets["postgresql"] = f"postgresql://postgres@127.0.0.1:5432/{POSTGRES_DB}"
    for dialect, url in targets.items():
        measure(dialect, url, args)
    if args.drop and "postgresql" in targets:
        postgres_database(drop=True)


if __name__ == "__main__":
    main()
