"""Provider keys (API.md section 3: `key` is encrypted at rest, shown masked, never exported in plain).

Through HTTP on SQLite and PostgreSQL: an invocation given `key: {name, secret}`
never answers the secret in any response, body by body; the stored row holds only
ciphertext that decrypts back with the server secret; equal keys dedupe; a masked
secret is refused as input; no log record carries the secret; and an export names
the key by id, so an import keeps it in its own group and fails that row elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conftest import assert_error, make_key
from loomwork.db.all_models import metadata
from loomwork.resources.models import Resource
from loomwork.resources.secrets import box

KIND = "invocations"
SECRET = "sk-proj-Zq7Vx2Lm9Pw4Tn8Rb6Hc1Jd5-LOOMWORK-k3y9"
MIDDLE = "Zq7Vx2Lm9Pw4Tn8Rb6"  # a distinctive part, so a truncated or partly masked leak is caught too
MASKED = "****k3y9"
OTHER_SECRET = "sk-ant-Qw3Er5Ty7Ui9Op1As2Df4Gh6-k3y9"  # the same last four characters, another secret
OTHER_MIDDLE = "Qw3Er5Ty7Ui9Op1As2"
KEY = {"name": "openai", "secret": SECRET}


# --- helpers -----------------------------------------------------------------------------------------------


def assert_no_plain_secret(body: str | bytes, where: str) -> None:
    raw = body.decode("utf-8") if isinstance(body, bytes) else body
    for plain in (SECRET, MIDDLE, OTHER_SECRET, OTHER_MIDDLE):
        at = raw.find(plain)
        assert at < 0, f"{where} carries the secret in plain: ...{raw[max(at - 300, 0) : at + 100]}..."


def send(api, body: dict[str, Any]):
    return api.op(KIND, "draft", body, method="PATCH")


def ok(api, body: dict[str, Any]) -> dict[str, Any]:
    response = send(api, body)
    assert response.status_code == 200, response.text
    return response.json()


def key_rows(db) -> list[tuple[str, dict[str, Any]]]:
    """The stored key resources: (id, stored value as JSON)."""
    with db.transaction(write=False) as session:
        rows = session.execute(select(Resource.id, Resource.value).where(Resource.kind == "key")).all()
    return [(str(rid), json.loads(value)) for rid, value in rows]


def selected_key(api, invocation_id: str) -> tuple[str, Any]:
    section = api.ok(KIND, "get", {"invocation_id": invocation_id})["keys"]
    (key_id,) = section["selected_ids"]
    return key_id, next(o["value"] for o in section["options"] if o["id"] == key_id)


def download(api, upload_id: str):
    response = api.client.get(f"/api/v5/uploads/{upload_id}", headers=api.headers)
    assert response.status_code == 200, response.text
    return response


def import_file(api, data: bytes):
    response = api.client.post(
        f"/api/v5/artifacts/{KIND}/import", headers=api.headers, files={"file": ("invocations.csv", data, "text/csv")}
    )
    assert response.status_code == 200, response.text
    return response.json()


def csv_rows(data: bytes) -> dict[str, dict[str, str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return {row[rows[0].index("name")]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


# --- never in plain ----------------------------------------------------------------------------------------


def test_no_response_ever_carries_the_secret_only_its_mask(api):
    responses: dict[str, Any] = {}
    made = send(api, {"name": "Primary", "key": KEY, "departments": ["Ops"]})
    responses["new draft"] = made
    draft_id = made.json()["draft_id"]
    responses["second patch"] = send(api, {"draft_id": draft_id, "key": KEY, "description": "Calls GPT"})
    responses["replay"] = send(
        api,
        {
            "draft_id": draft_id,
            "key": KEY,
            "description": "Calls GPT",
            "idempotency_key": responses["second patch"].json()["idempotency_key"],
        },
    )
    responses["draft get"] = api.op(KIND, "get", {"draft_id": draft_id})
    responses["drafts"] = api.op(KIND, "drafts")
    committed = api.op(KIND, "create", {KIND: [{"draft_id": draft_id}]})
    responses["create from draft"] = committed
    invocation_id = committed.json()["results"][0]["invocation_id"]
    responses["create with key"] = api.op(KIND, "create", {KIND: [{"name": "Direct", "key": KEY}]})
    responses["update"] = api.op(
        KIND, "update", {KIND: [{"invocation_id": invocation_id, "key": {"name": "anthropic", "secret": OTHER_SECRET}}]}
    )
    responses["update back"] = api.op(KIND, "update", {KIND: [{"invocation_id": invocation_id, "key": KEY}]})
    responses["get"] = api.op(KIND, "get", {"invocation_id": invocation_id})
    responses["get searching keys"] = api.op(KIND, "get", {"invocation_id": invocation_id, "keys_search": "k3y9"})
    responses["edit draft"] = send(api, {"invocation_id": invocation_id, "name": "Primary 2"})
    responses["search"] = api.op(KIND, "search", {})
    responses["search by text"] = api.op(KIND, "search", {"search": "Primary"})
    responses["duplicate"] = api.op(KIND, "duplicate", {"invocation_id": invocation_id})
    responses["docs"] = api.op(KIND, "docs")
    exported = api.op(KIND, "export", {})
    responses["export"] = exported
    responses["export download"] = download(api, exported.json()["upload_id"])
    key_id = responses["get"].json()["keys"]["selected_ids"][0]
    responses["key search"] = api.post("/api/v5/resources/keys/search", {})
    responses["key get"] = api.post("/api/v5/resources/keys/get", {"id": key_id})
    responses["key create"] = api.post("/api/v5/resources/keys/create", {"keys": [KEY]})
    responses["openapi"] = api.client.get("/openapi.json")

    for where, response in responses.items():
        assert response.status_code == 200, (where, response.text)
        assert_no_plain_secret(response.content, where)

    masked = {"name": "openai", "secret": MASKED}
    assert made.json()["form_state"]["key"] == masked
    assert responses["edit draft"].json()["form_state"]["key"] == masked
    assert selected_key(api, invocation_id) == (key_id, masked)
    assert responses["get searching keys"].json()["keys"]["options"][0]["value"] == masked
    listed = {i["name"]: i["key"] for i in responses["search"].json()[KIND]}
    assert listed["Primary"] == masked and listed["Direct"] == masked
    assert responses["key get"].json()["value"] == masked
    assert responses["key create"].json()["results"][0]["value"] == masked
    cell = csv_rows(responses["export download"].content)["Primary"]["key"]
    assert json.loads(cell) == {"id": key_id, **masked}


def test_a_proposed_key_is_never_shown_in_plain_in_the_proposals(api):
    made = ok(api, {"name": "Primary"})
    responses = {
        "soft patch": send(api, {"draft_id": made["draft_id"], "soft": True, "key": KEY}),
        "agent patch": api.as_agent().op(KIND, "draft", {"draft_id": made["draft_id"], "key": KEY}, method="PATCH"),
    }
    responses["a later patch"] = send(api, {"draft_id": made["draft_id"], "description": "Later"})
    for where, response in responses.items():
        assert response.status_code == 200, (where, response.text)
        assert len(response.json()["form_state"]["proposals"]) >= 1
        assert_no_plain_secret(response.content, where)


def test_the_stored_key_row_holds_only_ciphertext_that_decrypts_to_the_secret(api, db):
    state = ok(api, {"name": "Primary", "key": KEY})["form_state"]

    ((row_id, value),) = key_rows(db)
    assert row_id == state["key_id"]
    assert_no_plain_secret(json.dumps(value), "the resources row")
    assert value["name"] == "openai" and value["last4"] == "k3y9"
    assert box().decrypt(value["ciphertext"]) == SECRET
    with db.transaction(write=False) as session:
        stored = session.scalar(select(Resource.value).where(Resource.kind == "key"))
    assert_no_plain_secret(stored, "the raw value column")


def test_no_table_stores_the_secret_in_plain(api, db):
    made = ok(api, {"name": "Primary", "key": KEY})
    ok(api, {"draft_id": made["draft_id"], "soft": True, "key": {"name": "anthropic", "secret": OTHER_SECRET}})
    api.create(KIND, name="Direct", key=KEY)

    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                assert_no_plain_secret(repr(tuple(row)), f"table {table.name}")


def test_keys_never_dedupe_so_a_create_cannot_confirm_a_guessed_secret(api, make_api, db):
    """Issue 21 (4): a create that found the existing key by name and secret answered `created: false` with its
    id to a right guess. Every create makes its own key, and a right guess answers exactly like a wrong one."""
    owner_key = api.post("/api/v5/resources/keys/create", {"keys": [KEY]}).json()["results"][0]["id"]
    guesser = make_api("editor")  # same group: it can read the keys' masks, not their secrets

    def answer(secret: str) -> dict:
        (result,) = guesser.post(
            "/api/v5/resources/keys/create", {"keys": [{"name": "openai", "secret": secret}]}
        ).json()["results"]
        assert result["id"] != owner_key
        return {k: v for k, v in result.items() if k not in ("id", "created_at")}

    right, wrong = answer(SECRET), answer(OTHER_SECRET)
    assert right == wrong and right["created"] is True  # both end alike, so even the masks are the same
    # Through a draft, a direct create and a bulk create alike: each makes a key of its own.
    first = ok(api, {"name": "One", "key": KEY})["form_state"]["key_id"]
    again = ok(api, {"name": "Two", "key": {"name": " openai ", "secret": SECRET}})["form_state"]["key_id"]
    direct = selected_key(api, api.create(KIND, name="Three", key=KEY))[0]
    bulk = api.post("/api/v5/resources/keys/create", {"keys": [KEY, KEY]}).json()["results"]
    assert len({owner_key, first, again, direct, *(r["id"] for r in bulk)}) == 6
    assert all(r["created"] for r in bulk)
    secrets = [box().decrypt(value["ciphertext"]) for _id, value in key_rows(db)]
    assert sorted(set(secrets)) == sorted({SECRET, OTHER_SECRET}) and len(secrets) == 8


def test_a_masked_secret_as_input_is_422_and_creates_nothing(api, db):
    api.create(KIND, name="Has a key", key=KEY)
    masked_key = {"name": "openai", "secret": "****1234"}

    body = assert_error(send(api, {"name": "Primary", "key": masked_key}), 422, "invalid")
    assert body["field"] == "key" and "masked" in body["detail"]
    assert assert_error(send(api, {"name": "Primary", "key": {"name": "openai", "secret": MASKED}}), 422)
    (result,) = api.ok(KIND, "create", {KIND: [{"name": "Direct", "key": masked_key}]})["results"]
    assert result["success"] is False and result["code"] == "invalid" and result["field"] == "key"
    created = api.post("/api/v5/resources/keys/create", {"keys": [masked_key]})
    assert created.status_code == 422 or created.json()["results"][0]["success"] is False, created.text

    assert len(key_rows(db)) == 1
    assert api.ok(KIND, "search", {})["total_count"] == 1


# --- logs --------------------------------------------------------------------------------------------------

# Loggers that do not pass their records up to the root (uvicorn's own), so the capture joins them directly.
LOGGERS = (
    "loomwork",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "httpx2",
    "fastapi",
    "starlette",
    "mcp",
)


@contextmanager
def every_log(
    caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG, extra: tuple[str, ...] = ()
) -> Iterator[None]:
    caplog.set_level(level)
    joined = []
    for name in LOGGERS + extra:
        caplog.set_level(level, logger=name)
        logger = logging.getLogger(name)
        if not logger.propagate and caplog.handler not in logger.handlers:
            logger.addHandler(caplog.handler)
            joined.append(logger)
    try:
        yield
    finally:
        for logger in joined:
            logger.removeHandler(caplog.handler)


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts += [
            record.name,
            record.getMessage(),
            repr(record.args),
            record.exc_text or "",
            repr(getattr(record, "__dict__", {})),
        ]
    return "\n".join(parts)


def test_log_records_at_debug_hold_no_plain_secret(live_server, db, caplog):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    with every_log(caplog), httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        base = "/api/v5/artifacts/invocations"
        made = http.patch(f"{base}/draft", json={"name": "Primary", "key": KEY})
        assert made.status_code == 200, made.text
        draft_id = made.json()["draft_id"]
        refused = http.patch(f"{base}/draft", json={"draft_id": draft_id, "key": {"name": "x", "secret": "****1234"}})
        assert refused.status_code == 422
        malformed = http.patch(f"{base}/draft", json={"draft_id": draft_id, "key": KEY, "department_ids": ["no"]})
        assert malformed.status_code == 422
        created = http.post(f"{base}/create", json={KIND: [{"draft_id": draft_id}]})
        invocation_id = created.json()["results"][0]["invocation_id"]
        updated = http.post(
            f"{base}/update",
            json={
                KIND: [
                    {
                        "invocation_id": invocation_id,
                        "expected_version": 9,
                        "key": {"name": "b", "secret": OTHER_SECRET},
                    }
                ]
            },
        )
        assert updated.json()["results"][0]["code"] == "version_conflict"
        assert http.post(f"{base}/get", json={"invocation_id": invocation_id}).status_code == 200
        assert http.post(f"{base}/export", json={}).status_code == 200

    logged = logged_text(caplog)
    # The capture works: the client's and the server's records of these requests are in it.
    assert "/api/v5/artifacts/invocations/draft" in logged
    assert any(r.name == "uvicorn.access" for r in caplog.records), {r.name for r in caplog.records}
    assert_no_plain_secret(logged, "the log")


def test_sql_logging_holds_no_plain_secret(api, caplog):
    with every_log(caplog, logging.INFO, extra=("sqlalchemy.engine",)):
        made = ok(api, {"name": "Primary", "key": KEY})
        api.create(KIND, draft_id=made["draft_id"])
    logged = logged_text(caplog)
    assert "INSERT INTO resources" in logged  # the SQL log is on
    assert_no_plain_secret(logged, "the SQL log")


# --- export and import -------------------------------------------------------------------------------------


def test_export_names_the_key_by_id_so_import_keeps_it_in_its_group_and_fails_that_row_elsewhere(api, make_api):
    with_key = api.create(KIND, name="Primary", key=KEY, departments=["Ops"])
    without_key = api.create(KIND, name="Plain", departments=["Ops"])
    key_id, masked = selected_key(api, with_key)

    exported = api.ok(KIND, "export", {})
    data = download(api, exported["upload_id"]).content
    assert exported["row_count"] == 2
    assert_no_plain_secret(data, "the export")
    rows = csv_rows(data)
    assert json.loads(rows["Primary"]["key"]) == {"id": key_id, **masked} and rows["Plain"]["key"] == ""

    # Same group, the artifact deleted meanwhile: it comes back holding the same key, selected by id.
    api.ok(KIND, "delete", {"invocation_ids": [with_key]})
    same = import_file(api, data)
    # (the other row, as it was, changes nothing)
    assert (same["created"], same["updated"], same["unchanged"], same["failed"]) == (1, 0, 1, 0), same["results"]
    assert selected_key(api, with_key) == (key_id, masked)

    # Another group cannot hold this group's key: that row fails alone, saying which key is unknown.
    other = make_api("editor", group="globex")
    elsewhere = import_file(other, data)
    assert (elsewhere["created"], elsewhere["updated"], elsewhere["failed"]) == (1, 0, 1), elsewhere["results"]
    failed = next(r for r in elsewhere["results"] if not r["success"])
    assert failed["line"] == 2 + list(rows).index("Primary")
    assert failed["code"] == "not_found" and failed["field"] == "key_id" and key_id in failed["message"]
    assert [i["name"] for i in other.ok(KIND, "search", {})[KIND]] == ["Plain"]
    assert other.post("/api/v5/resources/keys/search", {}).json()["total_count"] == 0
    assert selected_key(api, with_key) == (key_id, masked)  # the owner's key is untouched
    assert without_key in {i["invocation_id"] for i in api.ok(KIND, "search", {})[KIND]}
