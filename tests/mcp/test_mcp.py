"""The MCP server, driven by the official `mcp` SDK's own client over both transports (streamable
HTTP at /mcp on a running server, and stdio through `loomwork mcp`), on SQLite and PostgreSQL.

An agent lists the tools, searches, reads and proposes; the proposal waits in the HTTP API's form
state; a person's ack over HTTP applies it; the agent's own attempt to accept is refused by the
engine, and no tool exists that could decide, commit, create, update, duplicate, delete or refresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from conftest import TEST_SECRET, Api, LiveServer, run_async
from loomwork.config import load_settings
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.mcp.tools import build_tools
from loomwork.resources.kinds import RESOURCE_KINDS
from mcp import Client, StdioServerParameters

TOOL_OPERATIONS = ("search", "get", "docs", "drafts", "propose", "resolve")


@pytest.fixture(params=["http", "stdio"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def connect(transport: str, request: pytest.FixtureRequest, database_url: str, tmp_path):
    """`connect(key)` opens an SDK client session over the test's transport, as the agent of `key`."""
    if transport == "http":
        server: LiveServer = request.getfixturevalue("live_server")

        def over_http(key: str) -> AbstractAsyncContextManager[Client]:
            headers = {"X-Api-Key": key}
            # A loaded machine can take longer than httpx's 5 s to answer a tool call.
            return Client(
                streamable_http_client(f"{server.url}/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=60))
            )

        return over_http

    def over_stdio(key: str) -> AbstractAsyncContextManager[Client]:
        # The key in the environment, as the README says (an option shows in the process list).
        return Client(
            StdioServerParameters(
                command=sys.executable,
                args=stdio_args(None, database_url),
                env={**stdio_env(tmp_path), "LOOMWORK_API_KEY": key},
            )
        )

    return over_stdio


def stdio_args(key: str | None, database_url: str) -> list[str]:
    return ["-m", "loomwork.cli", "mcp", *(("--api-key", key) if key else ()), "--database-url", database_url]


def stdio_env(tmp_path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "LOOMWORK_API_KEY"},
        "LOOMWORK_SECRET_KEY": TEST_SECRET.decode(),
        "LOOMWORK_DATA_DIR": str(tmp_path / "mcp"),
    }


def run(connect, key: str, session: Callable[[Client], Awaitable[Any]]) -> Any:
    """Open a client for `key`, run `session` with it, and return what it returned."""

    async def main() -> Any:
        with anyio.fail_after(60):
            async with connect(key) as client:
                return await session(client)

    return run_async(main)


COMPACT = {"search": "search", "get": "get", "docs": "docs", "drafts": "my_drafts", "resolve": "resolve"}
ID_FIELDS = {kind.id_field: kind.plural for kind in ARTIFACT_KINDS}


