"""Graceful shutdown (API.md section 12): SIGTERM during writes stops accepting, lets the requests in
flight finish and be answered, then exits; every acknowledged write is in the database.

`serve --workers 2`: the supervisor passes SIGTERM to each worker, which drains before it exits.
"""

from __future__ import annotations

import signal
import time

from ops_server import serving
from sqlalchemy import select
from writers import Writers

from conftest import make_key
from loomwork.engine.models import Artifact

SETTLED = 0.5  # a request sent this long before the signal has surely reached its worker


def test_sigterm_during_writes_finishes_requests_in_flight_and_loses_no_acknowledged_write(
    db, database_url, dialect, tmp_path
):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    with (
        serving(database_url, tmp_path / "data", "--graceful-timeout", "60", workers=2) as served,
        Writers(served.url, headers, count=4, items=40) as writers,
    ):
        writers.wait_for(200)
        deadline = time.monotonic() + 60
        while True:  # signal while a request has been in flight a while, so it must be finished
            oldest = writers.oldest_in_flight()
            if oldest is not None and time.monotonic() - oldest >= SETTLED:
                break
            assert time.monotonic() < deadline, "no request stayed in flight long enough"
            time.sleep(0.01)
        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(timeout=120)
        writers.stop.set()
    assert code == 0, served.log_text()[-3000:]
    log = served.log_text()
    assert log.count("Application shutdown complete") == 2, log[-3000:]

    finished_in_flight = [a for a in writers.answers if a[0] < signalled < a[1]]
    assert finished_in_flight, "a request in flight at SIGTERM was answered"
    assert all(status == 200 for _, _, status in finished_in_flight), finished_in_flight
    assert not [sent for sent in writers.refused if sent < signalled - SETTLED], "a settled request got no answer"

    with db.transaction(write=False) as session:
        stored = {str(i) for i in session.scalars(select(Artifact.id))}
    missing = set(writers.acked) - stored
    assert not missing, f"{len(missing)} acknowledged personas are gone"
