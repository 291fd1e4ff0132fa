"""`make bench-peers`: Loomwork beside Arize Phoenix's prompt store, with the same client code, into bench/PEERS.md.

Phoenix (`arize-phoenix` from PyPI, in a venv of its own at bench/.peers, never a dependency of
Loomwork) runs as `phoenix serve` on SQLite, on loopback, with its own working directory under /tmp.
Loomwork runs as `loomwork serve` on a fresh SQLite file (and on PostgreSQL with --postgres). One
server at a time; this process drives each over HTTP with the same driver (httpx, keep-alive, one
client or 8 threads), only the paths and bodies differ:

| work | Phoenix | Loomwork |
|---|---|---|
| create one item | POST /v1/prompts (a new name) | POST create (one persona) |
| new version | POST /v1/prompts (the same name) | POST update (one persona) |
| read one by id | GET /v1/prompt_versions/{id} | GET /api/v5/resolve/personas/{id} when the route exists, else POST get (reported as such) |
| list a page of 50 | GET /v1/prompts?limit=50 | POST search, page_size 50, no text, no filter |

    bench/.peers/bin/python bench/peers.py [--sizes 1000,20000] [--seconds 5] [--postgres] [--only loomwork]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from run import analyze

ROOT = Path(__file__).resolve().parent.parent
LOOMWORK = ROOT / ".venv" / "bin" / "loomwork"
PHOENIX = ROOT / "bench" / ".peers" / "bin" / "phoenix"
CLIENTS = 8
SECRET = "bench-peers-secret-of-at-least-32-bytes"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_PEERS = "postgresql://postgres@127.0.0.1:5432/loomwork_peers"
SINGLE_CALLS = 60  # per single-client measurement
POPULATE_THREADS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server behind {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}"
        )
    return response.json()


# --- the two servers: how each does the same five things ----------------------------------------------------


class Target:
    name: str
    read_label = "read one by id"

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def headers(self) -> dict[str, str]:
        return {}

    def create(self, c: httpx.Client, n: int) -> str: ...
    def create_many(self, c: httpx.Client, start: int, count: int) -> list[str]: ...
    def new_version(self, c: httpx.Client, item: str, n: int) -> None: ...
    def read(self, c: httpx.Client, item: str) -> int: ...
    def list_page(self, c: httpx.Client) -> int: ...

    def _stop(self, process: subprocess.Popen | None) -> None:
        if process and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


class Phoenix(Target):
    name = "Phoenix"

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="phoenix-bench-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.versions: dict[str, str] = {}  # prompt name -> latest version id

    def start(self) -> None:
        env = {
            **os.environ,
            "PHOENIX_WORKING_DIR": str(self.workdir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        env.pop("PHOENIX_SQL_DATABASE_URL", None)  # SQLite in the working directory
        self.log = open(self.workdir / "server.log", "wb")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen(
            [str(PHOENIX), "serve"], env=env, cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_ready(f"{self.base}/healthz", self.process)

    def stop(self) -> None:
        self._stop(self.process)
        if self.process and self.process.returncode not in (0, None, -signal.SIGINT):
            print((self.workdir / "server.log").read_text(errors="replace")[-2000:], file=sys.stderr)
        self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _body(self, name: str, n: int) -> dict[str, Any]:
        return {
            "prompt": {"name": name, "description": f"Bench prompt {n}"},
            "version": {
                "model_provider": "OPENAI",
                "model_name": "gpt-4o-mini",
                "template_type": "CHAT",
                "template_format": "MUSTACHE",
                "description": f"version {n}",
                "template": {
                    "type": "chat",
                    "messages": [
                        {"role": "system", "content": f"You are helper {n}. Be brief."},
                        {"role": "user", "content": "{{question}}"},
                    ],
                },
                "invocation_parameters": {"type": "openai", "openai": {"temperature": 0.2}},
            },
        }

    def create(self, c: httpx.Client, n: int) -> str:
        name = f"bench-{n}-{time.time_ns()}"
        self.versions[name] = ok(c.post("/v1/prompts", json=self._body(name, n)))["data"]["id"]
        return name

    def create_many(self, c: httpx.Client, start: int, count: int) -> list[str]:
        return [self.create(c, start + i) for i in range(count)]

    def new_version(self, c: httpx.Client, item: str, n: int) -> None:
        self.versions[item] = ok(c.post("/v1/prompts", json=self._body(item, n)))["data"]["id"]

    def read(self, c: httpx.Client, item: str) -> int:
        response = c.get(f"/v1/prompt_versions/{self.versions[item]}")
        ok(response)
        return len(response.content)

    def list_page(self, c: httpx.Client) -> int:
        response = c.get("/v1/prompts", params={"limit": 50})
        ok(response)
        return len(response.content)


class Loomwork(Target):
    def __init__(self, url: str, dialect: str, workers: int) -> None:
        self.name = f"Loomwork ({dialect})"
        self.url, self.workers = url, workers
        self.data_dir = Path(tempfile.mkdtemp(prefix="loomwork-peers-"))
        self.env = {**os.environ, "LOOMWORK_SECRET_KEY": SECRET, "LOOMWORK_DATA_DIR": str(self.data_dir)}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.resolve = False

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(LOOMWORK), *args, "--database-url", self.url], env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"loomwork {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def start(self) -> None:
        self.key = (
            self.cli("keys", "create", "--group", "peers", "--name", "bench", "--role", "admin")
            .strip()
            .splitlines()[-1]
        )
        self.restart(self.workers)

    def restart(self, workers: int) -> None:
        self._stop(self.process)
        with open(self.data_dir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(LOOMWORK),
                    "serve",
                    "--port",
                    str(self.port),
                    "--database-url",
                    self.url,
                    "--workers",
                    str(workers),
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_ready(f"{self.base}/readyz", self.process)
        except RuntimeError:
            print((self.data_dir / "server.log").read_text()[-2000:], file=sys.stderr)
            raise
        paths = httpx.get(f"{self.base}/openapi.json", timeout=300).json()["paths"]
        self.resolve = any(p.startswith("/api/v5/resolve/personas/") for p in paths)
        self.read_label = "read one by id (resolve)" if self.resolve else "read one by id (`get`: no resolve route)"

    def stop(self) -> None:
        self._stop(self.process)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.key}

    def _item(self, n: int) -> dict[str, Any]:
        return {
            "name": f"Bench {n} {time.time_ns()}",
            "description": f"Bench prompt {n}",
            "instructions": f"You are helper {n}. Be brief. {{{{question}}}}",
        }

    def create(self, c: httpx.Client, n: int) -> str:
        (result,) = ok(c.post("/api/v5/artifacts/personas/create", json={"personas": [self._item(n)]}))["results"]
        return result["persona_id"]

    def create_many(self, c: httpx.Client, start: int, count: int) -> list[str]:
        ids = []
        for first in range(start, start + count, 500):
            items = [self._item(n) for n in range(first, min(first + 500, start + count))]
            ids += [
                r["persona_id"]
                for r in ok(c.post("/api/v5/artifacts/personas/create", json={"personas": items}))["results"]
            ]
        return ids

    def new_version(self, c: httpx.Client, item: str, n: int) -> None:
        ok(
            c.post(
                "/api/v5/artifacts/personas/update",
                json={"personas": [{"persona_id": item, "description": f"version {n}"}]},
            )
        )

    def read(self, c: httpx.Client, item: str) -> int:
        response = (
            c.get(f"/api/v5/resolve/personas/{item}")
            if self.resolve
            else c.post("/api/v5/artifacts/personas/get", json={"persona_id": item})
        )
        ok(response)
        return len(response.content)

    def get(self, c: httpx.Client, item: str) -> int:
        response = c.post("/api/v5/artifacts/personas/get", json={"persona_id": item})
        ok(response)
        return len(response.content)

    def list_page(self, c: httpx.Client) -> int:
        response = c.post("/api/v5/artifacts/personas/search", json={"page_size": 50})
        ok(response)
        return len(response.content)


# --- the driver: the same for both ---------------------------------------------------------------------------


@dataclass
class Figure:
    median_ms: float | None = None
    per_s: float | None = None
    size: int | None = None


@dataclass
class Run:
    target: str
    size: int
    figures: dict[str, Figure] = field(default_factory=dict)
    read_label: str = ""


def timed(calls: int, call: Callable[[int], Any]) -> tuple[float, Any]:
    latencies, last = [], None
    for i in range(calls):
        began = time.perf_counter()
        last = call(i)
        latencies.append(time.perf_counter() - began)
    return statistics.median(latencies) * 1000, last


def throughput(target: Target, items: list[str], read: Callable[[httpx.Client, str], int], seconds: float) -> float:
    done = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=target.base, headers=target.headers(), timeout=60) as c:
            count = 0
            while time.perf_counter() < stop_at:
                read(c, rng.choice(items))
                count += 1
        with lock:
            done[0] += count

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.perf_counter() - started)


def populate(target: Target, items: list[str], size: int) -> None:
    """Grow the store to `size` items, POPULATE_THREADS clients at once."""
    missing = size - len(items)
    if missing <= 0:
        return
    share = -(-missing // POPULATE_THREADS)
    made: list[list[str]] = [[] for _ in range(POPULATE_THREADS)]

    def worker(n: int) -> None:
        with httpx.Client(base_url=target.base, headers=target.headers(), timeout=300) as c:
            made[n] = target.create_many(c, len(items) + n * share, max(0, min(share, missing - n * share)))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(POPULATE_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for part in made:
        items.extend(part)


def measure(
    target: Target, sizes: list[int], seconds: float, extra: Callable[[Run, list[str]], None] | None
) -> list[Run]:
    runs, items = [], []
    try:
        target.start()  # inside: a server that never answers is stopped too
        for size in sizes:
            started = time.perf_counter()
            populate(target, items, size)
            if isinstance(target, Loomwork):
                analyze(target.url)  # as a server with autovacuum would have by now (see run.analyze)
            print(f"[{target.name}] {size:,} items ready ({time.perf_counter() - started:.0f} s)", flush=True)
            run = Run(target.name, size)
            rng = random.Random(size)
            with httpx.Client(base_url=target.base, headers=target.headers(), timeout=60) as c:
                run.figures["create one item"] = Figure(
                    timed(SINGLE_CALLS, lambda i: items.append(target.create(c, 10_000_000 + size + i)))[0]
                )
                run.figures["new version"] = Figure(
                    timed(SINGLE_CALLS, lambda i: target.new_version(c, rng.choice(items), i))[0]
                )
                median, size_b = timed(SINGLE_CALLS * 2, lambda i: target.read(c, rng.choice(items)))
                run.figures["read one by id"] = Figure(median, size=size_b)
                run.read_label = target.read_label
                run.figures["read one by id, 8 clients"] = Figure(per_s=throughput(target, items, target.read, seconds))
                median, size_b = timed(SINGLE_CALLS, lambda i: target.list_page(c))
                run.figures["list a page of 50"] = Figure(median, size=size_b)
            if extra:
                extra(run, items)
            runs.append(run)
            for name, figure in run.figures.items():
                print(f"[{target.name}] {size:,} {name}: {describe(figure)}", flush=True)
    finally:
        target.stop()
    return runs


def describe(figure: Figure | None) -> str:
    if figure is None:
        return "-"
    parts = []
    if figure.median_ms is not None:
        parts.append(f"{figure.median_ms:.1f} ms")
    if figure.per_s is not None:
        parts.append(f"{figure.per_s:,.0f}/s")
    if figure.size is not None:
        parts.append(f"{figure.size / 1024:.1f} KB" if figure.size >= 1024 else f"{figure.size} B")
    return ", ".join(parts)


def ratio(mine: Figure | None, theirs: Figure | None) -> str:
    """Loomwork ÷ Phoenix: below 1 is Loomwork ahead (for throughput, the inverse: Phoenix ÷ Loomwork)."""
    if not mine or not theirs:
        return "-"
    if mine.per_s and theirs.per_s:
        value = theirs.per_s / mine.per_s
    elif mine.median_ms and theirs.median_ms:
        value = mine.median_ms / theirs.median_ms
    else:
        return "-"
    return f"{value:.2f}" + (", ahead" if value < 1 else "")


def loomwork_extra(target: Loomwork, seconds: float, workers_also: int | None) -> Callable[[Run, list[str]], None]:
    """Beside the read: `get` as what it is (an editor's view), and read throughput with another worker count."""

    def extra(run: Run, items: list[str]) -> None:
        rng = random.Random(1)
        if target.resolve:
            with httpx.Client(base_url=target.base, headers=target.headers(), timeout=60) as c:
                median, size_b = timed(SINGLE_CALLS, lambda i: target.get(c, rng.choice(items)))
            run.figures["`get` (editor's view, not a read of one version)"] = Figure(median, size=size_b)
        if workers_also:
            target.restart(workers_also)
            run.figures[f"read one by id, 8 clients, --workers {workers_also}"] = Figure(
                per_s=throughput(target, items, target.read, seconds)
            )
            target.restart(target.workers)

    return extra


def postgres_ready() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS loomwork_peers")
            conn.execute("CREATE DATABASE loomwork_peers")
        return True
    except Exception as exc:  # noqa: BLE001 - any failure: no PostgreSQL to measure
        print(f"PostgreSQL does not answer at 127.0.0.1:5432 ({exc}); measuring SQLite only.")
        return False


def load_now() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def write(runs: list[Run], args: argparse.Namespace, loads: list[str], path: Path) -> None:
    by = {(r.target, r.size): r for r in runs}
    targets = list(dict.fromkeys(r.target for r in runs))
    loomworks = [t for t in targets if t.startswith("Loomwork")]
    lines = [
        "# Loomwork beside Arize Phoenix",
        "",
        f"Written by `make bench-peers` (`python bench/peers.py {' '.join(sys.argv[1:])}`) on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"Phoenix {phoenix_version()} (`phoenix serve`, SQLite, one process) and `loomwork serve --workers "
        f"{args.workers}`, one after the other, each driven by the same client code from this process "
        f"(httpx, keep-alive). Medians of {SINGLE_CALLS} calls from one client (reads: {SINGLE_CALLS * 2}); "
        f"throughput: {CLIENTS} clients for {args.seconds:g} s. Items are Phoenix prompts and Loomwork "
        "personas, created through each one's API. Load while measuring: " + "; ".join(loads) + ".",
        "",
        "Ratio: Loomwork ÷ Phoenix for latency, Phoenix ÷ Loomwork for throughput: below 1, Loomwork is ahead.",
        "",
    ]
    for size in args.sizes:
        lines += [
            f"## {size:,} items",
            "",
            "| work | " + " | ".join(targets) + " | " + " | ".join(f"{t} ÷ Phoenix" for t in loomworks) + " |",
            "|---|" + "---|" * (len(targets) + len(loomworks)),
        ]
        names = list(dict.fromkeys(n for t in targets if (t, size) in by for n in by[(t, size)].figures))
        for name in names:
            cells = [describe(by[(t, size)].figures.get(name)) if (t, size) in by else "-" for t in targets]
            phoenix = by.get(("Phoenix", size))
            ratios = [
                ratio(
                    by[(t, size)].figures.get(name) if (t, size) in by else None,
                    phoenix.figures.get(name) if phoenix else None,
                )
                for t in loomworks
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
        labels = {t: by[(t, size)].read_label for t in loomworks if (t, size) in by}
        lines += [""] + [f"{t}: the read is {label}." for t, label in labels.items()] + [""]
    lines += SEVERAL_HOSTS
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


SEVERAL_HOSTS = [
    "## Several hosts against one PostgreSQL",
    "",
    "- The counts lists and pickers read (db/tallies.py) hold no process state: a write appends its net change as "
    "delta rows in its own transaction, a read sums totals and deltas, and a fold takes deltas with DELETE ... "
    "RETURNING, so folders on different hosts never count a delta twice and writers never wait on a shared counter "
    "row. Their cost is the same on one host or ten: one INSERT per write, a fold one write in 32.",
    "- Export reads in a REPEATABLE READ snapshot and writes only its upload row, so it holds no lock any host's "
    "writers wait on. The in-process write lock exists for SQLite only; on PostgreSQL writers meet only row locks "
    "and the advisory locks of `serialize_on`, which work across hosts as they are.",
    "- Resolve's per-process cache already works across hosts: each resolve reads the one-row change clock first "
    "(one primary-key read, a round trip on a network), and each change moves it just after its commit, before it "
    "is answered, so no host serves a version older than a change already answered. Each write transaction also "
    "sends one NOTIFY (a bulk create of 1,000 is still one), and every worker keeps one listening connection that "
    "empties its cache. What it costs with many hosts: the clock's row is one hot row that every change ticks in "
    "a short transaction of its own (thousands a second are fine; far more would want a clock per group), and "
    "one listening connection per worker.",
    "- What else would change: uploads live in the database already (any host can serve a download); sessions and "
    "keys are rows; nothing is kept on local disk but the export's temporary file, which lives only for its request.",
    "",
]


def phoenix_version() -> str:
    try:
        done = subprocess.run(
            [str(PHOENIX.with_name("python")), "-c", "import phoenix; print(phoenix.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout.strip() or "(version unknown)"
    except Exception:  # noqa: BLE001
        return "(not installed)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 20000])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each throughput run lasts")
    parser.add_argument("--workers", type=int, default=1, help="Loomwork's worker processes (Phoenix runs one)")
    parser.add_argument("--postgres", action="store_true", help="also Loomwork on PostgreSQL, with --workers 1 and 2")
    parser.add_argument("--only", choices=["phoenix", "loomwork"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "PEERS.md")
    args = parser.parse_args()
    runs, loads = [], []
    if args.only != "loomwork":
        loads.append(f"Phoenix: {load_now()}")
        runs += measure(Phoenix(), args.sizes, args.seconds, None)
    if args.only != "phoenix":
        data_dir = Path(tempfile.mkdtemp(prefix="loomwork-peers-db-"))
        sqlite = Loomwork(f"sqlite:///{data_dir / 'peers.sqlite3'}", "SQLite", args.workers)
        loads.append(f"Loomwork: {load_now()}")
        runs += measure(
            sqlite, args.sizes, args.seconds, loomwork_extra(sqlite, args.seconds, 2 if args.workers == 1 else None)
        )
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.postgres and postgres_ready():
            pg = Loomwork(POSTGRES_PEERS, "PostgreSQL", args.workers)
            loads.append(f"Loomwork on PostgreSQL: {load_now()}")
            runs += measure(
                pg, args.sizes, args.seconds, loomwork_extra(pg, args.seconds, 2 if args.workers == 1 else None)
            )
    write(runs, args, loads, args.out)


if __name__ == "__main__":
    main()
