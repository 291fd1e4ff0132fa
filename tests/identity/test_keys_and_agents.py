"""Keys and agents are identities (API.md section 7), through HTTP, on SQLite and PostgreSQL.

Rules: an agent profile's key makes every request an agent's, whatever its headers say, so it never
decides, commits, creates, updates, deletes, duplicates, imports, refreshes, reads the audit trail,
manages keys or profiles, or signs in to the pages (checked over every operation of the OpenAPI
document), and what it proposes is audited `via_agent` with its `key_id`. Keys can be listed (never
their secret), made (the secret shown once), expired and revoked (401 `key_revoked`, and their page
sessions end). A person manages their own keys and their agents'; an admin, the group's; another
group's ids answer exactly like missing ones.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from test_auth import row_counts

from conftest import TEST_SECRET, Api, assert_error
from loomwork.db.base import utcnow
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.operations import OPERATIONS
from loomwork.identity import service as identity
from loomwork.identity.models import ApiKey, Profile, WebSession
from loomwork.kinds import ARTIFACT_KINDS

PROFILES, KEYS = "/api/v5/profiles", "/api/v5/keys"


# --- helpers ------------------------------------------------------------------------------------------------


def ok(response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def my_key(api: Api) -> dict[str, Any]:
    """The caller's own key as keys/search shows it (found by its prefix)."""
    return next(k for k in ok(api.post(f"{KEYS}/search"))["keys"] if api.key.startswith(k["prefix"]))


def new_agent(admin: Api, sponsor: Api, role: str = "editor", name: str | None = None) -> tuple[Api, str]:
    """An agent profile sponsored by `sponsor`, made over HTTP, and a client with its key and NO X-MCP header."""
    profile = ok(
        admin.post(
            f"{PROFILES}/create",
            {
                "name": name or f"agent-{uuid.uuid4().hex[:6]}",
                "type": "agent",
                "role": role,
                "sponsor_profile_id": my_key(sponsor)["profile_id"],
            },
        )
    )
    made = ok(admin.post(f"{KEYS}/create", {"profile_id": profile["profile_id"], "name": "agent key"}))
    return Api(admin.client, made["key"]), profile["profile_id"]


@pytest.fixture
def admin(make_api) -> Api:
    return make_api("admin", name="the-admin")


@pytest.fixture
def person(make_api) -> Api:
    return make_api("editor", name="the-person")


@pytest.fixture
def agent(admin: Api, person: Api) -> Api:
    return new_agent(admin, person)[0]


def item(kind: ArtifactKind, name: str) -> dict[str, Any]:
    return {kind.name_slot.value_field: name}


# --- profiles -----------------------------------------------------------------------------------------------


def test_an_admin_creates_an_agent_with_a_sponsor_and_anyone_can_list_profiles(admin, person, make_api, dialect):
    _, agent_id = new_agent(admin, person, role="viewer", name="Scribe bot")
    viewer = make_api("viewer")
    agents = ok(viewer.post(f"{PROFILES}/search", {"type": "agent"}))
    assert agents["total_count"] == 1
    (shown,) = agents["profiles"]
    assert (shown["profile_id"], shown["name"], shown["type"], shown["role"], shown["sponsor_name"]) == (
        agent_id,
        "Scribe bot",
        "agent",
        "viewer",
        "the-person",
    )
    people = ok(viewer.post(f"{PROFILES}/search", {"type": "person", "search": "THE-"}))
    assert sorted(p["name"] for p in people["profiles"]) == ["the-admin", "the-person"]
    assert all(p["sponsor_profile_id"] is None for p in people["profiles"])


