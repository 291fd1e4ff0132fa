"""The agent rule, held against the OpenAPI document itself (API.md sections 1 and 7).

Every operation states who may call it (`x-loomwork-role`, `x-loomwork-agents`, from the dependency the
server enforces). The rule: an operation that needs the editor role or more is for people only, except
the draft patch (an agent's patch becomes a proposal), the rebase of one's own draft and the MCP routes; its declaration must say so,
and an agent is refused it (403 `agent_refused`), whether it comes with an agent profile's key (with or
without `X-MCP`) or with a person's key and `X-MCP`, and nothing is written. The expectations come from
the rule and the role, never from what the server answers someone else, and every operation of the
document is taken, so a new route is covered without editing this test.
"""

from __future__ import annotations

import uuid
from typing import Any

from test_auth import row_counts

from conftest import Api, assert_error

ROLE, AGENTS = "x-loomwork-role", "x-loomwork-agents"
RANK = {"viewer": 0, "editor": 1, "admin": 2}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]


def people_only_by_the_rule(method: str, path: str, operation: dict[str, Any]) -> bool:
    is_draft_patch = path.endswith("/draft") and method in ("PATCH", "POST")
    # API.md section 13: an agent rebases its own draft as a person does theirs (it decides nothing).
    is_own_draft_rebase = path.endswith("/draft/rebase") and method == "POST"
    return (
        RANK[operation[ROLE]] >= RANK["editor"]
        and not (is_draft_patch or is_own_draft_rebase)
        and not path.startswith("/mcp")
    )


def send(client, method: str, path: str, headers: dict[str, str]):
    path = "/".join(str(uuid.uuid4()) if part.startswith("{") else part for part in path.split("/"))
    if path.endswith("/import"):
        return client.request(method, path, headers=headers, files={"file": ("x.csv", b"name\nX\n", "text/csv")})
    return client.request(method, path, headers=headers, json={})


def new_agent(admin: Api, sponsor: Api) -> Api:
    """An agent profile with the editor role, sponsored by `sponsor`, and its key (sent without X-MCP)."""
    keys = sponsor.post("/api/v5/keys/search").json()["keys"]
    sponsor_id = next(k["profile_id"] for k in keys if sponsor.key.startswith(k["prefix"]))
    body = {"name": "rule-bot", "type": "agent", "role": "editor", "sponsor_profile_id": sponsor_id}
    profile = admin.post("/api/v5/profiles/create", body)
    assert profile.status_code == 200, profile.text
    made = admin.post("/api/v5/keys/create", {"profile_id": profile.json()["profile_id"], "name": "agent key"})
    assert made.status_code == 200, made.text
    return Api(admin.client, made.json()["key"])


def test_every_operation_declares_who_may_call_it(client, dialect):
    for method, path, operation in operations(client.app.openapi()):
        if ROLE not in operation:  # only what asks for no credentials at all may leave it out
            assert "security" not in operation, (method, path)
            continue
        assert operation[ROLE] in RANK and isinstance(operation[AGENTS], bool), (method, path, operation)
        if people_only_by_the_rule(method, path, operation):
            assert operation[AGENTS] is False, f"{method} {path} needs {operation[ROLE]} yet lets agents in"


def test_an_agent_is_refused_every_operation_the_rule_keeps_for_people_and_writes_nothing(make_api, client, db):
    admin, editor = make_api("admin"), make_api("editor")
    agent = new_agent(admin, editor)
    callers = {  # (headers, the role they hold)
        "an agent profile's key": ({"X-Api-Key": agent.key}, "editor"),
        "an agent profile's key with X-MCP": ({"X-Api-Key": agent.key, "X-MCP": "1"}, "editor"),
        "an editor's key with X-MCP": (editor.as_agent().headers, "editor"),
        "an admin's key with X-MCP": (admin.as_agent().headers, "admin"),
    }
    checked: set[str] = set()
    before = row_counts(db)
    for method, path, operation in operations(client.app.openapi()):
        refused_by_rule = ROLE in operation and people_only_by_the_rule(method, path, operation)
        if not (refused_by_rule or operation.get(AGENTS) is False):
            continue
        for who, (headers, role) in callers.items():
            answer = send(client, method, path, headers)
            if RANK[role] >= RANK[operation[ROLE]]:  # the role suffices: only the agent rule can refuse it
                assert_error(answer, 403, "agent_refused")
            else:  # an agent can never hold the role (no agent is an admin): refused all the same
                assert answer.status_code == 403, (who, method, path, answer.text)
        checked.add(f"{method} {path}")
    assert row_counts(db) == before
    # People are not refused by the rule: the refusals above are the agent's.
    for person in (admin, editor):
        assert person.post("/api/v5/proposals/search").status_code == 200
        assert person.op("personas", "create", {"personas": [{"name": f"By {person.key[:8]}"}]}).status_code == 200
    # The ones the weaker check left out are here, with every artifact kind's editor operations.
    for named in (
        "POST /api/v5/proposals/decide",
        "POST /api/v5/webhooks/create",
        "POST /api/v5/webhooks/delete",
        "POST /api/v5/webhooks/test",
        "POST /api/v5/webhooks/redeliver",
        "POST /api/v5/settings/update",
        "POST /api/v5/artifacts/personas/rollback",
        "POST /api/v5/artifacts/tools/label",
    ):
        assert named in checked, named
    # The draft patch stays open to agents: it is how they propose.
    assert not any(c.endswith("/draft") for c in checked)