def compact(tool: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The scenarios below speak of a kind's operation (`personas_propose {persona_id, name}`): the call the
    default (compact) tools take for it (`propose {kind, id, changes}`). Other names pass as they are."""
    plural, _, operation = tool.partition("_")
    if plural not in ID_FIELDS.values() or operation not in (*COMPACT, "propose"):
        return tool, arguments
    id_field = next(f for f, p in ID_FIELDS.items() if p == plural)
    arguments = dict(arguments)
    args: dict[str, Any] = {"kind": plural}
    if id_field in arguments:
        args["id"] = arguments.pop(id_field)
    if operation == "propose":
        if "draft_id" in arguments:
            args["draft_id"] = arguments.pop("draft_id")
        return "propose", {**args, "changes": arguments}
    return COMPACT[operation], {**args, **arguments}


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call that must succeed: its structured answer, which the text content repeats."""
    result = await client.call_tool(*compact(tool, arguments))
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def refused(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(*compact(tool, arguments))
    assert result.is_error, result.structured_content
    return result.content[0].text


# --- the tools ----------------------------------------------------------------------------------------------


def test_the_tools_read_and_propose_with_the_kind_as_an_argument_in_a_small_list(api: Api, connect, dialect):
    async def session(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in run(connect, api.key, session)}
    assert set(tools) == {*COMPACT.values(), "resolve_many", "propose", "resources_search", "proposals_mine"}
    listing = [tool.model_dump(by_alias=True, exclude_none=True) for tool in tools.values()]
    assert len(json.dumps(listing)) < 16_000  # what an agent pays in context before it says anything
    plurals = [kind.plural for kind in ARTIFACT_KINDS]
    for name in ("search", "get", "docs", "resolve", "propose", "my_drafts"):
        assert tools[name].input_schema["properties"]["kind"]["enum"] == plurals, name
    propose = tools["propose"].input_schema["properties"]
    assert "accept" not in propose and "soft" not in propose and "person accepts" in tools["propose"].description
    kinds = tools["resources_search"].input_schema["properties"]["kind"]["enum"]
    assert kinds == [kind.plural for kind in RESOURCE_KINDS.values()]
    assert tools["resources_search"].input_schema["required"] == ["kind"]


def test_the_full_set_offers_every_kinds_own_tools(monkeypatch):
    """LOOMWORK_MCP_TOOLS=full: for clients that want each kind's own tools and request schemas."""
    monkeypatch.setenv("LOOMWORK_MCP_TOOLS", "full")
    monkeypatch.setenv("LOOMWORK_SECRET_KEY", TEST_SECRET.decode())
    assert load_settings().mcp_tools == "full"
    tools = build_tools(full=True)
    expected = {f"{kind.plural}_{op}" for kind in ARTIFACT_KINDS for op in TOOL_OPERATIONS} | {
        "resources_search",
        "proposals_mine",
    }
    assert set(tools) == expected
    for kind in ARTIFACT_KINDS:
        propose = tools[f"{kind.plural}_propose"]
        properties = propose.input_schema["properties"]
        assert "accept" not in properties and "soft" not in properties
        assert {"draft_id", "expected_version", "idempotency_key", kind.id_field, "name"} <= set(properties)
        assert "person accepts" in propose.description
        search = tools[f"{kind.plural}_search"].input_schema["properties"]
        assert {"search", "page_size", kind.facets[0].ids_field} <= set(search)
    kinds = tools["resources_search"].input_schema["properties"]["kind"]["enum"]
    assert kinds == [kind.plural for kind in RESOURCE_KINDS.values()]
    assert tools["resources_search"].input_schema["required"] == ["kind"]


# --- the round trip: agents propose, people decide ----------------------------------------------------------


def test_an_agent_searches_reads_and_proposes_and_a_person_decides(api: Api, make_api, connect, dialect):
    persona_id = api.create("personas", name="Archivist", description="Finds documents", departments=["Research"])
    api.create("personas", name="Greeter", description="Says hello")

    async def agent(client: Client) -> dict[str, Any]:
        found = await call(client, "personas_search", {"search": "archiv"})
        shown = await call(client, "personas_get", {"persona_id": persona_id})
        proposal = await call(client, "personas_propose", {"persona_id": persona_id, "description": "Finds and cites"})
        # Accepting is a person's: the field is not in the tool's schema, and sent anyway the engine refuses it.
        attempt = await refused(
            client,
            "personas_propose",
            {"draft_id": proposal["draft_id"], "accept": True, "idempotency_key": proposal["idempotency_key"]},
        )
        drafts = await call(client, "personas_drafts", {})
        departments = await call(client, "resources_search", {"kind": "departments", "search": "research"})
        return {
            "found": found,
            "shown": shown,
            "proposal": proposal,
            "attempt": attempt,
            "drafts": drafts,
            "departments": departments,
        }

    seen = run(connect, api.key, agent)

    assert [r["persona_id"] for r in seen["found"]["personas"]] == [persona_id] and seen["found"]["total_count"] == 1
    assert [o["value"] for o in seen["shown"]["names"]["options"] if o["selected"]] == ["Archivist"]
    proposal = seen["proposal"]
    assert proposal["success"] is True and proposal["new_version"] == 0
    assert proposal["form_state"]["description"] == "Finds documents"  # dormant: nothing changed yet
    assert "403" in seen["attempt"] and "agent_refused" in seen["attempt"]
    (entry,) = seen["drafts"]["entries"]
    assert entry["draft_id"] == proposal["draft_id"] and entry["waiting_proposals"] == 1
    assert [(d["value"], d["used_by"]) for d in seen["departments"]["departments"]] == [
        ("Research", {"persona": {"active": 1, "pending": 0}})
    ]

    # A person sees the proposal waiting in the draft's form state over the HTTP API ...
    draft_id, key = proposal["draft_id"], proposal["idempotency_key"]
    waiting = api.ok("personas", "draft", {"draft_id": draft_id}, method="PATCH")["form_state"]
    assert [(p["idempotency_key"], p["changes"], p["via_agent"]) for p in waiting["proposals"]] == [
        (key, {"description": "Finds and cites"}, True)
    ]
    assert waiting["description"] == "Finds documents"
    # ... and accepts it, which applies it; committing the draft makes it live.
    accepted = api.ok(
        "personas", "draft", {"draft_id": draft_id, "idempotency_key": key, "accept": True}, method="PATCH"
    )
    assert accepted["form_state"]["description"] == "Finds and cites" and accepted["form_state"]["proposals"] == []
    api.ok(
        "personas", "update", {"personas": [{"persona_id": persona_id, "draft_id": draft_id, "expected_version": 1}]}
    )
    live = api.ok("personas", "get", {"persona_id": persona_id})["descriptions"]
    assert [o["value"] for o in live["options"] if o["selected"]] == ["Finds and cites"]
    # The audit trail tells the agent's proposal from the person's decision and commit.
    trail = make_api("admin").post("/api/v5/audit/search", {"artifact_id": persona_id}).json()["events"]
    assert [(e["action"], e["via_agent"]) for e in trail] == [
        ("update", False),
        ("accept", False),
        ("propose", True),
        ("create", False),
    ]


def test_every_kind_can_be_searched_read_documented_and_proposed_to(api: Api, connect, dialect):
    made = {kind.plural: api.create(kind.plural, name=f"First {kind.name}") for kind in ARTIFACT_KINDS}

    async def agent(client: Client) -> dict[str, Any]:
        seen = {}
        for kind in ARTIFACT_KINDS:
            found = await call(client, f"{kind.plural}_search", {"search": "first"})
            shown = await call(client, f"{kind.plural}_get", {kind.id_field: made[kind.plural]})
            docs = await call(client, f"{kind.plural}_docs", {})
            proposal = await call(client, f"{kind.plural}_propose", {"name": f"Proposed {kind.name}"})
            seen[kind.plural] = (found, shown, docs, proposal)
        return seen

    seen = run(connect, api.key, agent)
    for kind in ARTIFACT_KINDS:
        found, shown, docs, proposal = seen[kind.plural]
        assert [r[kind.id_field] for r in found[kind.plural]] == [made[kind.plural]]
        assert shown[kind.id_field] == made[kind.plural]
        assert docs["permissions"], kind.plural
        # A new draft made by an agent holds even its first patch as a waiting proposal.
        assert proposal["form_state"]["name"] is None and len(proposal["form_state"]["proposals"]) == 1
        (entry,) = api.ok(kind.plural, "drafts")["entries"]
        assert entry["draft_id"] == proposal["draft_id"] and entry["waiting_proposals"] == 1


def test_the_engine_refuses_what_an_agent_may_not_do_even_by_a_forged_call(api: Api, connect, dialect):
    persona_id = api.create("personas", name="Keeper")

    async def agent(client: Client) -> list[Any]:
        draft = await call(client, "personas_propose", {"persona_id": persona_id, "name": "Renamed"})
        return [
            # `soft: false` would make a live edit; the tool sends soft whatever the agent says.
            (
                await call(
                    client, "personas_propose", {"draft_id": draft["draft_id"], "soft": False, "description": "Sneaky"}
                )
            )["form_state"],
            await refused(
                client,
                "personas_propose",
                {"draft_id": draft["draft_id"], "accept": False, "idempotency_key": draft["idempotency_key"]},
            ),
            await refused(client, "personas_create", {"personas": [{"name": "Mine"}]}),
            await refused(client, "resources_search", {"kind": "../artifacts/personas/delete"}),
        ]

    sneaky, rejecting, unknown_tool, bad_kind = run(connect, api.key, agent)
    assert sneaky["name"] == "Keeper" and sneaky["description"] is None  # not applied: both wait for a person
    assert [p["changes"] for p in sneaky["proposals"]] == [{"name": "Renamed"}, {"description": "Sneaky"}]
    assert "agent_refused" in rejecting
    assert "no tool 'personas_create'" in unknown_tool
    assert "kind: must be one of" in bad_kind
    assert api.ok("personas", "get", {"persona_id": persona_id})["version"] == 1
    assert api.ok("personas", "search", {})["total_count"] == 1


def test_a_viewers_agent_reads_but_cannot_propose(make_api, connect, dialect):
    editor, viewer = make_api("editor"), make_api("viewer")
    editor.create("personas", name="Visible")

    async def agent(client: Client) -> tuple[dict[str, Any], str]:
        return (
            await call(client, "personas_search", {}),
            await refused(client, "personas_propose", {"name": "Not allowed"}),
        )

    found, attempt = run(connect, viewer.key, agent)
    assert found["total_count"] == 1
    assert "403" in attempt and "forbidden" in attempt
    assert editor.ok("personas", "drafts")["entries"] == []


def test_an_agent_profiles_key_proposes_and_is_refused_every_decision_and_the_trail_names_it(
    make_api, connect, transport, dialect
):
    admin, sponsor = make_api("admin"), make_api("editor", name="sponsor")
    sponsor_id = sponsor.post("/api/v5/keys/search").json()["keys"][0]["profile_id"]
    profile = admin.post(
        "/api/v5/profiles/create", {"name": "Bot", "type": "agent", "role": "editor", "sponsor_profile_id": sponsor_id}
    ).json()
    made = admin.post("/api/v5/keys/create", {"profile_id": profile["profile_id"], "name": "mcp"}).json()
    made_ids = {
        kind.plural: sponsor.create(kind.plural, **{kind.name_slot.value_field: f"Live {kind.name}"})
        for kind in ARTIFACT_KINDS
    }

    async def agent(client: Client) -> dict[str, Any]:
        seen = {}
        for kind in ARTIFACT_KINDS:
            proposal = await call(
                client, f"{kind.plural}_propose", {kind.id_field: made_ids[kind.plural], "description": "Proposed"}
            )
            decisions = [
                await refused(
                    client,
                    f"{kind.plural}_propose",
                    {
                        "draft_id": proposal["draft_id"],
                        "accept": accept,
                        "idempotency_key": proposal["idempotency_key"],
                    },
                )
                for accept in (True, False)
            ]
            seen[kind.plural] = (proposal, decisions)
        return seen

    seen = run(connect, made["key"], agent)
    for kind in ARTIFACT_KINDS:
        proposal, decisions = seen[kind.plural]
        assert proposal["new_version"] == 0 and len(proposal["form_state"]["proposals"]) == 1
        assert all("403" in d and "agent_refused" in d for d in decisions), decisions
        trail = admin.post("/api/v5/audit/search", {"artifact_id": made_ids[kind.plural]}).json()["events"]
        assert [
            (e["action"], e["via_agent"], e["key_id"]) for e in trail if e["profile_id"] == profile["profile_id"]
        ] == [("propose", True, made["key_id"])]
        assert sponsor.ok(kind.plural, "get", {kind.id_field: made_ids[kind.plural]})["version"] == 1
    # Revoked, the key opens no door: /mcp refuses it before any MCP work.
    admin.post("/api/v5/keys/revoke", {"key_ids": [made["key_id"]]})
    if transport == "http":
        search = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "personas_search"}}
        again = admin.client.post(
            "/mcp", json=search, headers={"X-Api-Key": made["key"], "Accept": "application/json, text/event-stream"}
        )
        assert again.status_code == 401 and again.json()["code"] == "key_revoked"


