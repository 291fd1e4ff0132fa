"""Export reads in one snapshot outside the write lock and streams: writers carry on meanwhile, the file is
one moment's data, and cutting it into small chunks with a tiny cell cache changes not a byte."""

from __future__ import annotations

import threading
import time

import httpx

from conftest import make_key
from loomwork.engine import transfer

KIND = "personas"
EXPORT = f"/api/v5/artifacts/{KIND}/export"


def _download(client, upload_id: str, headers: dict[str, str] | None = None) -> str:
    response = client.get(f"/api/v5/uploads/{upload_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.content.decode("utf-8")


def _create(client, name: str) -> httpx.Response:
    return client.post(f"/api/v5/artifacts/{KIND}/create", json={KIND: [{"name": name, "departments": ["Ops"]}]})


def test_writers_carry_on_while_an_export_runs_and_the_file_is_one_moment(live_server, db, monkeypatch):
    mine = {"X-Api-Key": make_key(db, "acme", "exporter", "editor")}
    theirs = {"X-Api-Key": make_key(db, "other", "writer", "editor")}
    with httpx.Client(base_url=live_server.url, headers=mine, timeout=60) as client:
        for i in range(3):
            assert _create(client, f"Before {i}").status_code == 200

    inside, release = threading.Event(), threading.Event()
    real = transfer.export_chunks

    def held(*args, **kwargs):
        for n, row in enumerate(real(*args, **kwargs)):
            if n == 1:  # the snapshot is taken and the first row read: hold the export here
                inside.set()
                assert release.wait(30)
            yield row

    monkeypatch.setattr(transfer, "export_chunks", held)
    answer: dict[str, httpx.Response] = {}

    def export() -> None:
        with httpx.Client(base_url=live_server.url, headers=mine, timeout=60) as client:
            answer["export"] = client.post(EXPORT, json={})

    exporter = threading.Thread(target=export)
    exporter.start()
    try:
        assert inside.wait(20), "the export never started"
        # While the export is in progress: a create in another group, and one in the exporter's own group.
        with httpx.Client(base_url=live_server.url, headers=theirs, timeout=10) as other:
            started = time.monotonic()
            assert _create(other, "Elsewhere").status_code == 200
            other_took = time.monotonic() - started
        with httpx.Client(base_url=live_server.url, headers=mine, timeout=10) as client:
            assert _create(client, "During").status_code == 200
    finally:
        release.set()
        exporter.join(60)
    assert other_took < 5, f"a create in another group waited {other_took:.1f} s for the export"
    response = answer["export"]
    assert response.status_code == 200, response.text
    assert response.json()["row_count"] == 3  # the snapshot: "During" committed after it began
    with httpx.Client(base_url=live_server.url, headers=mine, timeout=60) as client:
        text = _download(client, response.json()["upload_id"])
        assert "Before 0" in text and "During" not in text and "Elsewhere" not in text
        assert client.post(EXPORT, json={}).json()["row_count"] == 4  # the next export sees it


def test_chunks_and_a_tiny_cell_cache_change_no_byte(api, monkeypatch):
    for i in range(7):
        api.create(
            KIND,
            name=f"Persona {i}",
            departments=["Ops", f"Team {i % 3}"],
            voices=["Alto"],
            description=f"Number {i}",
            color="#112233",
        )
    whole = _download(api.client, api.ok(KIND, "export", {})["upload_id"], api.headers)
    monkeypatch.setattr(transfer, "CHUNK", 2)
    monkeypatch.setattr(transfer, "CELL_CACHE_SIZE", 3)  # the cache starts over on nearly every chunk
    monkeypatch.setattr(transfer, "CSV_FLUSH_CHARS", 10)
    chunked = _download(api.client, api.ok(KIND, "export", {})["upload_id"], api.headers)
    assert chunked == whole
    assert whole.count("\r\n") == 8 and "Persona 6" in whole