def test_profile_create_names_what_is_wrong(admin, person, make_api, db, dialect):
    sponsor_id = my_key(person)["profile_id"]
    _, agent_id = new_agent(admin, person)
    stranger = my_key(make_api("admin", group="beta"))["profile_id"]
    before = row_counts(db)
    cases = [
        ({"name": "A", "type": "agent", "role": "admin", "sponsor_profile_id": sponsor_id}, 422, "role"),
        ({"name": "A", "type": "agent", "role": "editor"}, 422, "sponsor_profile_id"),
        ({"name": "A", "type": "agent", "role": "editor", "sponsor_profile_id": agent_id}, 422, "sponsor_profile_id"),
        (
            {"name": "A", "type": "person", "role": "editor", "sponsor_profile_id": sponsor_id},
            422,
            "sponsor_profile_id",
        ),
        ({"name": "   ", "type": "person", "role": "editor"}, 422, "name"),
        ({"name": "the-person", "type": "person", "role": "viewer"}, 409, "name"),
    ]
    for body, status, field in cases:
        error = assert_error(admin.post(f"{PROFILES}/create", body), status)
        assert error["field"] == field and field in error["detail"], (body, error)
    # Another group's sponsor answers exactly like a missing one.
    theirs = admin.post(
        f"{PROFILES}/create", {"name": "A", "type": "agent", "role": "editor", "sponsor_profile_id": stranger}
    )
    missing_id = str(uuid.uuid4())
    missing = admin.post(
        f"{PROFILES}/create", {"name": "A", "type": "agent", "role": "editor", "sponsor_profile_id": missing_id}
    )
    assert_error(theirs, 404, "not_found")
    assert theirs.json()["detail"].replace(stranger, "X") == missing.json()["detail"].replace(missing_id, "X")
    assert_error(person.post(f"{PROFILES}/create", {"name": "B", "type": "person", "role": "viewer"}), 403, "forbidden")
    assert row_counts(db) == before


# --- a sponsor's role bounds its agents' (issue 28, finding 15) ------------------------------------------------


def test_no_agent_is_made_above_its_sponsors_role(admin, make_api, db, dialect):
    viewer_id = my_key(make_api("viewer", name="the-viewer"))["profile_id"]
    before = row_counts(db)
    body = {"name": "Eager bot", "type": "agent", "role": "editor", "sponsor_profile_id": viewer_id}
    error = assert_error(admin.post(f"{PROFILES}/create", body), 422, "role_above_sponsor")
    assert error["field"] == "role" and "'the-viewer' is a viewer" in error["detail"], error
    assert row_counts(db) == before
    assert ok(admin.post(f"{PROFILES}/create", {**body, "role": "viewer"}))["role"] == "viewer"


def test_a_viewers_editor_agent_gets_no_key_and_its_old_key_only_reads(admin, make_api, db, dialect):
    """The finding: a viewer who sponsors an editor-role agent (made before the rule) minted keys and proposed."""
    viewer = make_api("viewer", name="the-viewer")
    viewer_id = uuid.UUID(my_key(viewer)["profile_id"])  # before the transaction: a request may write (last_used_at)
    with db.transaction(write=True) as session:
        sponsor = session.get(Profile, viewer_id)
        assert sponsor is not None
        bot = identity.new_profile(session, sponsor.group_id, "Old bot", "agent", "editor", sponsor.id)
        old_key = identity.create_key(session, TEST_SECRET, bot, "made before the rule")
        bot_id = str(bot.id)
    before = row_counts(db)
    for minter in (viewer, admin):
        error = assert_error(minter.post(f"{KEYS}/create", {"profile_id": bot_id, "name": "more"}), 403)
        assert error["code"] == "role_above_sponsor" and "viewer" in error["detail"] and "editor" in error["detail"]
    assert row_counts(db) == before
    agent = Api(admin.client, old_key)
    assert agent.ok("personas", "get", {})["can_edit"] is False
    assert_error(agent.op("personas", "draft", {"name": "Proposed anyway"}, "PATCH"), 403, "forbidden")
    assert row_counts(db) == before


def test_demoting_a_sponsor_demotes_their_agent_at_once(admin, person, db, dialect):
    agent, agent_id = new_agent(admin, person)  # an editor agent of an editor
    ok(agent.op("personas", "draft", {"name": "First idea"}, "PATCH"))

    person_id = uuid.UUID(my_key(person)["profile_id"])

    def set_role(role: str) -> None:
        with db.transaction(write=True) as session:
            session.execute(update(Profile).where(Profile.id == person_id).values(role=role))

    set_role("viewer")
    assert_error(agent.op("personas", "draft", {"name": "Second idea"}, "PATCH"), 403, "forbidden")
    assert_error(admin.post(f"{KEYS}/create", {"profile_id": agent_id, "name": "more"}), 403, "role_above_sponsor")
    set_role("editor")
    ok(agent.op("personas", "draft", {"name": "Second idea"}, "PATCH"))


# --- an agent key is an agent, whatever its headers say -----------------------------------------------------


