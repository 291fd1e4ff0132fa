"""An import commits in batches, so it does not stall the other groups (issue 28, finding 8).

A real `loomwork serve` takes a 4,000-row import in one group while another group searches and creates.
On SQLite, one import held the only writer for its whole length (a 4,000-row import made another
group's create wait 14 s); now each batch of rows commits on its own and the writer is free between
batches. This test times requests, which the suite otherwise never does: the issue asks for it.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from conftest import TEST_SECRET, make_key, serve_process

IMPORT_ROWS = 4000
ANSWER_WITHIN_S = 1.0
SAMPLES_NEEDED = 3  # requests of each sort that started while the import ran


def import_csv(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["name", "description", "departments", "examples"])
    for i in range(rows):
        writer.writerow([f"Imported {i}", f"Row {i} of the big import", f"Dept {i % 40}; Team {i % 7}", f"Hi {i}"])
    return buffer.getvalue().encode("utf-8")


def test_another_group_searches_and_creates_within_a_second_during_a_4000_row_import(
    db, database_url: str, tmp_path: Path
) -> None:
    importer = {"X-Api-Key": make_key(db, "importer", "bulk", "editor")}
    other = {"X-Api-Key": make_key(db, "other", "busy", "editor")}
    env = {**os.environ, "LOOMWORK_SECRET_KEY": TEST_SECRET.decode(), "LOOMWORK_DATA_DIR": str(tmp_path / "data")}
    data = import_csv(IMPORT_ROWS)
    answer: dict[str, Any] = {}

    with serve_process(["--database-url", database_url], env, log=tmp_path / "serve.log") as (url, _process):

        def run_import() -> None:
            try:
                with httpx.Client(base_url=url, headers=importer, timeout=600) as http:
                    answer["response"] = http.post(
                        "/api/v5/artifacts/personas/import", files={"file": ("big.csv", data, "text/csv")}
                    )
            finally:  # a failed request is asserted below, as a missing answer
                answer["done"] = time.monotonic()

        samples: list[tuple[str, float, float]] = []  # (what, started, seconds)
        with httpx.Client(base_url=url, headers=other, timeout=600) as http:
            http.post("/api/v5/artifacts/personas/search", json={})  # warm: the first request builds caches
            importing = threading.Thread(target=run_import)
            importing.start()
            time.sleep(0.5)  # the upload is read; the import is under way
            n = 0
            while importing.is_alive():
                for what, path, body in [
                    ("search", "search", {"search": "other"}),
                    ("create", "create", {"personas": [{"name": f"Other {n}", "departments": ["Elsewhere"]}]}),
                ]:
                    started = time.monotonic()
                    response = http.post(f"/api/v5/artifacts/personas/{path}", json=body)
                    samples.append((what, started, time.monotonic() - started))
                    assert response.status_code == 200, response.text
                n += 1
                time.sleep(0.1)
            importing.join()

    response = answer.get("response")
    assert response is not None and response.status_code == 200, response and response.text
    result = response.json()
    assert (result["created"], result["failed"]) == (IMPORT_ROWS, 0), {k: result[k] for k in result if k != "results"}
    during = [(what, seconds) for what, started, seconds in samples if started < answer["done"]]
    timed = {what: [round(seconds, 3) for kind, seconds in during if kind == what] for what in ("search", "create")}
    slowest = max((seconds for seconds_of_kind in timed.values() for seconds in seconds_of_kind), default=0.0)
    assert slowest < ANSWER_WITHIN_S, f"another group's requests waited up to {slowest:.1f} s: {timed}"
    assert min(len(t) for t in timed.values()) >= SAMPLES_NEEDED, f"too few requests overlapped the import: {timed}"
