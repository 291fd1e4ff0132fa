"""`loomwork serve` as operators run it, in a process of its own, its stderr (the log) kept in a file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from conftest import TEST_SECRET, free_port, serve_process


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
    """Start `loomwork serve` with JSON logs and wait until every worker has started and /healthz answers."""
    metrics_port = free_port() if metrics else None
    options = ["--database-url", database_url, "--workers", str(workers), "--log-format", "json", *args]
    if metrics_port:
        options += ["--metrics-port", str(metrics_port)]
    log, out = data_dir.parent / f"{label}.err", data_dir.parent / f"{label}.out"
    with (
        out.open("w") as stdout,
        serve_process(options, cli_env(data_dir, **(env or {})), stdout=stdout, log=log, workers=workers) as (
            url,
            process,
        ),
    ):
        yield Served(url, process, log, out, f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else None)


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