def test_an_agent_key_without_x_mcp_is_refused_whatever_x_mcp_refuses_over_every_operation(
    admin, person, client, db, dialect
):
    """Every operation of the OpenAPI document, sent by an agent's key without X-MCP and by a person's key
    with X-MCP: whatever the person's agent is refused, the agent is refused too, and writes nothing."""
    agent, _ = new_agent(admin, person, role="editor")
    person_as_agent = person.as_agent()
    doc = client.app.openapi()
    refused: set[str] = set()
    for path, operations in doc["paths"].items():
        for method in operations:
            kwargs: dict[str, Any] = {"json": {}}
            if path.endswith("/import"):
                kwargs = {"files": {"file": ("x.csv", b"name\nX\n", "text/csv")}}
            if "{" in path:
                path_sent = path.replace("{upload_id}", str(uuid.uuid4()))
            else:
                path_sent = path
            before = row_counts(db)
            by_agent = client.request(method.upper(), path_sent, headers={"X-Api-Key": agent.key}, **kwargs)
            if by_agent.status_code == 403:
                assert row_counts(db) == before, path
            by_person_agent = client.request(method.upper(), path_sent, headers=person_as_agent.headers, **kwargs)
            if by_person_agent.status_code == 403:
                assert by_agent.status_code == 403, (path, by_agent.text)
                assert by_agent.json()["code"] == by_person_agent.json()["code"], (path, by_agent.text)
                refused.add(path)
            if by_agent.status_code == 403 and by_agent.json()["code"] == "agent_refused":
                refused.add(path)
    expected = {
        f"/api/v5/artifacts/{kind.plural}/{op.name}" for kind in ARTIFACT_KINDS for op in OPERATIONS if not op.agents
    }
    expected |= {"/api/v5/audit/search", f"{KEYS}/search", f"{KEYS}/create", f"{KEYS}/revoke", f"{PROFILES}/create"}
    expected |= {p for p in doc["paths"] if p.startswith("/api/v5/resources/") and p.endswith(("/create", "/delete"))}
    assert expected <= refused, sorted(expected - refused)
    # The person's own key without X-MCP is not refused: the refusals above are about the agent.
    for path in (f"{KEYS}/search", "/api/v5/artifacts/personas/create"):
        assert person.post(path, {"personas": [{"name": "Mine"}]} if "artifacts" in path else {}).status_code == 200


@pytest.mark.parametrize("kind", ARTIFACT_KINDS, ids=lambda k: k.plural)
def test_an_agent_key_proposes_but_cannot_accept_commit_or_write_and_the_trail_says_agent(
    admin, person, agent, kind, db, dialect
):
    artifact_id = person.create(kind.plural, **item(kind, "Original"))
    sponsor_key_id = my_key(person)["key_id"]
    # A plain patch (no soft, no X-MCP) from an agent key is a dormant proposal, not an edit.
    proposal = ok(agent.op(kind.plural, "draft", {kind.id_field: artifact_id, **item(kind, "Renamed")}, "PATCH"))
    assert proposal["new_version"] == 0 and proposal["form_state"]["proposals"], proposal
    draft_id, key = proposal["draft_id"], proposal["idempotency_key"]
    before = row_counts(db)
    attempts = {
        "accept": agent.op(
            kind.plural, "draft", {"draft_id": draft_id, "idempotency_key": key, "accept": True}, "PATCH"
        ),
        "reject": agent.op(
            kind.plural, "draft", {"draft_id": draft_id, "idempotency_key": key, "accept": False}, "PATCH"
        ),
        "commit update": agent.op(
            kind.plural, "update", {kind.plural: [{kind.id_field: artifact_id, "draft_id": draft_id}]}
        ),
        "commit create": agent.op(kind.plural, "create", {kind.plural: [{"draft_id": draft_id}]}),
        "create": agent.op(kind.plural, "create", {kind.plural: [item(kind, "Made by an agent")]}),
        "update": agent.op(
            kind.plural, "update", {kind.plural: [{kind.id_field: artifact_id, **item(kind, "Changed")}]}
        ),
        "duplicate": agent.op(kind.plural, "duplicate", {kind.id_field: artifact_id}),
        "delete": agent.op(kind.plural, "delete", {kind.ids_field: [artifact_id]}),
        "import": agent.client.post(
            f"/api/v5/artifacts/{kind.plural}/import",
            headers=agent.headers,
            files={"file": ("x.csv", b"name\nImported\n", "text/csv")},
        ),
        "refresh": agent.op(kind.plural, "refresh"),
        "audit": agent.post("/api/v5/audit/search", {}),
    }
    for label, response in attempts.items():
        assert response.status_code == 403, (label, response.text)
        if label not in ("refresh", "audit"):  # these need the admin role, which no agent has
            assert response.json()["code"] == "agent_refused", (label, response.text)
    assert row_counts(db) == before
    view = person.ok(kind.plural, "get", {kind.id_field: artifact_id})
    assert view["version"] == 1
    # The trail says an agent proposed it, with the agent's key, not the sponsor's.
    (event_,) = [
        e
        for e in ok(admin.post("/api/v5/audit/search", {"artifact_id": artifact_id}))["events"]
        if e["action"] == "propose"
    ]
    agent_keys = [k for k in ok(admin.post(f"{KEYS}/search"))["keys"] if k["profile_type"] == "agent"]
    assert event_["via_agent"] is True and event_["key_id"] == agent_keys[0]["key_id"] != sponsor_key_id
    # (A person decides it from the review queue, proposals/decide: another branch's work.)


