"""The metrics server `serve --metrics-port` starts: one place (the supervisor, or the only process).

With several workers each writes its figures into PROMETHEUS_MULTIPROC_DIR and this server sums the files
when scraped. Waiting proposals are counted in the database at scrape time, here, and not per worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select

from loomwork.db.database import Database

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger("loomwork.metrics")
# Not in ops.metrics: importing that module here would give the supervisor figure files of its own.
WAITING_PROPOSALS_NAME = "loomwork_waiting_proposals"


class WaitingProposals:
    """A gauge read from the database when scraped: dormant proposals on open drafts, by kind."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._db: Database | None = None

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            WAITING_PROPOSALS_NAME, "Agents' proposals waiting for a person's decision.", labels=["kind"]
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()  # so registering does not query the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from loomwork.engine.models import Draft, DraftEntry, DraftStatus, EntryState
        from loomwork.kinds import ARTIFACT_KINDS

        try:
            if self._db is None:
                self._db = Database(self._database_url)
            with self._db.transaction(write=False) as session:
                counts = dict(
                    session.execute(
                        select(Draft.kind, func.count())
                        .join(DraftEntry, DraftEntry.draft_id == Draft.id)
                        .where(DraftEntry.state == EntryState.DORMANT, Draft.status == DraftStatus.OPEN)
                        .group_by(Draft.kind)
                    ).all()
                )
        except Exception:
            log.warning("Could not count waiting proposals for the metrics.", exc_info=True)
            return
        family = self._family()
        for kind in ARTIFACT_KINDS:
            family.add_metric([kind.name], counts.get(kind.name, 0))
        yield family


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LiveWorkersCollector(multiprocess.MultiProcessCollector):
    """Sums the workers' files, first dropping the live gauges of workers that died without saying so
    (uvicorn replaces a dead worker; its in-progress figures must not linger)."""

    def __init__(self, registry: CollectorRegistry, path: str) -> None:
        # untyped_calls_exclude does not reach calls through super(); MultiProcessCollector is unannotated.
        super().__init__(registry, path=path)  # type: ignore[no-untyped-call]
        self._dir = path

    def collect(self) -> Iterable[Metric]:
        for file in Path(self._dir).glob("gauge_live*_*.db"):
            pid = file.stem.rsplit("_", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                multiprocess.mark_process_dead(int(pid), self._dir)
        merged: Iterable[Metric] = super().collect()  # type: ignore[no-untyped-call]  # as in __init__
        return merged


def start_metrics_server(host: str, port: int, database_url: str, multiprocess_dir: str | None) -> WSGIServer:
    """Serve /metrics on host:port in a daemon thread; returns the server (its `shutdown()` stops it)."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        LiveWorkersCollector(registry, multiprocess_dir)
    else:
        registry = REGISTRY  # this process serves the app itself: its own figures, plus process stats
    registry.register(WaitingProposals(database_url))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
