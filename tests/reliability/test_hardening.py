"""Issue 21: what a careful attacker found, each finding pinned by a test that failed before its fix.

Each test runs on SQLite and on PostgreSQL, through the HTTP API where the finding was seen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import func, select, update

from loomwork import uploads
from loomwork.app import create_app
from loomwork.config import Settings, load_settings
from loomwork.identity.models import ApiKey
from loomwork.keyring import Keyring, SecretTooShort
from loomwork.resources import secrets
from loomwork.resources.models import Resource

from conftest import TEST_SECRET, assert_error, serving

# --- 1. exports expire, are swept, and a group has a quota -----------------------------------------------------


def export(api) -> Any:  # noqa: ANN001, ANN401
    return api.op("personas", "export", {})


def upload_rows(db) -> int:  # noqa: ANN001
    with db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(uploads.Upload))


def test_an_expired_upload_answers_404_like_an_unknown_one_and_the_next_store_sweeps_it(api, db):
    api.create("personas", name="Ada")
    first = export(api).json()["upload_id"]
    assert api.client.get(f"/api/v5/uploads/{first}", headers=api.headers).status_code == 200
    with db.transaction(write=True) as session:  # a day later
        session.execute(update(uploads.Upload).values(expires_at=uploads.utcnow() - timedelta(seconds=1)))
    expired = api.client.get(f"/api/v5/uploads/{first}", headers=api.headers)
    unknown = api.client.get(f"/api/v5/uploads/{uuid.uuid4()}", headers=api.headers)
    assert_error(expired, 404, "not_found")
    assert expired.json()["field"] == unknown.json()["field"] == "upload_id"
    assert export(api).status_code == 200
    assert upload_rows(db) == 1  # the expired one is gone from the database, not only hidden


def test_the_upload_lifetime_is_a_setting_and_the_background_sweeper_deletes_expired_uploads(settings, db, make_api,
                                                                                             monkeypatch):
    monkeypatch.setenv("LOOMWORK_UPLOAD_TTL_SECONDS", "1")
    monkeypatch.setenv("LOOMWORK_UPLOAD_QUOTA_COUNT", "7")
    loaded = load_settings(settings.database_url)
    assert (loaded.upload_ttl_seconds, loaded.upload_quota_count) == (1, 7)
    api = make_api("editor")
    with serving(create_app(dataclasses.replace(settings, upload_ttl_seconds=1), db)) as url:
        made = httpx.post(f"{url}/api/v5/artifacts/personas/export", json={}, headers=api.headers)
        assert made.status_code == 200, made.text
        assert upload_rows(db) == 1
        deadline = time.monotonic() + 15
        while upload_rows(db) and time.monotonic() < deadline:  # no request at all meanwhile
            time.sleep(0.2)
        assert upload_rows(db) == 0
    monkeypatch.setattr(uploads, "limits", uploads.Limits())


def test_a_group_past_its_upload_quota_gets_429_quota_exceeded_and_other_groups_do_not(api, make_api, db,
                                                                                      monkeypatch):
    monkeypatch.setattr(uploads, "limits", uploads.Limits(quota_count=2))
    assert export(api).status_code == export(api).status_code == 200
    body = assert_error(export(api), 429, "quota_exceeded")
    assert "quota" in body["detail"] and body["quota_count"] == 2
    assert upload_rows(db) == 2  # nothing written by the refused one
    assert export(make_api("editor", "other-group")).status_code == 200
    monkeypatch.setattr(uploads, "limits", uploads.Limits(quota_bytes=10))
    assert_error(export(make_api("editor", "third-group")), 429, "quota_exceeded")


# --- 2. a large body is read only for a valid key, and the import allowance is for the import routes -----------


def send_chunked(app: Any, path: str, headers: dict[str, str], chunks: int, chunk: int = 1 << 20) -> tuple[int, int]:
    """Stream `chunks` MiB to the ASGI app; returns (status, bytes the app took from the stream)."""
    taken, status = 0, 0

    async def receive() -> dict[str, Any]:
        nonlocal taken
        taken += chunk
        return {"type": "http.request", "body": b"a" * chunk, "more_body": taken < chunks * chunk}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
             + [(b"content-type", b"multipart/form-data; boundary=x")],
             "http_version": "1.1", "scheme": "http", "server": ("test", 80), "client": ("test", 1)}
    anyio.run(app, scope, receive, send)
    return status, taken


def test_a_large_body_without_a_valid_key_is_refused_before_it_is_read(client, api):
    for headers in ({}, {"X-Api-Key": "lw_000000000000_wrong"}, {"Authorization": "Bearer nothing"},
                    {"Cookie": "lw_session=forged"}):
        status, taken = send_chunked(client.app, "/api/v5/artifacts/personas/import", headers, chunks=40)
        assert status == 401 and taken <= 2 << 20, (headers, status, taken)
    # A valid key reads on (the CSV is no valid multipart form, so the route answers 422, having read it all).
    status, taken = send_chunked(client.app, "/api/v5/artifacts/personas/import", api.headers, chunks=3)
    assert status == 422 and taken == 3 << 20


def test_the_import_allowance_applies_to_the_import_routes_only_not_to_any_path_ending_in_import(api):
    body = b"x" * (2 << 20)  # past the 1 MiB of every other route, well within the 64 MiB of an import
    for path in ("/api/v5/resources/names/import", "/api/v5/artifacts/personas/get/import", "/x/import"):
        assert_error(api.client.post(path, content=body, headers=api.headers), 413, "body_too_large")
    # 2 MiB through a real import route passes the size check: the file is read, and its unknown column named.
    csv_file = b"persona_id,name,padding\n" + (b",Ada," + b"p" * 100_000 + b"\n") * 21
    imported = api.client.post("/api/v5/artifacts/personas/import", headers=api.headers,
                               files={"file": ("p.csv", csv_file, "text/csv")})
    assert_error(imported, 422, "invalid")
    assert "padding" in imported.json()["detail"]


# --- 3. an import row's id tells nothing about other groups ---------------------------------------------------


def import_one(api, persona_id: str) -> dict[str, Any]:  # noqa: ANN001
    response = api.client.post("/api/v5/artifacts/personas/import", headers=api.headers,
                               files={"file": ("p.csv", f"persona_id,name\n{persona_id},Imported\n".encode(), "text/csv")})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_import_row_with_another_groups_id_answers_exactly_like_a_fresh_id(api, make_api):
    theirs = make_api("editor", "other-group").create("personas", name="Theirs")
    fresh = str(uuid.uuid4())
    answers = {given: import_one(api, given) for given in (theirs, fresh)}
    for given, answer in answers.items():
        assert answer["results"][0]["id"] != given
        answer["results"][0]["id"] = "<new>"
    assert answers[theirs] == answers[fresh]
    # The group's own deleted artifact comes back with its id (its trail shows it was the group's).
    mine = api.create("personas", name="Mine")
    assert api.ok("personas", "delete", {"persona_ids": [mine]})["results"][0]["success"]
    assert import_one(api, mine)["results"][0]["id"] == mine
