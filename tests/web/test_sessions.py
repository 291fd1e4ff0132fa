"""Sign-in sessions for the pages (issue 10), on both databases: an API key becomes a server-side
session behind an HttpOnly, SameSite=Strict cookie; every change on that cookie needs the page's
CSRF token; sign-out ends it on the server; the pages and their files are served by the app."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from conftest import Api, assert_error
from loomwork.db.base import utcnow
from loomwork.identity.models import ApiKey, WebSession
from loomwork.kinds import ARTIFACT_KINDS

SEARCH = "/api/v5/artifacts/personas/search"


def sign_in(client, key: str):
    return client.post("/web/session", data={"api_key": key})


def signed_in(client, api: Api) -> str:
    response = sign_in(client, api.key)
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


def test_sign_in_sets_an_httponly_strict_cookie_and_stores_only_a_hash(client, api: Api, db, dialect):
    response = sign_in(client, api.key)
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("lw_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie, cookie
    assert "Path=/" in cookie and "Secure" not in cookie  # plain http here; https adds Secure
    session_id = client.cookies["lw_session"]
    assert api.key not in cookie and response.json()["role"] == "editor"
    with db.transaction(write=False) as session:
        stored = session.scalars(select(WebSession.id_hash)).all()
    assert len(stored) == 1 and stored[0] != session_id and session_id not in stored[0]


def test_a_session_reads_without_a_token_but_changes_only_with_it(client, api: Api, dialect):
    csrf = signed_in(client, api)
    assert client.get("/web/session").json()["csrf_token"] == csrf  # a reloaded page gets its token back
    assert client.post(SEARCH, json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert_error(client.post(SEARCH, json={}), 403, "csrf_failed")
    assert_error(
        client.post(SEARCH, json={}, headers={"X-CSRF-Token": csrf[:-1] + ("1" if csrf.endswith("0") else "0")}),
        403,
        "csrf_failed",
    )
    draft = client.patch("/api/v5/artifacts/personas/draft", json={"name": "Ada"}, headers={"X-CSRF-Token": csrf})
    assert draft.status_code == 200 and draft.json()["form_state"]["name"] == "Ada"
    export = client.post("/api/v5/artifacts/personas/export", json={}, headers={"X-CSRF-Token": csrf}).json()
    assert client.get(f"/api/v5/uploads/{export['upload_id']}").status_code == 200  # a GET needs no token


def test_sign_out_ends_the_session_on_the_server(client, api: Api, db, dialect):
    csrf = signed_in(client, api)
    session_id = client.cookies["lw_session"]
    assert_error(client.delete("/web/session"), 403, "csrf_failed")  # another site cannot sign you out either
    assert client.delete("/web/session", headers={"X-CSRF-Token": csrf}).status_code == 200
    with db.transaction(write=False) as session:
        assert session.scalars(select(WebSession)).all() == []
    client.cookies.set("lw_session", session_id)  # a copied cookie is worth nothing now
    assert_error(client.get("/web/session"), 401, "unauthenticated")


def test_a_bad_key_or_another_sites_form_signs_no_one_in(client, api: Api, dialect):
    assert_error(sign_in(client, "lw_nope_nope"), 401, "unauthenticated")
    assert "lw_session" not in client.cookies
    assert_error(
        client.post("/web/session", data={"api_key": api.key}, headers={"Origin": "https://evil.example"}),
        403,
        "csrf_failed",
    )
    assert "lw_session" not in client.cookies
    assert_error(client.post("/web/session", data={}), 422, "invalid")


def test_a_session_speaks_with_its_profiles_current_role(client, make_api, dialect):
    viewer = make_api("viewer")
    csrf = signed_in(client, viewer)
    body = assert_error(
        client.post(
            "/api/v5/artifacts/personas/create", json={"personas": [{"name": "X"}]}, headers={"X-CSRF-Token": csrf}
        ),
        403,
        "forbidden",
    )
    assert "editor role" in body["detail"]


def test_an_expired_session_is_refused(client, api: Api, db, dialect):
    signed_in(client, api)
    with db.transaction(write=True) as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_error(client.get("/web/session"), 401, "unauthenticated")


def test_a_session_opened_before_its_key_expires_ends_when_the_key_does(client, api: Api, db, dialect):
    """The session itself lasts hours longer than its key: the key's expiry must end it all the same."""
    made = api.post("/api/v5/keys/create", {"profile_id": my_profile_id(api), "name": "short", "expires_at": soon()})
    assert made.status_code == 200, made.text
    csrf = signed_in(client, Api(client, made.json()["key"]))
    assert client.get("/web/session").status_code == 200
    assert client.post(SEARCH, json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    with db.transaction(write=True) as session:  # the key's hour passes; the session's twelve do not
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(made.json()["key_id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        assert session.scalar(select(WebSession.expires_at)) > utcnow()
    assert_error(client.get("/web/session"), 401, "unauthenticated")
    assert_error(client.post(SEARCH, json={}, headers={"X-CSRF-Token": csrf}), 401, "unauthenticated")


def my_profile_id(api: Api) -> str:
    keys = api.post("/api/v5/keys/search").json()["keys"]
    return next(k["profile_id"] for k in keys if api.key.startswith(k["prefix"]))


def soon() -> str:
    return (utcnow() + timedelta(hours=1)).isoformat()


def test_an_api_key_always_wins_over_a_cookie(client, api: Api, dialect):
    client.cookies.set("lw_session", "forged")
    assert client.post(SEARCH, json={}, headers={"X-Api-Key": api.key}).status_code == 200
    assert_error(client.post(SEARCH, json={}), 401, "unauthenticated")


def test_the_pages_and_their_files_come_from_the_app(client, dialect):
    page = client.get("/")
    assert page.status_code == 200 and 'src="/static/app.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy.replace("https:", "")  # no CDN allowed
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert client.get("/static/nope.js").status_code == 404


def test_every_slot_of_every_kind_sits_in_one_of_its_editor_steps(client, api: Api, dialect):
    kinds = client.get("/web/kinds", headers={"X-Api-Key": api.key}).json()
    assert [k["plural"] for k in kinds] == [k.plural for k in ARTIFACT_KINDS]
    for kind, declared in zip(kinds, ARTIFACT_KINDS):
        steps = {s["key"] for s in kind["steps"]}
        assert steps == set(declared.steps)
        assert [s["key"] for s in kind["slots"]] == [s.key for s in declared.slots]
        assert all(s["step"] in steps for s in kind["slots"]), kind["name"]
        own = [s for s in declared.steps if s not in ("basic", "content")]
        assert any(s["step"] == own[0] for s in kind["slots"]), f"{kind['name']}'s own step is empty"


def test_reading_a_drafts_state_changes_nothing_and_is_private(client, api: Api, make_api, dialect):
    draft = api.ok("personas", "draft", {"name": "Ada"}, method="PATCH")
    agent = api.as_agent()
    agent.ok("personas", "draft", {"draft_id": draft["draft_id"], "description": "Proposed"}, method="PATCH")
    path = f"/web/drafts/personas/{draft['draft_id']}"
    state = client.get(path, headers=api.headers).json()
    assert state["version"] == 1 and [p["changes"] for p in state["proposals"]] == [{"description": "Proposed"}]
    assert client.get(path, headers=api.headers).json()["version"] == 1
    assert_error(client.get(path, headers=make_api("editor").headers), 404, "not_found")
    assert_error(client.get(f"/web/drafts/nope/{draft['draft_id']}", headers=api.headers), 404, "not_found")
