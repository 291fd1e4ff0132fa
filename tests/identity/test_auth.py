"""Who may call what (API.md sections 1 and 6), through HTTP, on SQLite and PostgreSQL.

The rules: no or bad key is 401; the key is stored only as a keyed hash; a role
too low is 403 naming the role needed, and writes nothing; an X-MCP caller
never decides (create, update, duplicate, delete are 403); and nothing crosses
a group: another group's id behaves exactly like an id that does not exist.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text

from conftest import Api, assert_error, make_key
from loomwork.db.all_models import metadata
from loomwork.db.database import Database

PERSONA_OPERATIONS = ("get", "create", "update", "duplicate", "delete")
WRITE_OPERATIONS = ("create", "update", "duplicate", "delete")


# --- helpers -----------------------------------------------------------------------------------------------


def body_for(operation: str, persona_id: str) -> dict[str, Any]:
    """A well-formed request body for each persona operation, aimed at one persona."""
    return {
        "get": {"persona_id": persona_id},
        "create": {"personas": [{"name": "Made by a refused caller"}]},
        "update": {"personas": [{"persona_id": persona_id, "name": "Renamed by a refused caller"}]},
        "duplicate": {"persona_id": persona_id},
        "delete": {"persona_ids": [persona_id]},
    }[operation]


def row_counts(db: Database) -> dict[str, int]:
    """How many rows every table holds: equal before and after means nothing was written."""
    with db.engine.connect() as conn:
        return {table.name: conn.scalar(select(func.count()).select_from(table)) for table in metadata.sorted_tables}


def call(client, operation: str, body: dict[str, Any], headers: dict[str, str]):
    return client.post(f"/api/v5/artifacts/personas/{operation}", json=body, headers=headers)


def selected_values(view: dict[str, Any], section: str) -> list[Any]:
    return [o["value"] for o in view[section]["options"] if o["selected"]]


def all_options(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Every option of every section (get sections and search facets alike)."""
    return [
        o
        for value in view.values()
        if isinstance(value, dict) and isinstance(value.get("options"), list)
        for o in value["options"]
    ]


