"""/mcp checks the caller's key before it answers anything (issue 28, finding 4): no key, a key that is not
valid, a revoked or an expired one is 401 with the API's error body, for `initialize`, `tools/list` and the
event stream alike; and the stateless server opens no standing stream, even for a valid key.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from conftest import Api, LiveServer, assert_error
from loomwork.db.base import utcnow
from loomwork.identity.models import ApiKey

ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}


def new_key(admin: Api) -> dict[str, Any]:
    profile_id = admin.post("/api/v5/keys/search").json()["keys"][0]["profile_id"]
    made = admin.post("/api/v5/keys/create", {"profile_id": profile_id, "name": "mcp"})
    assert made.status_code == 200, made.text
    return made.json()


def dead_keys(admin: Api, db) -> dict[str, str]:
    """Keys by the code /mcp must answer them with."""
    revoked, expired = new_key(admin), new_key(admin)
    assert admin.post("/api/v5/keys/revoke", {"key_ids": [revoked["key_id"]]}).status_code == 200
    with db.transaction(write=True) as session:  # its hour has passed
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(expired["key_id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    return {
        "unauthenticated": "lw_000000000000_garbage",
        "key_revoked": revoked["key"],
        "key_expired": expired["key"],
    }


def test_initialize_and_tools_list_with_a_bad_revoked_or_expired_key_are_401_with_the_usual_body(
    make_api, client, db, dialect
):
    admin = make_api("admin")
    for code, key in dead_keys(admin, db).items():
        for message in (INITIALIZE, LIST_TOOLS):
            for headers in ({"X-Api-Key": key}, {"Authorization": f"Bearer {key}"}):
                response = client.post("/mcp", json=message, headers={**ACCEPT, **headers})
                assert_error(response, 401, code)
    # A live key is answered.
    answered = client.post("/mcp", json=INITIALIZE, headers={**ACCEPT, "X-Api-Key": admin.key})
    assert answered.status_code == 200 and answered.json()["result"]["serverInfo"]["name"] == "loomwork"


def test_the_event_stream_is_refused_without_a_live_key_and_never_held_open_with_one(
    make_api, live_server: LiveServer, db, dialect
):
    admin = make_api("admin")
    headers = {"Accept": "text/event-stream"}
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        for code, key in dead_keys(admin, db).items():
            # Before, any non-empty key opened a stream that pinged every 15 s and never ended.
            with http.stream("GET", "/mcp", headers={**headers, "X-Api-Key": key}) as response:
                assert response.status_code == 401, (code, response.status_code)
                response.read()
                assert response.json()["code"] == code
        # A live key: the stateless server has nothing to stream, so it says so rather than hold a connection.
        with http.stream("GET", "/mcp", headers={**headers, "X-Api-Key": admin.key}) as response:
            assert response.status_code == 405 and response.headers["allow"] == "POST, DELETE"
