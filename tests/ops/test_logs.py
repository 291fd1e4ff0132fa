"""Logs (API.md section 12): one JSON line per request, with its request id, route template, status,
duration, group and profile ids and via_agent; every response carries X-Request-Id (a sane incoming one
is kept); and no key, secret or body appears anywhere in a whole run's log.
"""

from __future__ import annotations

import json
import secrets

import httpx
from ops_server import REQUEST_ID, serving

from conftest import TEST_SECRET, make_key


def test_json_request_lines_carry_ids_and_no_secret_appears_in_the_log(db, database_url, dialect, tmp_path):
    editor_key = make_key(db, "acme", "editor", "editor")
    admin_key = make_key(db, "acme", "admin", "admin")
    provider_secret = "sk-live-" + secrets.token_urlsafe(24)
    wrong_key = "lw_0123456789ab_" + secrets.token_urlsafe(32)
    body_secret = "body-" + secrets.token_urlsafe(16)
    used = {
        "editor key": editor_key,
        "admin key": admin_key,
        "provider secret": provider_secret,
        "wrong key": wrong_key,
        "body text": body_secret,
        "server secret": TEST_SECRET.decode(),
    }
    answers: list[httpx.Response] = []

    with serving(database_url, tmp_path / "data") as served:
        with httpx.Client(base_url=served.url, timeout=60, event_hooks={"response": [answers.append]}) as http:
            editor = {"X-Api-Key": editor_key}
            created = http.post(
                "/api/v5/resources/keys/create",
                headers=editor,
                json={"keys": [{"name": "OpenAI", "secret": provider_secret}]},
            )
            assert created.status_code == 200, created.text
            assert (
                http.post(
                    "/api/v5/resources/keys/search", json={}, headers={"Authorization": f"Bearer {admin_key}"}
                ).status_code
                == 200
            )
            persona = http.post(
                "/api/v5/artifacts/personas/create",
                headers=editor,
                json={"personas": [{"name": "Logged", "description": body_secret}]},
            )
            assert persona.status_code == 200, persona.text
            assert (
                http.post(
                    "/api/v5/artifacts/personas/create",
                    headers=editor,  # 422, the body echoes nowhere
                    json={"personas": [{"name": body_secret, "colour": body_secret}]},
                ).status_code
                == 422
            )
            assert (
                http.post("/api/v5/artifacts/personas/search", json={}, headers={"X-Api-Key": wrong_key}).status_code
                == 401
            )
            proposal = http.patch(
                "/api/v5/artifacts/personas/draft",
                headers={**editor, "X-MCP": "1"},
                json={"name": "agent's idea", "description": body_secret},
            )
            assert proposal.status_code == 200, proposal.text

            signed_in = http.post("/web/session", data={"api_key": admin_key}, headers={"Origin": served.url})
            assert signed_in.status_code == 200, signed_in.text
            session_id = http.cookies["lw_session"]
            csrf = http.get("/web/session").json()["csrf_token"]
            used |= {"session cookie": session_id, "csrf token": csrf}
            assert http.delete("/web/session", headers={"X-CSRF-Token": csrf}).status_code in (200, 204)
            http.cookies.clear()

            kept = http.get("/healthz", headers={"X-Request-Id": "trace-me.42_A-b"})
            replaced = http.get("/healthz", headers={"X-Request-Id": "no spaces or; semicolons"})
            too_long = http.get("/healthz", headers={"X-Request-Id": "a" * 129})
        assert served.stop() == 0
        log, out = served.log_text(), served.out.read_text()

    assert kept.headers["X-Request-Id"] == "trace-me.42_A-b"
    for response in (replaced, too_long):
        assert response.headers["X-Request-Id"] not in ("no spaces or; semicolons", "a" * 129)
    assert all(REQUEST_ID.fullmatch(r.headers.get("X-Request-Id", "")) for r in answers), "every answer has an id"

    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is JSON
    requests = {line["request_id"]: line for line in lines if line["logger"] == "loomwork.access"}
    assert len(requests) == len(answers) + 1  # and serving()'s own start-up /healthz
    for response in answers:
        line = requests[response.headers["X-Request-Id"]]
        assert line["status"] == response.status_code
        assert line["method"] == response.request.method
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
        assert line["time"].endswith("Z")
    by_route = {(line["method"], line["route"], line["status"]): line for line in requests.values()}
    created_line = by_route[("POST", "/api/v5/resources/keys/create", 200)]
    assert created_line["group_id"] and created_line["profile_id"] and created_line["via_agent"] is False
    assert by_route[("PATCH", "/api/v5/artifacts/personas/draft", 200)]["via_agent"] is True
    signed = by_route[("POST", "/web/session", 200)]
    assert signed["profile_id"] and signed["profile_id"] != created_line["profile_id"]  # the admin's
    assert by_route[("POST", "/api/v5/artifacts/personas/search", 401)]["profile_id"] is None

    whole = log + out
    leaked = [name for name, value in used.items() if value in whole]
    assert not leaked, f"found in the server's output: {leaked}"
