"""Resolve over MCP (API.md section 9): the `{plural}_resolve` tools and the `loomwork://{plural}/{id}` and
`loomwork://{plural}/{id}@{label}` resources, driven by the SDK's own client over stdio and streamable HTTP,
on SQLite and PostgreSQL, as an agent profile's key while a person moves the labels.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from test_mcp import call, connect, refused, run, transport  # noqa: F401 - the fixtures, shared

from loomwork.kinds import ARTIFACT_KINDS
from mcp import Client

KIND = "personas"


def agent_key(admin, sponsor) -> str:
    """A key of an agent profile in the admin's group (not a person's key sent through MCP)."""
    sponsor_id = sponsor.post("/api/v5/keys/search").json()["keys"][0]["profile_id"]
    profile = admin.post(
        "/api/v5/profiles/create",
        {"name": "Runner", "type": "agent", "role": "viewer", "sponsor_profile_id": sponsor_id},
    ).json()
    return admin.post("/api/v5/keys/create", {"profile_id": profile["profile_id"], "name": "mcp"}).json()["key"]


def update(api, persona_id: str, **fields: Any) -> None:
    (result,) = api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, **fields}]})["results"]
    assert result["success"], result


async def read(client: Client, uri: str) -> dict[str, Any]:
    (content,) = (await client.read_resource(uri, cache_mode="bypass")).contents
    assert content.mime_type == "application/json" and str(content.uri) == uri
    return json.loads(content.text)


async def not_readable(client: Client, uri: str) -> str:
    with pytest.raises(MCPError) as raised:
        await client.read_resource(uri, cache_mode="bypass")
    return f"{raised.value.message} {json.dumps(raised.value.data)}"


def test_an_agent_resolves_by_id_and_name_and_reads_the_resources_at_a_label(make_api, connect, dialect):
    admin, editor = make_api("admin"), make_api("editor")
    persona_id = admin.create(KIND, name="Archivist", description="Finds documents")
    update(admin, persona_id, description="Finds and cites")
    # A person points production at the first version; latest stays the newest.
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1})
    key = agent_key(admin, editor)

    async def agent(client: Client) -> dict[str, Any]:
        return {
            "templates": (await client.list_resource_templates()).resource_templates,
            "by_id": await call(client, "personas_resolve", {"persona_id": persona_id}),
            "by_name": await call(client, "personas_resolve", {"name": "Archivist", "label": "production"}),
            "by_version": await call(client, "personas_resolve", {"persona_id": persona_id, "version": 1}),
            "latest": await read(client, f"loomwork://personas/{persona_id}"),
            "production": await read(client, f"loomwork://personas/{persona_id}@production"),
            "by_name_uri": await read(client, "loomwork://personas/Archivist@production"),
            "no_label": await not_readable(client, f"loomwork://personas/{persona_id}@qa"),
            "bad_uri": await not_readable(client, f"loomwork://nothing/{persona_id}"),
        }

    seen = run(connect, key, agent)

    uris = {t.uri_template: t.mime_type for t in seen["templates"]}
    for kind in ARTIFACT_KINDS:
        assert uris[f"loomwork://{kind.plural}/{{id}}"] == "application/json"
        assert uris[f"loomwork://{kind.plural}/{{id}}@{{label}}"] == "application/json"
    by_id = seen["by_id"]
    assert (by_id["persona_id"], by_id["kind"], by_id["version"], by_id["label"]) == (
        persona_id,
        "persona",
        2,
        "latest",
    )
    assert by_id["config"]["description"] == "Finds and cites"
    assert (seen["by_name"]["persona_id"], seen["by_name"]["version"]) == (persona_id, 1)
    assert seen["by_name"]["config"]["description"] == "Finds documents"
    assert seen["by_version"]["version"] == 1 and seen["by_version"]["label"] is None
    # The resources answer exactly what the HTTP API's resolve answers.
    assert (
        seen["latest"]
        == admin.client.get(f"/api/v5/resolve/personas/{persona_id}", headers=admin.headers).json()
        == by_id
    )
    assert seen["production"] == seen["by_name"] == seen["by_name_uri"]
    assert seen["production"]["label"] == "production" and seen["production"]["version"] == 1
    assert "404" in seen["no_label"]
    assert "Unknown resource" in seen["bad_uri"] and "personas" in seen["bad_uri"]

    # The person moves production; the agent's next read follows it.
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 2, "expected_version": 1})

    async def again(client: Client) -> dict[str, Any]:
        return await read(client, f"loomwork://personas/{persona_id}@production")

    moved = run(connect, key, again)
    assert moved["version"] == 2 and moved["config"]["description"] == "Finds and cites"


def test_an_agent_cannot_resolve_another_groups_artifact(make_api, connect, dialect):
    owner = make_api("admin", group="other")
    theirs = {
        kind.plural: owner.create(kind.plural, **{kind.name_slot.value_field: f"Zebra {kind.name}"})
        for kind in ARTIFACT_KINDS
    }
    persona_id = theirs[KIND]
    owner.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1})
    mine = make_api("admin", group="acme")
    key = agent_key(mine, make_api("editor", group="acme"))

    async def agent(client: Client) -> list[str]:
        answers = []
        for kind in ARTIFACT_KINDS:
            answers.append(await refused(client, f"{kind.plural}_resolve", {kind.id_field: theirs[kind.plural]}))
            answers.append(await refused(client, f"{kind.plural}_resolve", {"name": f"Zebra {kind.name}"}))
            answers.append(await not_readable(client, f"loomwork://{kind.plural}/{theirs[kind.plural]}"))
        answers.append(await not_readable(client, f"loomwork://personas/{persona_id}@production"))
        return answers

    answers = run(connect, key, agent)
    assert all("404" in a and "not_found" in a for a in answers), answers
    assert not any('"config"' in a or '"etag"' in a for a in answers)
