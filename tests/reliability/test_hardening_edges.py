"""Issue 28 ("Hardening, round three"): the edges of authentication and allowances, each finding pinned by a
test that failed before its fix. Through the HTTP API, on SQLite and on PostgreSQL.

(Finding 4, /mcp's door, is tested in tests/mcp/test_mcp_door.py.)
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from prometheus_client import REGISTRY
from test_hardening import export, send_chunked

from conftest import Api, LiveServer, assert_error
from loomwork import uploads


def agent_key(admin: Api, role: str) -> Api:
    """A key of a new agent profile of `role`, sponsored by the admin."""
    keys = admin.post("/api/v5/keys/search").json()["keys"]
    # The admin's own profile (the group holds other people's keys too; a sponsor bounds its agent's role).
    sponsor_id = next(k["profile_id"] for k in keys if admin.key.startswith(k["prefix"]))
    profile = admin.post(
        "/api/v5/profiles/create",
        {"name": f"bot-{role}", "type": "agent", "role": role, "sponsor_profile_id": sponsor_id},
    )
    assert profile.status_code == 200, profile.text
    made = admin.post("/api/v5/keys/create", {"profile_id": profile.json()["profile_id"], "name": "bot"})
    assert made.status_code == 200, made.text
    return Api(admin.client, made.json()["key"])


# --- 5. the role and the agent rule are checked before an import body is read ------------------------------------


def test_a_large_import_body_from_who_may_not_import_is_refused_before_it_is_read(make_api, dialect):
    admin = make_api("admin")
    callers = {
        "viewer": (make_api("viewer").headers, "forbidden"),
        "agent profile": (agent_key(admin, "editor").headers, "agent_refused"),
        "editor with X-MCP": (make_api("editor").as_agent().headers, "agent_refused"),
    }
    for who, (headers, code) in callers.items():
        # 40 MiB: within the 64 MiB import allowance, which is only for those who may import.
        status, taken = send_chunked(admin.client.app, "/api/v5/artifacts/personas/import", headers, chunks=40)
        assert status == 403 and taken <= 2 << 20, (who, status, taken)
        # The answer is the route's own 403, as a small body gets it.
        small = admin.client.post(
            "/api/v5/artifacts/personas/import", headers=headers, files={"file": ("p.csv", b"name\nA\n", "text/csv")}
        )
        assert_error(small, 403, code)
    # An editor reads on (the chunks are no multipart form, so the route answers 422, having read them all).
    status, taken = send_chunked(admin.client.app, "/api/v5/artifacts/personas/import", admin.headers, chunks=3)
    assert status == 422 and taken == 3 << 20


# --- 6. the export allowance is each caller's, not the group's ---------------------------------------------------


def test_an_agent_exporting_in_a_loop_uses_up_its_own_allowance_not_its_groups(make_api, monkeypatch, dialect):
    monkeypatch.setattr(uploads, "limits", uploads.Limits(quota_count=3))
    admin = make_api("admin")
    bot = agent_key(admin, "viewer")
    for _ in range(3):
        assert export(bot).status_code == 200
    body = assert_error(export(bot), 429, "quota_exceeded")
    assert body["quota_count"] == 3
    # The admin of the same group still exports, up to an allowance of their own.
    for _ in range(3):
        assert export(admin).status_code == 200
    assert_error(export(admin), 429, "quota_exceeded")


# --- 9. a proposal carrying a key's secret replays -----------------------------------------------------------------


def test_the_identical_proposal_with_a_secret_replays_and_another_secret_is_a_mismatch(make_api, dialect):
    admin = make_api("admin")
    for proposer in (agent_key(admin, "editor"), make_api("editor").as_agent()):
        body = {"name": "Prod", "key": {"name": "openai", "secret": "sk-live-0123456789"}, "idempotency_key": "p-1"}
        first = proposer.op("invocations", "draft", body, method="PATCH")
        assert first.status_code == 200, first.text
        again = proposer.op("invocations", "draft", body, method="PATCH")
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert len(again.json()["form_state"]["proposals"]) == 1
        # The replay hash still sees the secret: the same key with another secret is another request.
        other = {**body, "key": {"name": "openai", "secret": "sk-live-9999999999"}}
        assert_error(proposer.op("invocations", "draft", other, method="PATCH"), 409, "idempotency_mismatch")
        # With the draft named, as a client retrying a patch of an existing draft sends it.
        named = {**body, "idempotency_key": "p-2", "draft_id": first.json()["draft_id"]}
        replies = [proposer.op("invocations", "draft", named, method="PATCH") for _ in range(2)]
        assert [r.status_code for r in replies] == [200, 200] and replies[0].json() == replies[1].json()


# --- 10. a long poll answers no change once its key is revoked -----------------------------------------------------


def test_a_long_poll_whose_key_is_revoked_while_it_waits_gets_401_not_the_change(
    make_api, live_server: LiveServer, dialect
):
    admin = make_api("admin")
    own = admin.post("/api/v5/keys/search").json()["keys"][0]
    made = admin.post("/api/v5/keys/create", {"profile_id": own["profile_id"], "name": "poller"}).json()
    answered: dict[str, Any] = {}
    with httpx.Client(base_url=live_server.url, headers={"X-Api-Key": made["key"]}, timeout=40) as http:
        after = http.post("/api/v5/changes", json={}).json()["next_cursor"]

        def poll() -> None:
            answered["response"] = http.post("/api/v5/changes", json={"after": after, "wait_s": 20})

        waiting = threading.Thread(target=poll)
        waiting.start()
        time.sleep(1)  # the poll is waiting
        assert "response" not in answered
        assert admin.post("/api/v5/keys/revoke", {"key_ids": [made["key_id"]]}).status_code == 200
        admin.create("personas", name="After the revocation")  # a change the revoked key must not see
        waiting.join(timeout=30)
    assert_error(answered["response"], 401, "key_revoked")


# --- 18. repeated X-MCP headers combine: any non-empty member makes an agent request -------------------------------


def test_an_empty_x_mcp_header_does_not_cancel_a_later_one(api, client, dialect):
    for fields in ([("X-MCP", ""), ("X-MCP", "1")], [("X-MCP", "1"), ("X-MCP", "")], [("X-MCP", " , 1")]):
        headers = [("X-Api-Key", api.key), *fields]
        created = client.post("/api/v5/artifacts/personas/create", json={"personas": [{"name": "A"}]}, headers=headers)
        assert_error(created, 403, "agent_refused")
        # A draft patch is staged as a proposal, and the pages refuse the sign-in.
        draft = client.patch("/api/v5/artifacts/personas/draft", json={"name": "Proposed"}, headers=headers)
        assert draft.status_code == 200 and draft.json()["new_version"] == 0, draft.text
        signed_in = client.post("/web/session", data={"api_key": api.key}, headers=fields)
        assert_error(signed_in, 403, "agent_refused")
    # Empty members alone make no agent.
    plain = [("X-Api-Key", api.key), ("X-MCP", ""), ("X-MCP", " , ")]
    created = client.post("/api/v5/artifacts/personas/create", json={"personas": [{"name": "B"}]}, headers=plain)
    assert created.status_code == 200, created.text


# --- 19. the metrics' method label is bounded ------------------------------------------------------------------------


def method_labels() -> dict[str, float]:
    counts: dict[str, float] = {}
    for metric in REGISTRY.collect():
        if metric.name == "loomwork_http_requests":
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    method = sample.labels["method"]
                    counts[method] = counts.get(method, 0.0) + sample.value
    return counts


def test_an_unknown_http_method_is_counted_as_other_and_adds_no_series(client, dialect):
    before = method_labels()
    for invented in ("BREW", "PROPFIND", "X-1234"):
        assert client.request(invented, "/healthz").status_code == 405
    after = method_labels()
    assert not {"BREW", "PROPFIND", "X-1234"} & after.keys(), after
    assert after["other"] == before.get("other", 0.0) + 3
    client.get("/healthz")
    assert method_labels()["GET"] == after.get("GET", 0.0) + 1
