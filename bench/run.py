"""`make bench`: the performance budget of issue 8, measured against its floors, into bench/RESULTS.md.

For each database (SQLite; PostgreSQL when one answers at 127.0.0.1:5432) this script
seeds the demo data set with `loomwork seed-demo --bulk` (a no-op when it is there), starts
`loomwork serve` for the purpose, and drives it from this process with 8 concurrent
clients (threads with their own keep-alive connections): never from inside the server.

Each workload runs twice: with one client, whose median and p95 are the cost of one request,
then with 8 clients, whose requests per second are the server's throughput (and whose median
says how requests queue under that load). Peak memory is the proportional set size (PSS) of
the server's processes summed, sampled every 20 ms while the workload runs. Floors measured
in the same run, with one client: `GET /healthz` (HTTP plus the framework), and the SQL each
operation runs, captured once and replayed straight on the database (storage).

    .venv/bin/python bench/run.py [--personas 100000] [--seconds 6] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
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

from queries import search_query
from sqlfloor import sql_floor

ROOT = Path(__file__).resolve().parent.parent
LOOMWORK = str(Path(sys.executable).with_name("loomwork"))
CLIENTS = 8
SECRET = "bench-server-secret-of-at-least-32-bytes"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH = "postgresql://postgres@127.0.0.1:5432/loomwork_bench"

# The budget of issue 19 (SQLite, --workers 2): medians with one client, throughput with 8 clients;
# PostgreSQL may take 1.5 times each figure.
BUDGET = {
    "get": ("median_ms", 10),
    "draft patch": ("median_ms", 5),
    "search": ("median_ms", 25),
    "search: first page, no filter": ("median_ms", 25),
    "bulk create": ("items_per_s", 3000),
    "export": ("median_ms", 10_000),
    "proposal + ack": None,
}
EXPORT_MEMORY_MIB = 300
MIN_PER_S = {"get": 300, "draft patch": 300}  # 8 clients
# bench/resolve.py and bench/revision_cost.py write their own sections of RESULTS.md between these markers
# (`write_section`); this script keeps them.
RESOLVE_START, RESOLVE_END = "<!-- resolve:start -->", "<!-- resolve:end -->"
REVISION_COST_START, REVISION_COST_END = "<!-- revision-cost:start -->", "<!-- revision-cost:end -->"
EXPORT_CREATE_SLOWDOWN_MS = 50


@dataclass
class Result:
    name: str
    latencies: list[float]  # seconds
    seconds: float
    items: int  # work items done (requests, or personas for bulk create)
    peak_rss_mib: float
    floors: dict[str, float] = field(default_factory=dict)  # name -> median ms
    loaded: Result | None = None  # the same workload with CLIENTS clients: throughput comes from it

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000

    @property
    def per_s(self) -> float:
        if self.loaded:
            return self.loaded.per_s
        return len(self.latencies) / self.seconds

    @property
    def items_per_s(self) -> float:
        if self.loaded:
            return self.loaded.items_per_s
        return self.items / self.seconds

    @property
    def loaded_median_ms(self) -> float:
        return self.loaded.median_ms if self.loaded else float("nan")

    @property
    def peak_memory_mib(self) -> float:
        return max(self.peak_rss_mib, self.loaded.peak_rss_mib if self.loaded else 0.0)


# --- the server under test ---------------------------------------------------------------------------------


class Server:
    def __init__(self, url: str, data_dir: Path, executable: str = LOOMWORK) -> None:
        """`executable`: the `loomwork` to run, this checkout's by default (ab_get.py runs another's too)."""
        self.url, self.data_dir, self.executable = url, data_dir, executable
        self.env = {**os.environ, "LOOMWORK_SECRET_KEY": SECRET, "LOOMWORK_DATA_DIR": str(data_dir)}
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def loomwork(self, *args: str) -> str:
        done = subprocess.run(
            [self.executable, *args, "--database-url", self.url],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def start(self, workers: int) -> None:
        self.process = subprocess.Popen(
            [self.executable, "serve", "--port", str(self.port), "--database-url", self.url, "--workers", str(workers)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server did not become ready within 60 s")

    def pids(self) -> list[int]:
        """The server and its worker processes (uvicorn's supervisor starts one per worker)."""
        pids, index = [self.process.pid], 0
        while index < len(pids):
            for task in Path(f"/proc/{pids[index]}/task").glob("*/children"):
                pids += [int(p) for p in task.read_text().split()]
            index += 1
        return pids

    def memory_mib(self) -> float:
        """The server's memory now: the PSS of its processes summed, so pages they share count once."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def reset_peak(self) -> None:
        """Start sampling the server's memory every 20 ms until `peak_rss_mib` is asked."""
        self._peak, self._sampling = self.memory_mib(), threading.Event()

        def sample() -> None:
            while not self._sampling.wait(0.02):
                self._peak = max(self._peak, self.memory_mib())

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()

    def peak_rss_mib(self) -> float:
        self._sampling.set()
        self._sampler.join()
        return max(self._peak, self.memory_mib())

    def stop(self) -> None:
        if self.process:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- load ----------------------------------------------------------------------------------------------------


def run_load(
    name: str,
    server: Server,
    headers: dict[str, str],
    prepare: Callable[[httpx.Client, int], Any],
    call: Callable[[httpx.Client, Any, int], int],
    seconds: float,
    clients: int = CLIENTS,
    max_calls: int | None = None,
) -> Result:
    """`clients` threads call `call` until `seconds` pass (or `max_calls` each); `call` returns the items done."""
    latencies: list[float] = []
    items = [0]
    lock = threading.Lock()
    sessions = [httpx.Client(base_url=server.base, headers=headers, timeout=120) for _ in range(clients)]
    states = [prepare(session, n) for n, session in enumerate(sessions)]
    server.reset_peak()
    stop_at = time.perf_counter() + seconds
    start = time.perf_counter()

    def worker(n: int) -> None:
        calls = 0
        # A workload with `max_calls` runs exactly that many calls per client; the others run for `seconds`.
        while calls < max_calls if max_calls is not None else time.perf_counter() < stop_at:
            began = time.perf_counter()
            done = call(sessions[n], states[n], calls)
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                items[0] += done
            calls += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - start
    for session in sessions:
        session.close()
    return Result(name, latencies, took, items[0], server.peak_rss_mib())


def run_both(
    name: str,
    server: Server,
    headers: dict[str, str],
    prepare: Callable[[httpx.Client, int], Any],
    call: Callable[[httpx.Client, Any, int], int],
    seconds: float,
    max_calls: tuple[int, int] | None = None,
) -> Result:
    """One client for the cost of one request (median, p95), then CLIENTS for the server's throughput.

    `max_calls` (one client's, each of the loaded clients') replaces the time limit for slow workloads."""
    single = run_load(name, server, headers, prepare, call, seconds / 2, 1, max_calls[0] if max_calls else None)
    single.loaded = run_load(
        name, server, headers, prepare, call, seconds, CLIENTS, max_calls[1] if max_calls else None
    )
    return single


def ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}"
        )
    return response.json()


