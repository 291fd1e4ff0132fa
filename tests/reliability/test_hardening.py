"""Issue 21: what a careful attacker found, each finding pinned by a test that failed before its fix.

Each test runs on SQLite and on PostgreSQL, through the HTTP API where the finding was seen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from conftest import TEST_SECRET, assert_error, run_async, serving
from loomwork import uploads
from loomwork.app import create_app
from loomwork.config import Settings, load_settings
from loomwork.engine.models import DraftEntry
from loomwork.identity.models import ApiKey
from loomwork.keyring import Keyring, SecretTooShort
from loomwork.resources import secrets
from loomwork.resources.models import Resource

# --- 1. exports expire, are swept, and a group has a quota -----------------------------------------------------


def export(api) -> Any:
    return api.op("personas", "export", {})


def upload_rows(db) -> int:
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


def chunk_rows(db) -> int:
    with db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(uploads.UploadChunk))


def test_an_upload_is_stored_and_sent_in_chunks_that_go_with_it(api, db, monkeypatch):
    """An export's file goes into the database a chunk at a time and comes back out the same way (the whole
    file in memory at once was 55 MB at 100,000 personas): split into many chunks, the download is the same
    file byte for byte, and the chunks leave with their upload."""
    api.ok("personas", "create", {"personas": [{"name": f"Agent {i}", "description": "é" * 40} for i in range(40)]})
    whole = export(api).json()["upload_id"]
    expected = api.client.get(f"/api/v5/uploads/{whole}", headers=api.headers)
    assert expected.status_code == 200 and chunk_rows(db) == 1
    monkeypatch.setattr(uploads, "CHUNK_BYTES", 100)  # a multi-byte character is cut between two chunks
    split = export(api).json()["upload_id"]
    assert chunk_rows(db) == 1 + -(-len(expected.content) // 100)
    answer = api.client.get(f"/api/v5/uploads/{split}", headers=api.headers)
    assert answer.status_code == 200
    assert answer.content == expected.content
    assert answer.headers["content-length"] == str(len(expected.content))
    with db.transaction(write=True) as session:
        session.execute(update(uploads.Upload).values(expires_at=uploads.utcnow() - timedelta(seconds=1)))
        uploads.sweep_expired(session)
    assert (upload_rows(db), chunk_rows(db)) == (0, 0)


def test_migrating_to_chunks_and_back_keeps_every_stored_file(api, db):
    """0018 moves each upload's file into a chunk. SQLite alters `uploads` by copying the table, and dropping
    the old copy cascades to the rows that point at it: a first version of the migration lost every file so."""
    from alembic import command

    from loomwork.db.migrate import alembic_config, upgrade

    api.create("personas", name="Ada")
    upload_id = export(api).json()["upload_id"]
    before = api.client.get(f"/api/v5/uploads/{upload_id}", headers=api.headers).content
    assert before
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0017")
    upgrade(db.engine)
    after = api.client.get(f"/api/v5/uploads/{upload_id}", headers=api.headers)
    assert after.status_code == 200 and after.content == before


def test_the_upload_lifetime_is_a_setting_and_the_background_sweeper_deletes_expired_uploads(
    settings, db, make_api, monkeypatch
):
    monkeypatch.setattr(uploads, "limits", uploads.limits)  # create_app below configures them: restored after
    monkeypatch.setenv("LOOMWORK_UPLOAD_TTL_SECONDS", "1")
    monkeypatch.setenv("LOOMWORK_UPLOAD_QUOTA_COUNT", "7")
    loaded = load_settings(settings.database_url)
    assert (loaded.upload_ttl_seconds, loaded.upload_quota_count) == (1, 7)
    api = make_api("editor")
    with serving(create_app(dataclasses.replace(settings, upload_ttl_seconds=1), db)) as url:
        made = httpx.post(f"{url}/api/v5/artifacts/personas/export", json={}, headers=api.headers, timeout=60)
        assert made.status_code == 200, made.text
        assert upload_rows(db) == 1
        deadline = time.monotonic() + 15
        while upload_rows(db) and time.monotonic() < deadline:  # no request at all meanwhile
            time.sleep(0.2)
        assert upload_rows(db) == 0


def test_a_group_past_its_upload_quota_gets_429_quota_exceeded_and_other_groups_do_not(api, make_api, db, monkeypatch):
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

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-type", b"multipart/form-data; boundary=x")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
    }
    run_async(app, scope, receive, send)
    return status, taken


def test_a_large_body_without_a_valid_key_is_refused_before_it_is_read(client, api):
    for headers in (
        {},
        {"X-Api-Key": "lw_000000000000_wrong"},
        {"Authorization": "Bearer nothing"},
        {"Cookie": "lw_session=forged"},
    ):
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
    imported = api.client.post(
        "/api/v5/artifacts/personas/import", headers=api.headers, files={"file": ("p.csv", csv_file, "text/csv")}
    )
    assert_error(imported, 422, "invalid")
    assert "padding" in imported.json()["detail"]


# --- 3. an import row's id tells nothing about other groups ---------------------------------------------------


def import_one(api, persona_id: str) -> dict[str, Any]:
    response = api.client.post(
        "/api/v5/artifacts/personas/import",
        headers=api.headers,
        files={"file": ("p.csv", f"persona_id,name\n{persona_id},Imported\n".encode(), "text/csv")},
    )
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


# --- 6. look-alike text -------------------------------------------------------------------------------------------


def create_names(api, *values: str) -> list[dict[str, Any]]:
    response = api.post("/api/v5/resources/names/create", {"names": list(values)})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_invisible_characters_are_stripped_text_is_nfc_and_look_alikes_dedupe_to_one_resource(api):
    (ada,) = create_names(api, "Ada")
    same = create_names(api, "A\u200bda", "\u200dAda\ufeff", "Ad\u2060a", "A\u202eda\u202c", "\u2067Ada\u2069")
    assert [(r["id"], r["created"], r["value"]) for r in same] == [(ada["id"], False, "Ada")] * 5
    composed, decomposed = create_names(api, "Caf\u00e9", "Cafe\u0301")
    assert decomposed["id"] == composed["id"] and decomposed["value"] == "Caf\u00e9"
    # Joiners that shape emoji and scripts stay where they join two non-ASCII characters.
    (family,) = create_names(api, "\U0001f468\u200d\U0001f469")
    assert family["value"] == "\U0001f468\u200d\U0001f469"


# Each drew nothing after "Ada" and so made a second Ada (issue 28, finding 12), the first seven as reported.
INVISIBLE_FILLERS = [
    "\u3164",  # HANGUL FILLER
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
    "\u034f",  # COMBINING GRAPHEME JOINER
    "\u17b5",  # KHMER VOWEL INHERENT AA
    "\u180b",  # MONGOLIAN FREE VARIATION SELECTOR ONE
    "\ufe0f",  # VARIATION SELECTOR-16
    "\u1160",  # HANGUL JUNGSEONG FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u17b4",  # KHMER VOWEL INHERENT AQ
    "\u180f",  # MONGOLIAN FREE VARIATION SELECTOR FOUR
    "\ufe00",  # VARIATION SELECTOR-1
    "\U000e0100",  # VARIATION SELECTOR-17
]


def test_invisible_fillers_and_stray_variation_selectors_make_no_second_spelling(api):
    (ada,) = create_names(api, "Ada")
    for filler in INVISIBLE_FILLERS:
        inside = [] if filler == "\u2800" else [f"Ad{filler}a"]
        same = create_names(api, f"Ada{filler}", f"{filler}Ada", f"Ada{filler}{filler}", *inside)
        assert {(r["id"], r["created"]) for r in same} == {(ada["id"], False)}, filler
    # The blank braille cell is a space: inside a name it is one, alone it is nothing.
    (spaced,) = create_names(api, "Ada Lovelace")
    assert create_names(api, "Ada\u2800Lovelace")[0]["id"] == spaced["id"]
    for blank in ("\u3164", "\u2800\u115f", "\ufe0f"):
        (item,) = create_names(api, blank)
        assert item["success"] is False and item["field"] == "names[0]" and "empty" in item["message"], item
    body = assert_error(api.op("personas", "draft", {"name": "\u3164"}, method="PATCH"), 422, "invalid")
    assert body["field"] == "name"
    # A selector that picks a glyph stays: an emoji's presentation, a Mongolian letter's form, a CJK variant.
    for kept in ("\u2764\ufe0f", "\u1820\u180b", "\u845b\U000e0100"):
        (item,) = create_names(api, kept)
        assert item["value"] == kept and item["created"] is True, item
        assert create_names(api, kept + "\ufe0f")[0]["id"] == item["id"]  # a second one selects nothing
    # Code points Unicode keeps ignorable but has not assigned are refused like format characters.
    for unassigned in ("\u2065", "\U000e0200"):
        (item,) = create_names(api, f"Ada{unassigned}")
        assert item["success"] is False and f"U+{ord(unassigned):04X}" in item["message"], item


def test_any_other_format_character_is_a_422_naming_the_field_and_the_character(api):
    (item,) = create_names(api, "Ada\u2062x")
    assert item["success"] is False and item["code"] == "invalid" and item["field"] == "names[0]"
    assert "U+2062" in item["message"]
    draft = api.op("personas", "draft", {"name": "Ada\u00adx"}, method="PATCH")
    body = assert_error(draft, 422, "invalid")
    assert body["field"] == "name" and "U+00AD" in body["detail"]
    flag = api.post(
        "/api/v5/resources/flags/create", {"flags": [{"type": "persona_active", "value": "tr\U000e0041ue"}]}
    )
    (result,) = flag.json()["results"]
    assert result["success"] is False and "U+E0041" in result["message"]


# --- 9. a search has at most 16 words -------------------------------------------------------------------------


def test_a_search_of_more_than_16_words_is_a_422_naming_the_field_in_resource_and_artifact_search(api):
    words = " ".join(["a"] * 17)
    for path, field in (
        ("/api/v5/resources/names/search", "search"),
        ("/api/v5/artifacts/personas/search", "search"),
        ("/api/v5/artifacts/personas/search", "department_search"),
        ("/api/v5/artifacts/personas/get", "departments_search"),
    ):
        body = assert_error(api.post(path, {field: words}), 422, "invalid")
        assert body["field"] == field and "16 words" in body["detail"], body
        assert api.post(path, {field: " ".join(["a"] * 16)}).status_code == 200


# --- 8. one key per purpose, a 32-byte minimum, and rotation --------------------------------------------------

NEW_SECRET = b"the-new-server-secret-after-the-rotation-0123456789"


def raw_hmac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def test_a_server_secret_under_32_bytes_is_refused_at_start_with_a_clear_error(tmp_path):
    with pytest.raises(SecretTooShort, match="at least 32 bytes"):
        Settings(database_url="sqlite://", data_dir=tmp_path, secret_key=b"x" * 31)
    with pytest.raises(SecretTooShort, match="LOOMWORK_OLD_SECRET_KEYS"):
        Settings(database_url="sqlite://", data_dir=tmp_path, secret_key=TEST_SECRET, old_secret_keys=(b"short",))
    done = subprocess.run(
        [sys.executable, "-m", "loomwork.cli", "migrate"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "LOOMWORK_DATA_DIR": str(tmp_path), "LOOMWORK_SECRET_KEY": "too-short"},
    )
    assert done.returncode == 2 and "LOOMWORK_SECRET_KEY is 9 bytes" in done.stderr, done.stderr
    assert not (tmp_path / "loomwork.sqlite3").exists()  # refused before anything was made


def test_each_purpose_has_its_own_key_derived_from_the_server_secret(api, db, client):
    with db.transaction(write=False) as session:
        stored = session.scalar(select(ApiKey.key_hash).where(ApiKey.prefix == api.key.split("_")[1]))
    assert stored != raw_hmac(TEST_SECRET, api.key)  # not the raw secret, as every purpose used before
    signed_in = client.post("/web/session", data={"api_key": api.key})
    assert signed_in.status_code == 200, signed_in.text
    session_id, csrf = client.cookies["lw_session"], signed_in.json()["csrf_token"]
    keyring = Keyring(TEST_SECRET)
    digests = {keyring.digest(purpose, session_id) for purpose in ("api-key", "session", "csrf")}
    assert len(digests) == 3 and csrf in digests and raw_hmac(TEST_SECRET, f"csrf:{session_id}") != csrf


def rotated(settings: Settings) -> Settings:
    return dataclasses.replace(settings, secret_key=NEW_SECRET, old_secret_keys=(settings.secret_key,))


def test_during_a_rotation_both_secrets_work_and_old_api_keys_are_rehashed_on_first_use(client, api, db, settings):
    old_key = api.key
    legacy = api.post("/api/v5/resources/keys/create", {"keys": [{"name": "openai", "secret": "sk-legacy-0001"}]})
    provider_key_id = legacy.json()["results"][0]["id"]
    with db.transaction(write=True) as session:  # a key hashed as before per-purpose keys: under the raw secret
        session.execute(
            update(ApiKey)
            .where(ApiKey.prefix == old_key.split("_")[1])
            .values(key_hash=raw_hmac(TEST_SECRET, old_key), secret_id=None)
        )
    client.app.state.settings = rotated(settings)
    secrets.configure(client.app.state.settings.keyring)
    try:
        assert api.post("/api/v5/resources/keys/search", {}).status_code == 200  # the old key still works
        with db.transaction(write=False) as session:
            secret_id = session.scalar(select(ApiKey.secret_id).where(ApiKey.prefix == old_key.split("_")[1]))
        assert secret_id == Keyring(NEW_SECRET).current_id  # ... and is now hashed under the new secret
        got = api.post("/api/v5/resources/keys/get", {"id": provider_key_id})
        assert got.status_code == 200 and got.json()["value"]["secret"] == "****0001"
        # Once the old secret is dropped, the re-hashed key still works.
        client.app.state.settings = dataclasses.replace(settings, secret_key=NEW_SECRET)
        secrets.configure(client.app.state.settings.keyring)
        assert api.post("/api/v5/resources/keys/search", {}).status_code == 200
    finally:
        client.app.state.settings = settings
        secrets.configure(settings.keyring)


def provider_ciphertexts(db) -> dict[str, str]:
    with db.transaction(write=False) as session:
        rows = session.execute(select(Resource.id, Resource.value).where(Resource.kind == "key")).all()
    import json

    return {str(rid): json.loads(value)["ciphertext"] for rid, value in rows}


def rotate_secret(
    settings: Settings, tmp_path: Path, secret: str, old_secrets: str
) -> subprocess.CompletedProcess[str]:
    """`loomwork rotate-secret` for real, in its own process, on the test's database."""
    env = {
        **os.environ,
        "LOOMWORK_DATA_DIR": str(tmp_path),
        "LOOMWORK_DATABASE_URL": settings.database_url,
        "LOOMWORK_SECRET_KEY": secret,
        "LOOMWORK_OLD_SECRET_KEYS": old_secrets,
    }
    return subprocess.run(
        [sys.executable, "-m", "loomwork.cli", "rotate-secret"], capture_output=True, text=True, timeout=180, env=env
    )


