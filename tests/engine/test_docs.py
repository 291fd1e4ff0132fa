"""Docs (API.md section 5): what an artifact kind's `docs` operation derives from its declaration, through
HTTP, on SQLite and PostgreSQL.

The rules (permissions per role, the API operations, page metadata) are the engine's; they run through the
persona kind, so the slot and resource names listed here are the persona's declaration (persona-specific).
"""

from __future__ import annotations

import uuid
from typing import Any

from test_kind_generic import OPERATION_ROLES

from conftest import assert_error

KIND = "personas"


SLOT_FIELDS = [
    "name",
    "description",
    "color",
    "icon",
    "instructions",
    "flags",
    "examples",
    "departments",
    "parameter_fields",
    "voices",
    "scenarios",
]
SLOT_NAMES = [
    ("name", "names"),
    ("description", "descriptions"),
    ("color", "colors"),
    ("icon", "icons"),
    ("instructions", "instructions"),
    ("flag", "flags"),
    ("example", "examples"),
    ("department", "departments"),
    ("parameter_field", "parameter_fields"),
    ("voice", "voices"),
    ("scenario", "scenarios"),
]
RESOURCE_KINDS = {
    "name",
    "description",
    "color",
    "icon",
    "instruction",
    "flag",
    "example",
    "department",
    "parameter_field",
    "voice",
    "scenario",
}
RANK = {"viewer": 0, "editor": 1, "admin": 2}


def docs(api, **body: Any) -> dict[str, Any]:
    return api.ok(KIND, "docs", body)


def permissions(answer: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """operation (the last part of its v5 path) -> (role, allowed)."""
    prefix = f"/api/v5/artifacts/{KIND}/"
    listed = {}
    for p in answer["permissions"]:
        assert p["path"].startswith(prefix), p
        listed[p["path"][len(prefix) :]] = (p["role"], p["allowed"])
    return listed


def test_docs_describe_the_persona_kind_from_its_declaration(api):
    answer = docs(api)

    assert "persona" in answer["name"].lower() and "persona" in answer["type"].lower()
    assert isinstance(answer["description"], str) and answer["description"].strip()
    fields = {f["name"]: f for f in answer["artifact"]["fields"]}
    assert set(SLOT_FIELDS) <= set(fields), sorted(fields)
    assert fields["name"]["required"] is True
    assert all(fields[f]["required"] is False for f in SLOT_FIELDS if f != "name")
    assert answer["entries"] and all(e["fields"] for e in answer["entries"])
    entry_names = {e["name"] for e in answer["entries"]}
    for key, section in SLOT_NAMES:  # an entry per slot, named by its key or its section
        assert {key, section} & entry_names, (key, entry_names)
    resource_names = {r["name"] for r in answer["resources"]}
    assert resource_names >= RESOURCE_KINDS, resource_names
    assert all(r["fields"] for r in answer["resources"])
    assert answer["page_metadata"] is None


def test_docs_permissions_say_each_operations_role_and_whether_the_caller_has_it(make_api):
    for role in ("viewer", "editor", "admin"):
        listed = permissions(docs(make_api(role)))
        assert {op: r for op, (r, _) in listed.items()} == OPERATION_ROLES, role
        for op, (needed, allowed) in listed.items():
            assert allowed is (RANK[role] >= RANK[needed]), (role, op)


def test_docs_permissions_for_an_agent_allow_reading_and_proposing_but_not_deciding(api):
    listed = permissions(docs(api.as_agent()))

    for op in ("create", "update", "duplicate", "delete", "import", "refresh"):
        assert listed[op][1] is False, op
    for op in ("get", "search", "drafts", "docs", "export", "draft"):
        assert listed[op][1] is True, op
    assert permissions(docs(api))["create"][1] is True  # the same profile without X-MCP may create


def test_docs_api_operations_list_every_route_with_method_path_and_summary(api):
    answer = docs(api)

    routes = {(o["method"], o["path"]) for o in answer["api_operations"]}
    expected = {("PATCH" if op == "draft" else "POST", f"/api/v5/artifacts/{KIND}/{op}") for op in OPERATION_ROLES}
    assert expected | {("POST", "/persona/draft")} <= routes, sorted(routes)
    assert all(isinstance(o["summary"], str) and o["summary"].strip() for o in answer["api_operations"])
    legacy = next(o for o in answer["api_operations"] if o["path"] == "/persona/draft")
    assert legacy["role"] == "editor"


def test_docs_entity_id_fills_page_metadata_with_name_and_version(api, make_api):
    persona_id = api.create(KIND, name="Ada Lovelace")
    api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, "description": "Counts."}]})

    meta = docs(api, entity_id=persona_id)["page_metadata"]

    assert meta["entity_id"] == persona_id
    assert meta.get("title", meta.get("name")) == "Ada Lovelace"
    assert meta["version"] == 2
    assert docs(make_api("viewer"), entity_id=persona_id)["page_metadata"]["version"] == 2


def test_docs_with_an_unknown_or_other_group_entity_is_404(api, make_api):
    assert_error(api.op(KIND, "docs", {"entity_id": str(uuid.uuid4())}), 404)
    foreign = make_api("editor", "other").create(KIND, name="Elsewhere")
    assert_error(api.op(KIND, "docs", {"entity_id": foreign}), 404)
    assert_error(api.op(KIND, "docs", {"entity_id": "not-a-uuid"}), 422)