def test_no_header_turns_an_agent_key_into_a_person(agent, client, dialect):
    for headers in ({"X-MCP": ""}, {"X-MCP": "0"}, {}):
        response = client.post("/api/v5/artifacts/personas/get", json={}, headers={"X-Api-Key": agent.key, **headers})
        assert ok(response)["can_edit"] is False, headers
    # Nor a session cookie of a person sent along: a key, when sent, decides.
    bearer = client.post(
        "/api/v5/artifacts/personas/create",
        json={"personas": [{"name": "x"}]},
        headers={"Authorization": f"Bearer {agent.key}"},
        cookies={"lw_session": "anything"},
    )
    assert_error(bearer, 403, "agent_refused")


def test_agents_cannot_sign_in_to_the_pages(agent, person, client, db, dialect):
    assert_error(client.post("/web/session", data={"api_key": agent.key}), 403, "agent_refused")
    # A person's key with X-MCP is an agent's request too.
    assert_error(
        client.post("/web/session", data={"api_key": person.key}, headers={"X-MCP": "1"}), 403, "agent_refused"
    )
    with db.transaction(write=False) as session:
        assert session.scalars(select(WebSession.id_hash)).all() == []
    assert "lw_session" not in client.cookies
    assert ok(client.post("/web/session", data={"api_key": person.key}))["name"] == "the-person"


def test_agents_cannot_manage_keys_or_profiles(admin, person, agent, make_api, dialect):
    own = my_key(person)  # ids the agent might try
    agent_key = next(k for k in ok(person.post(f"{KEYS}/search"))["keys"] if k["profile_type"] == "agent")
    for path, body in (
        (f"{KEYS}/search", {}),
        (f"{KEYS}/create", {"profile_id": agent_key["profile_id"], "name": "x"}),
        (f"{KEYS}/revoke", {"key_ids": [own["key_id"], agent_key["key_id"]]}),
    ):
        assert_error(agent.post(path, body), 403, "agent_refused")
    assert_error(
        admin.as_agent().post(f"{PROFILES}/create", {"name": "x", "type": "person", "role": "viewer"}),
        403,
        "agent_refused",
    )
    assert len(ok(person.post(f"{KEYS}/search"))["keys"]) == 2  # nothing revoked, nothing made


# --- keys: what you may manage ------------------------------------------------------------------------------