def test_rotate_secret_reencrypts_every_provider_key_under_the_new_secret(api, db, settings, tmp_path):
    api.post(
        "/api/v5/resources/keys/create", {"keys": [{"name": f"p{i}", "secret": f"sk-secret-{i:04}"} for i in range(3)]}
    )
    before = provider_ciphertexts(db)
    done = rotate_secret(settings, tmp_path, NEW_SECRET.decode(), TEST_SECRET.decode())
    assert done.returncode == 0, done.stderr
    assert "Re-encrypted 3 values of resources.value" in done.stderr
    assert "API keys still hashed under an old secret (re-hashed when next used): 1" in done.stderr
    after = provider_ciphertexts(db)
    assert after.keys() == before.keys() and not set(after.values()) & set(before.values())
    only_new = secrets.SecretBox(Keyring(NEW_SECRET))
    only_old = secrets.SecretBox(Keyring(TEST_SECRET))
    assert sorted(only_new.decrypt(token) for token in after.values()) == [f"sk-secret-{i:04}" for i in range(3)]
    with pytest.raises(ValueError):
        only_old.decrypt(next(iter(after.values())))
    # Without the old secret, a token nobody can open stops the rotation, which changes nothing.
    failed = rotate_secret(settings, tmp_path, "an-unrelated-secret-of-at-least-32-bytes", "")
    assert failed.returncode == 1 and "LOOMWORK_OLD_SECRET_KEYS" in failed.stderr
    assert provider_ciphertexts(db) == after