def workloads(server: Server, headers: dict[str, str], other_headers: dict[str, str], seconds: float) -> list[Result]:
    api = "/api/v5/artifacts/personas"
    with httpx.Client(base_url=server.base, headers=headers, timeout=120) as c:
        page = ok(c.post(f"{api}/search", json={"page_size": 200}))["personas"]
        ids = [p["persona_id"] for p in page]
        search_body = search_query(lambda path, body: ok(c.post(path, json=body)))
    results = []

    results.append(
        run_both(
            "bare endpoint (floor)",
            server,
            headers,
            lambda c, n: None,
            lambda c, s, i: ok(c.get("/healthz")) and 1,
            seconds,
        )
    )
    results.append(
        run_both(
            "get",
            server,
            headers,
            lambda c, n: ids[n::CLIENTS],
            lambda c, mine, i: ok(c.post(f"{api}/get", json={"persona_id": mine[i % len(mine)]})) and 1,
            seconds,
        )
    )

    def new_draft(c: httpx.Client, n: int) -> str:
        return ok(c.patch(f"{api}/draft", json={"persona_id": ids[n]}))["draft_id"]

    results.append(
        run_both(
            "draft patch",
            server,
            headers,
            new_draft,
            lambda c, draft, i: (
                ok(c.patch(f"{api}/draft", json={"draft_id": draft, "description": f"Bench description {i % 50}"}))
                and 1
            ),
            seconds,
        )
    )
    results.append(
        run_both(
            "search",
            server,
            headers,
            lambda c, n: None,
            lambda c, s, i: ok(c.post(f"{api}/search", json=search_body)) and 1,
            seconds,
        )
    )
    # The list every person opens first, and the other lists the pages open (issue 19).
    results.append(
        run_both(
            "search: first page, no filter",
            server,
            headers,
            lambda c, n: None,
            lambda c, s, i: ok(c.post(f"{api}/search", json={"page_size": 50})) and 1,
            seconds,
        )
    )
    results.append(
        run_both(
            "resource catalog (200)",
            server,
            headers,
            lambda c, n: None,
            lambda c, s, i: ok(c.post("/api/v5/resources/departments/search", json={"page_size": 200})) and 1,
            seconds,
        )
    )
    results.append(
        run_both(
            "drafts list",
            server,
            headers,
            lambda c, n: None,
            lambda c, s, i: ok(c.post(f"{api}/drafts", json={"page_size": 200})) and 1,
            seconds,
        )
    )

    def propose_and_ack(c: httpx.Client, draft: str, i: int) -> int:
        proposal = ok(c.patch(f"{api}/draft", json={"draft_id": draft, "soft": True, "description": f"Proposed {i}"}))
        ok(
            c.patch(
                f"{api}/draft", json={"draft_id": draft, "idempotency_key": proposal["idempotency_key"], "accept": True}
            )
        )
        return 1

    results.append(run_both("proposal + ack", server, headers, new_draft, propose_and_ack, seconds))

    created: list[str] = []

    def create_thousand(c: httpx.Client, n: int, i: int) -> int:
        items = [
            {"name": f"Bench {n}-{i}-{k}-{time.time_ns()}", "departments": ["Bench"], "voices": ["Alto"]}
            for k in range(1000)
        ]
        made = [
            r["persona_id"] for r in ok(c.post(f"{api}/create", json={"personas": items}))["results"] if r["success"]
        ]
        created.extend(made)
        return len(made)

    results.append(run_both("bulk create", server, headers, lambda c, n: n, create_thousand, seconds, max_calls=(3, 1)))
    delete_all(server, headers, created)  # the next run measures the same data set
    export = run_load(
        "export",
        server,
        headers,
        lambda c, n: None,
        lambda c, s, i: ok(c.post(f"{api}/export", json={})) and 1,
        0.0,
        clients=1,
        max_calls=1,
    )
    # Another group's writer while an export runs (issue 19: slowed by under 50 ms).
    alone = creates_in_other_group(server, other_headers, 10)
    during: list[float] = []
    exporting = threading.Thread(
        target=lambda: export.latencies.extend(
            run_load(
                "export",
                server,
                headers,
                lambda c, n: None,
                lambda c, s, i: ok(c.post(f"{api}/export", json={})) and 1,
                0.0,
                clients=1,
                max_calls=1,
            ).latencies
        )
    )
    exporting.start()
    time.sleep(0.2)
    while exporting.is_alive():
        during += creates_in_other_group(server, other_headers, 1)
    exporting.join()
    export.floors["create alone ms"] = statistics.median(alone) * 1000
    export.floors["create during export ms"] = statistics.median(during) * 1000 if during else float("nan")
    export.floors["create during export max ms"] = max(during) * 1000 if during else float("nan")
    results.append(export)
    return results