def test_a_person_manages_their_own_keys_and_their_agents_but_not_another_persons(admin, person, make_api, dialect):
    other = make_api("editor", name="someone-else")
    mine_agent, mine_agent_id = new_agent(admin, person)
    their_agent, their_agent_id = new_agent(admin, other)
    me, them = my_key(person), my_key(other)

    listed = ok(person.post(f"{KEYS}/search"))["keys"]
    assert {k["profile_id"] for k in listed} == {me["profile_id"], mine_agent_id}
    made = ok(person.post(f"{KEYS}/create", {"profile_id": mine_agent_id, "name": "second"}))
    assert made["key"].startswith(made["prefix"]) and made["profile_type"] == "agent"
    assert ok(person.post(f"{KEYS}/create", {"profile_id": me["profile_id"], "name": "laptop"}))["name"] == "laptop"

    for profile_id in (them["profile_id"], their_agent_id):
        assert_error(person.post(f"{KEYS}/create", {"profile_id": profile_id, "name": "x"}), 403, "forbidden")
        assert_error(person.post(f"{KEYS}/search", {"profile_id": profile_id}), 403, "forbidden")
    their_agent_key = ok(admin.post(f"{KEYS}/search", {"profile_id": their_agent_id}))["keys"][0]["key_id"]
    results = ok(person.post(f"{KEYS}/revoke", {"key_ids": [them["key_id"], their_agent_key]}))["results"]
    assert [r["code"] for r in results] == ["not_found", "not_found"]
    assert other.op("personas", "get").status_code == 200  # their key still works
    assert their_agent.op("personas", "get").status_code == 200
    # An admin sees and manages every key of the group.
    all_keys = {k["profile_id"] for k in ok(admin.post(f"{KEYS}/search"))["keys"]}
    assert {me["profile_id"], them["profile_id"], mine_agent_id, their_agent_id} <= all_keys
    (revoked,) = ok(admin.post(f"{KEYS}/revoke", {"key_ids": [them["key_id"]]}))["results"]
    assert revoked["success"] and revoked["revoked_at"]
    assert_error(other.op("personas", "get"), 401, "key_revoked")
    assert mine_agent.op("personas", "get").status_code == 200


def test_another_groups_profiles_and_keys_answer_like_missing_ones(admin, make_api, dialect):
    beta = make_api("admin", group="beta")
    theirs, missing = my_key(beta), str(uuid.uuid4())
    for path in (f"{KEYS}/search", f"{KEYS}/create"):
        body = {"profile_id": theirs["profile_id"], **({"name": "x"} if path.endswith("create") else {})}
        a = admin.post(path, body)
        b = admin.post(path, {**body, "profile_id": missing})
        assert_error(a, 404, "not_found")
        assert (b.status_code, b.json()["detail"].replace(missing, "X")) == (
            404,
            a.json()["detail"].replace(theirs["profile_id"], "X"),
        )
    results = ok(admin.post(f"{KEYS}/revoke", {"key_ids": [theirs["key_id"], missing]}))["results"]
    assert [(r["success"], r["code"]) for r in results] == [(False, "not_found"), (False, "not_found")]
    assert results[0]["message"].replace(theirs["key_id"], "X") == results[1]["message"].replace(missing, "X")
    assert beta.op("personas", "get").status_code == 200
    shown = ok(admin.post(f"{PROFILES}/search"))
    assert theirs["profile_id"] not in str(shown) and shown["total_count"] == 1


def test_keys_search_never_shows_a_secret(admin, person, dialect):
    made = ok(person.post(f"{KEYS}/create", {"profile_id": my_key(person)["profile_id"], "name": "ci"}))
    secret = made["key"]
    assert made["prefix"] == secret[:12] and len(made["prefix"]) == 12
    for api, body in ((person, {}), (admin, {"include_revoked": True}), (person, {"profile_id": made["profile_id"]})):
        response = api.post(f"{KEYS}/search", body)
        text = ok(response) and response.text
        assert secret not in text and secret.split("_", 2)[2] not in text and secret[:16] not in text
        shown = next(k for k in response.json()["keys"] if k["key_id"] == made["key_id"])
        assert set(shown) == {
            "key_id",
            "profile_id",
            "profile_name",
            "profile_type",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        }
    # The secret shown once works.
    assert Api(person.client, secret).op("personas", "get").status_code == 200


# --- revocation, expiry and last use ------------------------------------------------------------------------


