"""`loomwork serve` as operators run it, in a process of its own, its stderr (the log) kept in a file."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from conftest import TEST_SECRET

# The machine may be busy (a worker imports the whole app): generous, and the loops end on their own.
START_SECONDS = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def loomwork(*args: str) -> list[str]:
    return [sys.executable, "-m", "loomwork.cli", *args]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOMWORK_", "OTEL_", "PROMETHEUS_"))}
    return {**env, "LOOMWORK_SECRET_KEY": TEST_SECRET.decode(), "LOOMWORK_DATA_DIR": str(data_dir), **extra}


@dataclass
class Served:
    url: str
    process: subprocess.Popen
    log: Path  # stderr
    out: Path  # stdout
    metrics_url: str | None

    def log_text(self) -> str:
        return self.log.read_text()

    def stop(self, timeout: float = 90) -> int:
        """SIGTERM, then wait; returns the exit code, 0 when the shutdown was graceful.

        (After a graceful shutdown uvicorn re-raises SIGTERM in a one-process server, so that a
        supervisor sees why it ended: that is -SIGTERM here, not a failure.)"""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        graceful = "Application shutdown complete" in self.log_text()
        return 0 if graceful and code in (0, -signal.SIGTERM) else (code or -1)


@contextmanager
def serving(
    database_url: str,
    data_dir: Path,
    *args: str,
    workers: int = 1,
    metrics: bool = False,
    env: dict[str, str] | None = None,
    label: str = "serve",
) -> Iterator[Served]:
    """Start `loomwork serve` and wait until every worker has started and /healthz answers."""
    port = free_port()
    metrics_port = free_port() if metrics else None
    command = loomwork(
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--workers",
        str(workers),
        "--log-format",
        "json",
        *args,
    )
    if metrics_port:
        command += ["--metrics-port", str(metrics_port)]
    log, out = data_dir.parent / f"{label}.err", data_dir.parent / f"{label}.out"
    with log.open("w") as stderr, out.open("w") as stdout:
        process = subprocess.Popen(
            command, env=cli_env(data_dir, **(env or {})), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
    served = Served(
        f"http://127.0.0.1:{port}",
        process,
        log,
        out,
        f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else None,
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while log.read_text().count("Application startup complete") < workers:
            assert process.poll() is None, f"serve exited with {process.returncode}: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"serve did not start: {log.read_text()[-3000:]}"
            time.sleep(0.2)
        assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def worker_pids(parent: int) -> list[int]:
    """The serve process's spawned workers (uvicorn's), from /proc."""
    workers = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) if entry.name.isdigit() else None
            spawned = b"spawn_main" in (entry / "cmdline").read_bytes() if ppid == parent else False
        except OSError:
            continue
        if spawned:
            workers.append(int(entry.name))
    return workers


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value in a Prometheus text exposition (None when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def scrape(served: Served) -> str:
    assert served.metrics_url
    response = httpx.get(served.metrics_url, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