def replace_id(data: Any, old: str, new: str) -> Any:
    """The same JSON with one id swapped, so two answers can be compared exactly."""
    if isinstance(data, dict):
        return {k: replace_id(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [replace_id(v, old, new) for v in data]
    if isinstance(data, str):
        return data.replace(old, new)
    return data


@pytest.fixture
def persona_id(api: Api) -> str:
    return api.create("personas", name="Guarded", description="Must not change")


# --- 401: no key, bad keys ---------------------------------------------------------------------------------


def test_no_key_is_401_unauthenticated_on_every_operation(client, db, persona_id) -> None:
    before = row_counts(db)
    for operation in PERSONA_OPERATIONS:
        data = assert_error(call(client, operation, body_for(operation, persona_id), {}), 401, "unauthenticated")
        assert "X-Api-Key" in data["detail"], (operation, data)  # says how to authenticate
    assert row_counts(db) == before


def _bad_keys(real_key: str) -> dict[str, str]:
    _, prefix, secret_part = real_key.split("_", 2)
    other_secret = secrets.token_urlsafe(32)
    assert other_secret != secret_part
    return {
        "malformed: no prefix": "not-a-key",
        "malformed: prefix only": "lw_",
        "malformed: empty parts": "lw__",
        "malformed: one part": f"lw_{prefix}",
        "malformed: wrong case": real_key.upper(),
        "malformed: sql-ish": "lw_' OR '1'='1_x",
        "malformed: huge": "lw_" + "a" * 5000 + "_b",
        "well-formed but unknown": f"lw_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}",
        "right prefix, wrong secret": f"lw_{prefix}_{other_secret}",
        "right prefix, secret one character off": real_key[:-1] + ("A" if real_key[-1] != "A" else "B"),
        "right key plus a suffix": real_key + "x",
    }


@pytest.mark.parametrize("header", ["X-Api-Key", "Authorization"])
def test_a_bad_key_is_401_whatever_its_shape(client, db, persona_id, header) -> None:
    real_key = make_key(db, "acme", "real-owner", "admin")
    for label, bad_key in _bad_keys(real_key).items():
        headers = {"X-Api-Key": bad_key} if header == "X-Api-Key" else {"Authorization": f"Bearer {bad_key}"}
        for operation in ("get", "create"):
            response = call(client, operation, body_for(operation, persona_id), headers)
            assert response.status_code == 401, (label, operation, response.text)
            assert response.json()["code"] == "unauthenticated", (label, response.text)


def test_the_key_works_as_x_api_key_and_as_bearer_token(client, api, persona_id) -> None:
    for headers in ({"X-Api-Key": api.key}, {"Authorization": f"Bearer {api.key}"}):
        response = call(client, "get", {"persona_id": persona_id}, headers)
        assert response.status_code == 200, (headers.keys(), response.text)
        assert selected_values(response.json(), "names") == ["Guarded"]
        created = call(client, "create", {"personas": [{"name": f"Via {next(iter(headers))}"}]}, headers)
        assert created.status_code == 200, created.text
        assert created.json()["results"][0]["success"], created.text


def test_the_bearer_scheme_is_required_for_the_authorization_header(client, api, persona_id) -> None:
    response = call(client, "get", {"persona_id": persona_id}, {"Authorization": api.key})
    assert_error(response, 401, "unauthenticated")


# --- the key at rest ---------------------------------------------------------------------------------------


def test_the_database_never_holds_the_plain_key(db, make_api) -> None:
    api_client = make_api("editor")
    key = api_client.key
    _, prefix, secret_part = key.split("_", 2)
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM api_keys"))]
    assert len(rows) == 1
    row = rows[0]
    assert row["prefix"] == prefix
    assert row["key_hash"] != key
    assert row["key_hash"] not in (
        hashlib.sha256(key.encode()).hexdigest(),
        hashlib.sha256(secret_part.encode()).hexdigest(),
    )
    for column, value in row.items():  # neither the key nor its secret part sits in any column
        assert key not in str(value), column
        assert secret_part not in str(value), column
    # And the key still authenticates: the hash is the only thing needed.
    assert api_client.op("personas", "get").status_code == 200


# --- 403: role too low -------------------------------------------------------------------------------------


def test_a_viewer_is_refused_every_write_with_403_naming_the_role(db, make_api, persona_id) -> None:
    viewer = make_api("viewer")
    before = row_counts(db)
    for operation in WRITE_OPERATIONS:
        data = assert_error(viewer.op("personas", operation, body_for(operation, persona_id)), 403, "forbidden")
        assert "editor" in data["detail"], (operation, data)
    assert row_counts(db) == before
    view = make_api("editor").ok("personas", "get", {"persona_id": persona_id})
    assert view["version"] == 1 and selected_values(view, "names") == ["Guarded"]


def test_a_viewer_can_get_but_the_form_says_it_cannot_edit(make_api, persona_id) -> None:
    viewer = make_api("viewer")
    view = viewer.ok("personas", "get", {"persona_id": persona_id})
    assert selected_values(view, "names") == ["Guarded"]
    assert view["can_edit"] is False
    assert view["disabled_reason"] and "editor" in view["disabled_reason"]


def test_an_editor_form_can_edit(api, persona_id) -> None:
    view = api.ok("personas", "get", {"persona_id": persona_id})
    assert view["can_edit"] is True
    assert view["disabled_reason"] is None


# --- 403: agents propose, never decide ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_an_agent_is_refused_every_write_even_as_editor_or_admin(db, make_api, persona_id, role) -> None:
    agent = make_api(role).as_agent()
    before = row_counts(db)
    for operation in WRITE_OPERATIONS:
        response = agent.op("personas", operation, body_for(operation, persona_id))
        assert response.status_code == 403, (operation, response.text)
        assert response.json()["detail"], response.text
    assert row_counts(db) == before
    # The same profile without X-MCP may: the refusal is about the agent, not the role.
    person = Api(agent.client, agent.key)
    assert person.op("personas", "update", body_for("update", persona_id)).json()["results"][0]["success"]


def test_an_agent_can_get_but_the_form_says_it_cannot_edit(make_api, persona_id) -> None:
    for role in ("viewer", "editor", "admin"):
        view = make_api(role).as_agent().ok("personas", "get", {"persona_id": persona_id})
        assert selected_values(view, "names") == ["Guarded"]
        assert view["can_edit"] is False, role
        assert view["disabled_reason"], (role, view)


def test_an_empty_x_mcp_header_is_not_an_agent(client, api, persona_id) -> None:
    response = call(client, "get", {"persona_id": persona_id}, {"X-Api-Key": api.key, "X-MCP": ""})
    assert response.status_code == 200, response.text
    assert response.json()["can_edit"] is True


# --- isolation between groups ------------------------------------------------------------------------------

GROUP_A_VALUES = {
    "name": "Zephyrine Alpha",
    "description": "Alpha-only description",
    "color": "#13579b",
    "instructions": "Alpha instructions for {{alpha_var}}",
    "examples": ["Alpha example one"],
    "departments": ["Alpha department"],
    "parameter_fields": ["alpha_var"],
    "voices": ["Alpha voice"],
    "scenarios": ["Alpha scenario"],
}


def _strings(values: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for value in values.values():
        out.update(value if isinstance(value, list) else [value])
    return out


@pytest.fixture
def two_groups(api: Api, make_api):
    """A persona in group acme (A) and an admin of group beta (B)."""
    a_id = api.create("personas", **GROUP_A_VALUES)
    a_view = api.ok("personas", "get", {"persona_id": a_id})
    return api, a_id, a_view, make_api("admin", "beta")


def test_another_groups_persona_is_404_like_a_missing_one(db, two_groups) -> None:
    a, a_id, a_view, b = two_groups
    missing = str(uuid.uuid4())
    before = row_counts(db)
    for operation in ("get", "duplicate"):
        theirs = b.op("personas", operation, body_for(operation, a_id))
        nobodys = b.op("personas", operation, body_for(operation, missing))
        assert theirs.status_code == 404, (operation, theirs.text)
        assert theirs.json()["code"] == "not_found", theirs.text
        assert (nobodys.status_code, replace_id(nobodys.json(), missing, a_id)) == (404, theirs.json()), operation
    for operation in ("update", "delete"):  # bulk: the item fails alone, with "not found"
        theirs = b.op("personas", operation, body_for(operation, a_id))
        nobodys = b.op("personas", operation, body_for(operation, missing))
        assert theirs.status_code != 403, theirs.text
        if theirs.status_code == 200:
            result = theirs.json()["results"][0]
            assert result["success"] is False and result["code"] == "not_found", result
        else:
            assert_error(theirs, 404, "not_found")
        assert nobodys.status_code == theirs.status_code, operation
        assert replace_id(nobodys.json(), missing, a_id) == theirs.json(), operation
    assert row_counts(db) == before
    assert a.ok("personas", "get", {"persona_id": a_id}) == a_view


def test_another_groups_resources_never_show_in_get_or_search(two_groups) -> None:
    a, a_id, a_view, b = two_groups
    a_resource_ids = {
        rid for value in a_view.values() if isinstance(value, dict) for rid in value.get("selected_ids") or []
    }
    assert len(a_resource_ids) >= len(GROUP_A_VALUES)
    a_values = _strings(GROUP_A_VALUES)
    b_get = b.ok("personas", "get", {})
    b_search = b.ok("personas", "search", {})
    b_text = b.ok("personas", "search", {"search": "Zephyrine"})
    for view in (b_get, b_search):
        for opt in all_options(view):
            assert str(opt["id"]) not in a_resource_ids, opt
            assert str(opt.get("value", opt.get("label"))) not in a_values, opt
            assert str(opt.get("label")) not in a_values, opt
    assert b_search["total_count"] == 0 and b_search["personas"] == []
    assert b_text["total_count"] == 0 and b_text["personas"] == []
    # Group A sees its own, so the checks above look at the right places.
    a_options = {str(o["id"]) for o in all_options(a.ok("personas", "get", {}))}
    assert a_resource_ids <= a_options
    assert a.ok("personas", "search", {"search": "Zephyrine"})["total_count"] == 1
    assert a.ok("personas", "get", {"persona_id": a_id}) == a_view


def test_selecting_another_groups_resource_is_not_found(db, two_groups) -> None:
    a, a_id, a_view, b = two_groups
    a_name_id = a_view["names"]["selected_ids"][0]
    a_color_id = a_view["colors"]["selected_ids"][0]
    a_department_id = a_view["departments"]["selected_ids"][0]
    b_id = b.create("personas", name="Beta own")
    b_view = b.ok("personas", "get", {"persona_id": b_id})
    before = row_counts(db)

    created = b.ok("personas", "create", {"personas": [{"name_id": a_name_id}]})["results"][0]
    assert created["success"] is False and created["code"] == "not_found", created
    for field, value in (("color_id", a_color_id), ("department_ids", [a_department_id])):
        updated = b.ok("personas", "update", {"personas": [{"persona_id": b_id, field: value}]})["results"][0]
        assert updated["success"] is False and updated["code"] == "not_found", (field, updated)
    drafted = b.op("personas", "draft", {"name_id": a_name_id}, method="PATCH")
    assert_error(drafted, 404, "not_found")

    assert row_counts(db) == before
    assert b.ok("personas", "get", {"persona_id": b_id}) == b_view
    assert a.ok("personas", "get", {"persona_id": a_id}) == a_view
    # The same id works in its own group, so "not found" above is about the group.
    own = a.ok("personas", "create", {"personas": [{"name_id": a_name_id, "description": "again"}]})["results"][0]
    assert own["success"], own