def test_a_revoked_key_is_401_key_revoked_and_its_page_session_ends(admin, person, client, db, dialect):
    second = ok(person.post(f"{KEYS}/create", {"profile_id": my_key(person)["profile_id"], "name": "browser"}))
    # Two page sessions of one person: one opened with the key about to be revoked, one with the other key.
    doomed_page, kept_page = client, type(client)(client.app)
    csrf = ok(doomed_page.post("/web/session", data={"api_key": second["key"]}))["csrf_token"]
    ok(kept_page.post("/web/session", data={"api_key": person.key}))
    assert ok(doomed_page.get("/web/session"))["name"] == "the-person"

    (result,) = ok(person.post(f"{KEYS}/revoke", {"key_ids": [second["key_id"]]}))["results"]
    assert result["success"] and result["revoked_at"]

    assert_error(
        client.post("/api/v5/artifacts/personas/get", json={}, headers={"X-Api-Key": second["key"]}), 401, "key_revoked"
    )
    assert_error(doomed_page.get("/web/session"), 401, "unauthenticated")
    assert_error(
        doomed_page.post("/api/v5/artifacts/personas/search", json={}, headers={"X-CSRF-Token": csrf}),
        401,
        "unauthenticated",
    )
    assert ok(kept_page.get("/web/session"))["name"] == "the-person"
    with db.transaction(write=False) as session:
        assert session.scalars(select(WebSession.key_id)).all() == [uuid.UUID(my_key(person)["key_id"])]
    assert_error(client.post("/web/session", data={"api_key": second["key"]}), 401, "key_revoked")
    # Revoking again succeeds and keeps the first time; a revoked key is listed only when asked for.
    (again,) = ok(person.post(f"{KEYS}/revoke", {"key_ids": [second["key_id"]]}))["results"]
    assert again["success"] and again["revoked_at"] == result["revoked_at"] and "Already" in again["message"]
    assert second["key_id"] not in str(ok(person.post(f"{KEYS}/search")))
    listed = ok(person.post(f"{KEYS}/search", {"include_revoked": True}))["keys"]
    assert next(k for k in listed if k["key_id"] == second["key_id"])["revoked_at"] == result["revoked_at"]


def test_an_expired_key_is_401_key_expired(person, client, db, dialect):
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    made = ok(
        person.post(f"{KEYS}/create", {"profile_id": my_key(person)["profile_id"], "name": "short", "expires_at": soon})
    )
    assert datetime.fromisoformat(made["expires_at"]) == datetime.fromisoformat(soon)
    key = Api(person.client, made["key"])
    assert key.op("personas", "get").status_code == 200
    with db.transaction(write=True) as session:  # an hour passes
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(made["key_id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_error(key.op("personas", "get"), 401, "key_expired")
    assert_error(client.post("/web/session", data={"api_key": made["key"]}), 401, "key_expired")
    profile_id = my_key(person)["profile_id"]
    for expires_at in (
        (utcnow() - timedelta(minutes=1)).isoformat(),
        1893456000,
        "next week",
        "9999-12-31T23:59:59-05:00",
    ):
        error = assert_error(
            person.post(f"{KEYS}/create", {"profile_id": profile_id, "name": "x", "expires_at": expires_at}),
            422,
            "invalid",
        )
        assert error["field"] == "expires_at", (expires_at, error)


def test_last_used_at_is_kept_to_the_minute_and_written_at_most_once_a_minute(person, db, dialect):
    made = ok(person.post(f"{KEYS}/create", {"profile_id": my_key(person)["profile_id"], "name": "fresh"}))
    assert made["last_used_at"] is None
    key = Api(person.client, made["key"])
    writes: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            writes.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        for _ in range(3):
            assert key.op("personas", "get").status_code == 200
        assert len(writes) == 1
        with db.transaction(write=True) as session:  # two minutes pass
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == uuid.UUID(made["key_id"]))
                .values(last_used_at=utcnow() - timedelta(minutes=2))
            )
        writes.clear()
        assert key.op("personas", "get").status_code == 200
        assert key.op("personas", "get").status_code == 200
        assert len(writes) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)
    shown = next(k for k in ok(person.post(f"{KEYS}/search"))["keys"] if k["key_id"] == made["key_id"])
    used = datetime.fromisoformat(shown["last_used_at"])
    assert used.second == 0 and used.microsecond == 0
    assert timedelta(0) <= datetime.now(UTC) - used < timedelta(minutes=2)


def test_every_audit_event_names_the_key_that_made_it(admin, person, dialect):
    laptop = ok(person.post(f"{KEYS}/create", {"profile_id": my_key(person)["profile_id"], "name": "laptop"}))
    by_laptop = Api(person.client, laptop["key"])
    first = person.create("personas", name="By the first key")
    second = by_laptop.create("personas", name="By the laptop key")
    events = ok(admin.post("/api/v5/audit/search", {}))["events"]
    by_artifact = {e["artifact_id"]: e["key_id"] for e in events if e["action"] == "create"}
    assert by_artifact[first] == my_key(person)["key_id"] and by_artifact[second] == laptop["key_id"]
    made = next(e for e in events if e["action"] == "key_create")
    assert made["key_id"] == my_key(person)["key_id"] and made["changes"]["key_id"] == laptop["key_id"]
    assert "key" not in made["changes"] and laptop["key"] not in str(events)