def creates_in_other_group(server: Server, headers: dict[str, str], n: int) -> list[float]:
    latencies = []
    with httpx.Client(base_url=server.base, headers=headers, timeout=120) as c:
        for _ in range(n):
            began = time.perf_counter()
            ok(c.post("/api/v5/artifacts/personas/create", json={"personas": [{"name": f"Other {time.time_ns()}"}]}))
            latencies.append(time.perf_counter() - began)
    return latencies


def delete_all(server: Server, headers: dict[str, str], ids: list[str]) -> None:
    with httpx.Client(base_url=server.base, headers=headers, timeout=300) as c:
        for start in range(0, len(ids), 1000):
            ok(c.post("/api/v5/artifacts/personas/delete", json={"persona_ids": ids[start : start + 1000]}))


# --- one database --------------------------------------------------------------------------------------------


def measure(dialect: str, url: str, args: argparse.Namespace, data_dir: Path) -> list[Result]:
    server = Server(url, data_dir)
    seed(server, args.personas, args.others)
    key = (
        server.loomwork("keys", "create", "--group", "default", "--name", "bench", "--role", "admin")
        .strip()
        .splitlines()[-1]
    )
    headers = {"X-Api-Key": key}
    other = (
        server.loomwork("keys", "create", "--group", "bench-other", "--name", "bench", "--role", "admin")
        .strip()
        .splitlines()[-1]
    )
    server.start(args.workers)
    try:
        results = workloads(server, headers, {"X-Api-Key": other}, args.seconds)
    finally:
        server.stop()
    floors = sql_floor(url, SECRET, key, 1, args.seconds / 2)  # one client, as the medians it is set beside
    http_floor = results[0].median_ms
    for result in results[1:]:
        result.floors.update({"http": http_floor, "sql": floors.get(result.name, float("nan"))})
    for result in results:
        print(
            f"[{dialect}] {result.name}: one client median {result.median_ms:.1f} ms, p95 {result.p95_ms:.1f} ms; "
            f"{CLIENTS} clients median {result.loaded_median_ms:.1f} ms, {result.per_s:.0f} req/s, "
            f"{result.items_per_s:.0f} items/s; peak memory {result.peak_memory_mib:.0f} MiB",
            flush=True,
        )
    return results