def test_rotate_secret_reencrypts_a_waiting_proposals_sealed_secret_so_it_can_be_accepted_after(
    make_api, db, settings, tmp_path
):
    owner, reviewer = make_api(), make_api()
    secret = "sk-proposed-before-rotation-4321"
    answer = owner.as_agent().ok(
        "invocations", "draft", {"name": "Rotated call", "key": {"name": "rotkey", "secret": secret}}, method="PATCH"
    )
    proposal_id = answer["form_state"]["proposals"][-1]["proposal_id"]
    with db.transaction(write=False) as session:
        (before,) = [e.sealed for e in session.scalars(select(DraftEntry)) if e.sealed]
    done = rotate_secret(settings, tmp_path, NEW_SECRET.decode(), TEST_SECRET.decode())
    assert done.returncode == 0, done.stderr
    assert "Re-encrypted 1 values of draft_entries.sealed" in done.stderr
    with db.transaction(write=False) as session:
        (after,) = [e.sealed for e in session.scalars(select(DraftEntry)) if e.sealed]
    assert after.keys() == before.keys() and after != before
    only_new = secrets.SecretBox(Keyring(NEW_SECRET))
    assert secret in only_new.decrypt(next(iter(after.values())))

    # Once the old secret is dropped, the person accepts the proposal and the key holds the proposed secret.
    app = reviewer.client.app
    try:
        app.state.settings = rotated(settings)  # the reviewer's API key is re-hashed on its first use meanwhile
        secrets.configure(app.state.settings.keyring)
        assert reviewer.post("/api/v5/proposals/search", {}).status_code == 200
        app.state.settings = dataclasses.replace(settings, secret_key=NEW_SECRET)
        secrets.configure(app.state.settings.keyring)
        decided = reviewer.post("/api/v5/proposals/decide", {"proposal_id": proposal_id, "decision": "accept"})
        assert decided.status_code == 200, decided.text
        with db.transaction(write=False) as session:
            stored = session.scalar(
                select(Resource.value).where(Resource.kind == "key", Resource.value.like("%rotkey%"))
            )
        assert stored is not None and only_new.decrypt(json.loads(stored)["ciphertext"]) == secret
    finally:
        app.state.settings = settings
        secrets.configure(settings.keyring)