# --- keys at the door ---------------------------------------------------------------------------------------


def test_http_without_a_key_or_with_a_wrong_one_is_401(api: Api, live_server: LiveServer, dialect):
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    response = httpx.post(
        f"{live_server.url}/mcp",
        json=initialize,
        headers={"Accept": "application/json, text/event-stream"},
        timeout=60,  # a busy CI machine answers slowly; the default 5 s is not the subject here
    )
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    wrong = httpx.post(
        f"{live_server.url}/mcp",
        json=initialize,
        headers={"Accept": "application/json, text/event-stream", "Authorization": "Bearer lw_not-a-real-key"},
        timeout=60,
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthenticated"

    def over_http(key: str) -> AbstractAsyncContextManager[Client]:
        return Client(
            streamable_http_client(
                f"{live_server.url}/mcp",
                http_client=httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60),
            )
        )

    async def good(client: Client) -> dict[str, Any]:  # the same header with a real key works
        return await call(client, "personas_search", {})

    assert run(over_http, api.key, good)["total_count"] == 0


def test_stdio_refuses_to_start_with_a_wrong_key(database_url: str, tmp_path, dialect):
    done = subprocess.run(
        [sys.executable, *stdio_args("lw_not-a-real-key", database_url)],
        env=stdio_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and "--api-key" in done.stderr and done.stdout == ""
    # The environment variable wins over the option, which other local users can read in the process list.
    done = subprocess.run(
        [sys.executable, *stdio_args(None, database_url)],
        env={**stdio_env(tmp_path), "LOOMWORK_API_KEY": "lw_not-a-real-key"},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and "LOOMWORK_API_KEY" in done.stderr and done.stdout == ""


# --- isolation: an agent reaches only its own group ----------------------------------------------------------


def test_an_agent_sees_nothing_of_another_group_and_its_ids_are_not_found(make_api, connect, dialect):
    """Every reading tool of every kind, and every resource list, as the agent of another group's member."""
    owner = make_api("editor", group="other")
    theirs = {
        kind.plural: owner.create(kind.plural, **{kind.name_slot.value_field: f"Zebra {kind.name}"})
        for kind in ARTIFACT_KINDS
    }
    their_draft = owner.op("personas", "draft", {"name": "Zebra draft"}, "PATCH").json()["draft_id"]
    mine = make_api("editor", group="acme")

    async def agent(client: Client) -> tuple[list[str], list[str]]:
        answers, refusals = [], []
        for kind in ARTIFACT_KINDS:
            for operation in ("search", "get", "drafts", "docs"):
                answers.append(json.dumps(await call(client, f"{kind.plural}_{operation}", {})))
            refusals.append(await refused(client, f"{kind.plural}_get", {kind.id_field: theirs[kind.plural]}))
            refusals.append(
                await refused(
                    client, f"{kind.plural}_propose", {kind.id_field: theirs[kind.plural], "description": "hijack"}
                )
            )
        for resource in RESOURCE_KINDS.values():
            answers.append(json.dumps(await call(client, "resources_search", {"kind": resource.plural})))
        refusals.append(await refused(client, "personas_propose", {"draft_id": their_draft, "name": "hijack"}))
        return answers, refusals

    answers, refusals = run(connect, mine.key, agent)

    for answer in answers:
        assert "Zebra" not in answer and not any(i in answer for i in theirs.values()), answer[:300]
    assert all("404" in r and "not_found" in r for r in refusals), refusals
    assert owner.ok("personas", "get", {"draft_id": their_draft})["draft_version"] == 1  # untouched


def test_an_agent_reads_its_own_proposals_and_the_reviewers_decision(api: Api, make_api, connect, dialect):
    """The review queue's answer reaches the agent: status, who decided, and the reason, for its own only."""
    persona_id = api.create("personas", name="Archivist", description="Finds documents")
    other = make_api("editor")
    other.as_agent().ok("personas", "draft", {"name": "Not yours"}, method="PATCH")

    async def propose(client: Client) -> dict[str, Any]:
        first = await call(client, "personas_propose", {"persona_id": persona_id, "description": "Finds and cites"})
        await call(client, "personas_propose", {"draft_id": first["draft_id"], "color": "#123"})
        return await call(client, "proposals_mine", {"status": "waiting"})

    waiting = run(connect, api.key, propose)
    assert waiting["total_count"] == 2 and {p["status"] for p in waiting["proposals"]} == {"waiting"}
    older = waiting["proposals"][1]
    assert older["changes"] == [{"field": "description", "now": "Finds documents", "proposed": "Finds and cites"}]

    reviewer = make_api("editor", name="Grace")
    answer = reviewer.post(
        "/api/v5/proposals/decide",
        {"proposal_id": older["proposal_id"], "decision": "reject", "reason": "Cite only on request"},
    )
    assert answer.status_code == 200, answer.text

    async def read(client: Client) -> dict[str, Any]:
        return await call(client, "proposals_mine", {})

    mine = run(connect, api.key, read)
    assert mine["total_count"] == 2  # its own only, not the other agent's
    decided = next(p for p in mine["proposals"] if p["proposal_id"] == older["proposal_id"])
    assert decided["status"] == "rejected" and decided["reason"] == "Cite only on request"
    assert decided["decided_by"]["name"] == "Grace"