def postgres_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'loomwork_bench'").fetchone():
                conn.execute("CREATE DATABASE loomwork_bench")
        return True
    except Exception as exc:  # noqa: BLE001 - any failure: no PostgreSQL to measure
        print(f"PostgreSQL does not answer at 127.0.0.1:5432 ({exc}); measuring SQLite only.")
        return False


def bench_data_dir() -> Path:
    """Where the benchmarks keep their SQLite files: one data set per size, seeded once and shared."""
    data_dir = Path(tempfile.gettempdir()) / "loomwork-bench"
    data_dir.mkdir(exist_ok=True)
    return data_dir


def seed(server: Server, personas: int, others: int) -> None:
    """`loomwork seed-demo --bulk` (a no-op for the rows already there): every benchmark measures this data set."""
    started = time.perf_counter()
    counts = {"--personas": personas, "--tools": others, "--evals": others, "--invocations": others}
    server.loomwork("seed-demo", "--bulk", *[part for flag, n in counts.items() for part in (flag, str(n))])
    forget_uploads(server.url)
    analyze(server.url)
    print(f"[{server.url}] seeded or checked in {time.perf_counter() - started:.0f} s", flush=True)


def forget_uploads(url: str) -> None:
    """The exports earlier runs left behind: each is 55 MB at 100,000 personas, and a few fill the group's
    upload quota (429) long before they expire."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM upload_chunks"))  # this engine does not turn SQLite's cascades on
        conn.execute(text("DELETE FROM uploads"))
    engine.dispose()


def analyze(url: str) -> None:
    """PostgreSQL's planner statistics, after a bulk load. A server with autovacuum on (the default) gathers
    them within a minute; the one on the CI machine runs without, and with no statistics the planner found
    a resource by hash through the wrong index (7 ms instead of 0.1)."""
    if not url.startswith("postgresql"):
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("ANALYZE")


def bench_targets(only: str | None, sqlite_name: str) -> tuple[Path, dict[str, str]]:
    """The data directory and the database URL per dialect to measure (`--only` narrows them)."""
    data_dir = bench_data_dir()
    targets = {}
    if only in (None, "sqlite"):
        targets["sqlite"] = f"sqlite:///{data_dir / f'{sqlite_name}.sqlite3'}"
    if only in (None, "postgresql") and postgres_answers():
        targets["postgresql"] = POSTGRES_BENCH
    return data_dir, targets


def verdict(name: str, result: Result, dialect: str, sqlite: Result | None) -> str:
    rule = BUDGET.get(name)
    if rule is None:
        return "-"
    metric, limit = rule
    value = getattr(result, metric)
    good = value >= limit if metric == "items_per_s" else value <= limit
    if name in MIN_PER_S:
        good = good and result.per_s >= MIN_PER_S[name]
    if dialect == "postgresql" and sqlite is not None:
        mine, theirs = getattr(result, metric), getattr(sqlite, metric)
        good = good and (mine >= theirs / 1.5 if metric == "items_per_s" else mine <= theirs * 1.5)
    if name == "export":
        slowed = result.floors.get("create during export ms", float("inf")) - result.floors.get("create alone ms", 0)
        good = good and result.peak_memory_mib < EXPORT_MEMORY_MIB and slowed < EXPORT_CREATE_SLOWDOWN_MS
    return "meets" if good else "**misses**"


def write_results(all_results: dict[str, list[Result]], args: argparse.Namespace, path: Path) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`{' '.join(['python', 'bench/run.py', *sys.argv[1:]])}`) on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. Data: {args.personas:,} personas and {args.others:,} each of "
        f"tools, evals and invocations (`loomwork seed-demo --bulk`). Server: `loomwork serve --workers {args.workers}`; "
        f"peak memory is the largest sum of its processes' PSS (shared pages counted once), sampled every 20 ms. Each "
        f"workload runs with one client, then with {CLIENTS} concurrent clients (threads of a separate process); "
        "export runs one request at a time.",
        "",
        "Floors: *http* is the one-client median of `GET /healthz` (HTTP plus the framework); *sql* the one-client "
        "median of the same SQL statements the operation runs, replayed straight on the database. The ratios say how "
        "far each operation's one-client median is above its floors.",
        "",
        f"| database | workload | median ms, 1 client | p95 ms, 1 client | median ms, {CLIENTS} clients | "
        f"req/s, {CLIENTS} clients | items/s, {CLIENTS} clients | peak memory MiB (PSS) | x http floor | x sql floor "
        "| budget |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    sqlite_by_name = {r.name: r for r in all_results.get("sqlite", [])}
    for dialect, results in all_results.items():
        for r in results:
            http, sql = r.floors.get("http"), r.floors.get("sql")
            cells = [
                dialect,
                r.name,
                f"{r.median_ms:.1f}",
                f"{r.p95_ms:.1f}",
                f"{r.loaded_median_ms:.1f}" if r.loaded else "-",
                f"{r.per_s:.0f}",
                f"{r.items_per_s:.0f}",
                f"{r.peak_memory_mib:.0f}",
                f"{r.median_ms / http:.1f}" if http else "-",
                f"{r.median_ms / sql:.1f}" if sql and sql == sql else "-",
                verdict(r.name, r, dialect, sqlite_by_name.get(r.name)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "A create in another group while an export runs (median, and the slowest), against the same create alone:",
        "",
    ]
    for dialect, results in all_results.items():
        for r in results:
            if "create alone ms" in r.floors:
                lines.append(
                    f"- {dialect}: alone {r.floors['create alone ms']:.1f} ms; during the export "
                    f"{r.floors['create during export ms']:.1f} ms (slowest "
                    f"{r.floors['create during export max ms']:.1f} ms)."
                )
    load = os.getloadavg()
    lines += [
        "",
        f"Load average when the run ended: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on {os.cpu_count()} "
        "cores (a shared machine gives noisy figures).",
        "",
        "Budget (issue 19; medians with one client, throughput with 8): search (text, filters, facets) and its "
        "first page with no filter under 25 ms; get under 10 ms and over 300/s; draft patch under 5 ms and over "
        "300 patches/s; bulk create over 3,000 personas/s; export "
        f"of every persona under 10 s with peak server memory under {EXPORT_MEMORY_MIB} MiB and a create in "
        f"another group slowed by under {EXPORT_CREATE_SLOWDOWN_MS} ms; PostgreSQL within 1.5 times the "
        "SQLite figure.",
        "",
    ]
    # The sections of bench/resolve.py and bench/revision_cost.py (issue 18) are measured apart: keep them.
    old = path.read_text() if path.exists() else ""
    starts = [old.index(marker) for marker in (RESOLVE_START, REVISION_COST_START) if marker in old]
    kept = old[min(starts) :] if starts else ""
    path.write_text("\n".join(lines) + ("\n" + kept if kept else ""))
    print(f"wrote {path}")


def write_section(path: Path, start: str, end: str, body: list[str]) -> None:
    """Put `body` between the markers `start` and `end` in `path`, in place of what was there (or at the end)."""
    old = path.read_text() if path.exists() else ""
    if start in old:
        old = old[: old.index(start)] + old[old.index(end) + len(end) :].lstrip("\n")
    path.write_text(old.rstrip("\n") + "\n\n" + "\n".join([start, *body, end, ""]))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=2_000, help="tools, evals and invocations each")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long each workload runs")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="server worker processes (default: one per core)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    data_dir, targets = bench_targets(args.only, f"bench-{args.personas}")
    all_results = {dialect: measure(dialect, url, args, data_dir) for dialect, url in targets.items()}
    write_results(all_results, args, args.out)
    shutil.rmtree(data_dir / "uploads", ignore_errors=True)


if __name__ == "__main__":
    main()
