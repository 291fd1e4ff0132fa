"""What is special about tools (API.md sections 3 and 4 rule 7, seed 002), through HTTP, on SQLite and PostgreSQL.

The generic draft rules run over every kind in test_kind_generic.py; here only the
tool's own: the `args_drafts` cards that replace the argument, position and output
selections at once, the `args_outputs_ids` alias, `instruction_id` appending, the
inline argument values, and the JSON Schema that `get` derives from the arguments
(a model's `parameters`, an MCP tool's `inputSchema`).
"""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
import mcp.types
import pytest
from sqlalchemy import func, select

from conftest import assert_error
from loomwork.resources.models import Resource

KIND = "tools"
LEGACY_PATH = "/tool/draft"
JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object"}


# --- helpers -----------------------------------------------------------------------------------------------


def send(api, body: dict[str, Any], route: str = "v5"):
    if route == "legacy":
        legacy = {("input_draft_id" if k == "draft_id" else k): v for k, v in body.items()}
        return api.post(LEGACY_PATH, legacy)
    return api.op(KIND, "draft", body, method="PATCH")


def ok(api, body: dict[str, Any], route: str = "v5") -> dict[str, Any]:
    response = send(api, body, route)
    assert response.status_code == 200, response.text
    return response.json()


def state_of(api, body: dict[str, Any], route: str = "v5") -> dict[str, Any]:
    return ok(api, body, route)["form_state"]


def view(api, **body: Any) -> dict[str, Any]:
    return api.ok(KIND, "get", body)


def resource_count(db, kind: str) -> int:
    with db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Resource).where(Resource.kind == kind))


def arg(name: str, type_: str = "string", **more: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **more}


def names(values: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in values]


def new_tool_draft(api, **fields: Any) -> tuple[str, dict[str, Any]]:
    made = ok(api, {"name": "Weather", **fields})
    return made["draft_id"], made["form_state"]


# --- rule 7: args_drafts -----------------------------------------------------------------------------------


def test_args_drafts_win_over_arg_position_and_output_ids_given_in_the_same_patch(api):
    draft_id, state = new_tool_draft(
        api, args=[arg("city"), arg("days", "integer")], args_outputs=[arg("temperature", "number")]
    )
    city_id, days_id = state["arg_ids"]
    state = state_of(
        api,
        {
            "draft_id": draft_id,
            "arg_positions": [{"arg_id": city_id, "position": 0}, {"arg_id": days_id, "position": 1}],
        },
    )
    old_positions, old_outputs = state["arg_position_ids"], state["args_output_ids"]
    assert len(old_positions) == 2 and len(old_outputs) == 1

    state = state_of(
        api,
        {
            "draft_id": draft_id,
            "arg_ids": [city_id, days_id],
            "arg_position_ids": old_positions,
            "args_output_ids": old_outputs,
            "args_drafts": [
                {
                    "name": "country",
                    "type": "string",
                    "description": "ISO code",
                    "required": True,
                    "output": {"name": "summary", "type": "string"},
                }
            ],
        },
    )

    assert state["args"] == [
        {"name": "country", "type": "string", "description": "ISO code", "required": True, "default": None}
    ]
    country_id = state["arg_ids"][0]
    assert len(state["arg_ids"]) == 1 and {city_id, days_id}.isdisjoint(state["arg_ids"])
    assert state["arg_positions"] == [{"arg_id": country_id, "position": 0}]
    assert set(old_positions).isdisjoint(state["arg_position_ids"])
    assert state["args_outputs"] == [{"name": "summary", "type": "string", "description": ""}]
    assert set(old_outputs).isdisjoint(state["args_output_ids"])
    schema = view(api, draft_id=draft_id)["arguments_schema"]
    assert list(schema["properties"]) == ["country"] and schema["required"] == ["country"]


def test_empty_args_drafts_clear_the_arguments_their_positions_and_outputs(api):
    draft_id, state = new_tool_draft(
        api, args=[arg("city")], args_outputs=[arg("temperature", "number")], instructions=["Call it for weather"]
    )
    assert state["arg_ids"] and state["args_output_ids"]

    state = state_of(api, {"draft_id": draft_id, "args_drafts": []})

    assert (state["arg_ids"], state["arg_position_ids"], state["args_output_ids"]) == ([], [], [])
    assert state["instructions"] == ["Call it for weather"]  # the other slots are not touched
    shown = view(api, draft_id=draft_id)
    assert shown["arguments_schema"]["properties"] == {} and shown["output_schema"]["properties"] == {}


def test_an_args_drafts_card_with_only_arg_id_keeps_that_argument_as_it_is(api):
    draft_id, state = new_tool_draft(
        api, args=[arg("city", description="Where", required=True), arg("days", "integer", default=3)]
    )
    city_id, days_id = state["arg_ids"]
    city, days = state["args"]

    state = state_of(
        api, {"draft_id": draft_id, "args_drafts": [{"arg_id": days_id}, {"arg_id": city_id, "position": 7}]}
    )

    assert state["arg_ids"] == [days_id, city_id]
    assert state["args"] == [days, city]  # the values are untouched, the ids the same
    # The position defaults to the card's index.
    assert state["arg_positions"] == [{"arg_id": days_id, "position": 0}, {"arg_id": city_id, "position": 7}]
    assert list(view(api, draft_id=draft_id)["arguments_schema"]["properties"]) == ["days", "city"]


def test_an_args_drafts_card_naming_an_unknown_or_another_groups_arg_id_is_404(api, make_api):
    draft_id, _state = new_tool_draft(api, args=[arg("city")])
    foreign = state_of(make_api("editor", group="globex"), {"name": "Theirs", "args": [arg("secret_arg")]})
    for arg_id in (str(uuid.uuid4()), foreign["arg_ids"][0], foreign["name_id"]):
        body = assert_error(send(api, {"draft_id": draft_id, "args_drafts": [{"arg_id": arg_id}]}), 404, "not_found")
        assert "args_drafts[0].arg_id" in body["detail"]
    assert view(api, draft_id=draft_id)["draft_version"] == 1


def test_an_args_drafts_card_without_name_or_arg_id_is_422_naming_args_drafts(api, db):
    draft_id, state = new_tool_draft(api, args=[arg("city")])
    args_before = resource_count(db, "arg")

    response = send(
        api,
        {
            "draft_id": draft_id,
            "args_drafts": [{"name": "ok", "type": "string"}, {"type": "string", "description": "no name"}],
        },
    )

    body = assert_error(response, 422, "invalid")
    assert body["field"] == "args_drafts" and "args_drafts[1]" in body["detail"]
    shown = view(api, draft_id=draft_id)
    assert shown["draft_version"] == 1 and shown["args"]["selected_ids"] == state["arg_ids"]
    assert resource_count(db, "arg") == args_before  # the valid first card left nothing behind


@pytest.mark.parametrize(
    ("field", "items", "named", "reason"),
    [
        ("args_drafts", [arg("ok"), arg("when", "date")], "args_drafts[1]", "type must be one of"),
        ("args_drafts", [arg("days", "integer", default="3")], "args_drafts[0]", "default must be of type integer"),
        (
            "args_drafts",
            [arg("ok", output={"name": "out", "type": "float"})],
            "args_drafts[0].output",
            "type must be one of",
        ),
        ("args", [arg("ok"), arg("flag", "bool")], "args[1]", "type must be one of"),
        ("args", [arg("days", "integer", default=True)], "args[0]", "default must be of type integer"),
        ("args", [arg("days", "integer", default=1.5)], "args[0]", "default must be of type integer"),
        ("args", [arg("on", "boolean", default="true")], "args[0]", "default must be of type boolean"),
        ("args", [arg("tags", "array", default={"a": 1})], "args[0]", "default must be of type array"),
        ("args_outputs", [arg("ok"), arg("at", "datetime")], "args_outputs[1]", "type must be one of"),
    ],
    ids=[
        "drafts-type",
        "drafts-default",
        "drafts-output-type",
        "args-type",
        "args-bool-for-integer",
        "args-float-for-integer",
        "args-text-for-boolean",
        "args-object-for-array",
        "outputs-type",
    ],
)
def test_an_invalid_argument_type_or_a_default_of_another_type_is_422_naming_the_field(
    api, db, field, items, named, reason
):
    draft_id, _state = new_tool_draft(api)
    counts = {kind: resource_count(db, kind) for kind in ("arg", "arg_position", "args_output")}

    body = assert_error(send(api, {"draft_id": draft_id, field: items}), 422, "invalid")

    assert body["field"] == named and body["detail"].startswith(named) and reason in body["detail"], body
    assert view(api, draft_id=draft_id)["draft_version"] == 1
    assert {kind: resource_count(db, kind) for kind in counts} == counts


# --- rule 7: the alias and the appended instruction --------------------------------------------------------


@pytest.mark.parametrize("route", ["v5", "legacy"])
def test_args_outputs_ids_alias_feeds_args_output_ids_and_the_canonical_field_wins(api, route):
    draft_id, state = new_tool_draft(api, args_outputs=[arg("low", "number"), arg("high", "number")])
    low, high = state["args_output_ids"]

    state = state_of(api, {"draft_id": draft_id, "args_outputs_ids": [high]}, route)
    assert state["args_output_ids"] == [high] and names(state["args_outputs"]) == ["high"]

    state = state_of(api, {"draft_id": draft_id, "args_outputs_ids": [high], "args_output_ids": [low]}, route)
    assert state["args_output_ids"] == [low]

    state = state_of(api, {"draft_id": draft_id, "args_outputs_ids": [low, high], "args_output_ids": []}, route)
    assert state["args_output_ids"] == []


def test_an_unknown_id_given_through_the_args_outputs_ids_alias_is_404(api):
    draft_id, _state = new_tool_draft(api, args_outputs=[arg("low", "number")])
    missing = str(uuid.uuid4())
    body = assert_error(send(api, {"draft_id": draft_id, "args_outputs_ids": [missing]}), 404, "not_found")
    assert missing in body["detail"] and body["field"] in ("args_outputs_ids", "args_output_ids")
    assert view(api, draft_id=draft_id)["draft_version"] == 1


def test_instruction_id_is_appended_to_instruction_ids_not_replacing_them(api):
    draft_id, state = new_tool_draft(api, instructions=["First", "Second"])
    first, second = state["instruction_ids"]
    third = state_of(api, {"name": "Other", "instructions": ["Third"]})["instruction_ids"][0]

    state = state_of(api, {"draft_id": draft_id, "instruction_id": third})
    assert state["instruction_ids"] == [first, second, third]
    assert state["instructions"] == ["First", "Second", "Third"]

    # With instruction_ids in the same patch: the ids replace, then the single id is appended.
    state = state_of(api, {"draft_id": draft_id, "instruction_ids": [second], "instruction_id": first})
    assert state["instructions"] == ["Second", "First"]
    # Appending one already selected keeps its first place.
    state = state_of(api, {"draft_id": draft_id, "instruction_id": second})
    assert state["instructions"] == ["Second", "First"]

    body = assert_error(send(api, {"draft_id": draft_id, "instruction_id": str(uuid.uuid4())}), 404, "not_found")
    assert "instruction_id" in body["detail"]


# --- inline argument values --------------------------------------------------------------------------------


def test_inline_args_and_args_outputs_are_created_or_found_and_appended(api, db):
    draft_id, state = new_tool_draft(
        api, args=[arg("city", description="Where")], args_outputs=[arg("temperature", "number")]
    )
    (city_id,), (temperature_id,) = state["arg_ids"], state["args_output_ids"]
    args_before, outputs_before = resource_count(db, "arg"), resource_count(db, "args_output")

    state = state_of(
        api,
        {
            "draft_id": draft_id,
            "args": [arg("days", "integer", default=3), arg("city", description="Where")],
            "args_outputs": [arg("temperature", "number"), arg("unit", description="C or F")],
        },
    )

    assert names(state["args"]) == ["city", "days"] and state["arg_ids"][0] == city_id
    assert state["args"][1] == {"name": "days", "type": "integer", "description": "", "required": False, "default": 3}
    assert names(state["args_outputs"]) == ["temperature", "unit"] and state["args_output_ids"][0] == temperature_id
    # The repeated values were found, not made again.
    assert resource_count(db, "arg") == args_before + 1
    assert resource_count(db, "args_output") == outputs_before + 1
    # arg_ids replaces, then inline args are appended.
    state = state_of(api, {"draft_id": draft_id, "arg_ids": [state["arg_ids"][1]], "args": [arg("zip")]})
    assert names(state["args"]) == ["days", "zip"]


def test_inline_arg_positions_point_at_an_arg_of_the_group_else_404(api, make_api):
    draft_id, state = new_tool_draft(api, args=[arg("city"), arg("days", "integer")])
    city_id, days_id = state["arg_ids"]

    state = state_of(
        api,
        {
            "draft_id": draft_id,
            "arg_positions": [{"arg_id": days_id, "position": 0}, {"arg_id": city_id, "position": 1}],
        },
    )
    assert state["arg_positions"] == [{"arg_id": days_id, "position": 0}, {"arg_id": city_id, "position": 1}]
    again = state_of(api, {"name": "Twin", "arg_positions": [{"arg_id": days_id, "position": 0}]})
    assert again["arg_position_ids"] == state["arg_position_ids"][:1]  # the same {arg_id, position} row

    foreign = state_of(make_api("editor", group="globex"), {"name": "Theirs", "args": [arg("city")]})
    for wrong in (str(uuid.uuid4()), foreign["arg_ids"][0], state["name_id"]):
        body = assert_error(
            send(api, {"draft_id": draft_id, "arg_positions": [{"arg_id": wrong, "position": 2}]}), 404, "not_found"
        )
        assert "arg_positions[0].arg_id" in body["detail"]
    assert view(api, draft_id=draft_id)["draft_version"] == 2

    # The referenced argument may come by value instead: it is created-or-found.
    state = state_of(api, {"draft_id": draft_id, "arg_positions": [{"arg": arg("city"), "position": 5}]})
    assert state["arg_positions"][-1] == {"arg_id": city_id, "position": 5}


# --- the JSON Schema get derives ---------------------------------------------------------------------------


def _cards() -> list[dict[str, Any]]:
    """Five argument cards whose positions differ from their order, with falsy defaults that must survive."""
    return [
        {"name": "units", "type": "string", "description": "metric or imperial", "default": "metric", "position": 3},
        {
            "name": "city",
            "type": "string",
            "description": "City name",
            "required": True,
            "position": 0,
            "output": {"name": "temperature", "type": "number", "description": "Degrees"},
        },
        {
            "name": "days",
            "type": "integer",
            "required": True,
            "default": 0,
            "position": 1,
            "output": {"name": "conditions", "type": "array"},
        },
        {"name": "hourly", "type": "boolean", "default": False, "position": 2},
        {"name": "extra", "type": "object", "position": 4},
    ]


EXPECTED_ARGUMENTS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer", "default": 0},
        "hourly": {"type": "boolean", "default": False},
        "units": {"type": "string", "description": "metric or imperial", "default": "metric"},
        "extra": {"type": "object"},
    },
    "required": ["city", "days"],
}
EXPECTED_OUTPUTS = {
    "type": "object",
    "properties": {"temperature": {"type": "number", "description": "Degrees"}, "conditions": {"type": "array"}},
    "required": [],
}


def _without_extras(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: schema[k] for k in ("type", "properties", "required")}


def test_get_shows_the_arguments_as_a_json_schema_object_in_position_order(api):
    draft_id, _state = new_tool_draft(api, args_drafts=_cards())

    for shown in (view(api, draft_id=draft_id), view(api, tool_id=api.create(KIND, draft_id=draft_id))):
        schema = shown["arguments_schema"]
        assert _without_extras(schema) == EXPECTED_ARGUMENTS
        assert list(schema["properties"]) == ["city", "days", "hourly", "units", "extra"]  # position order
        assert schema.get("additionalProperties") in (None, False)
        assert _without_extras(shown["output_schema"]) == EXPECTED_OUTPUTS
        assert list(shown["output_schema"]["properties"]) == ["temperature", "conditions"]


def test_arg_positions_order_the_schema_of_arguments_selected_by_id(api):
    draft_id, state = new_tool_draft(api, args=[arg("a"), arg("b"), arg("c")])
    a, b, c = state["arg_ids"]
    assert list(view(api, draft_id=draft_id)["arguments_schema"]["properties"]) == ["a", "b", "c"]

    ok(
        api,
        {
            "draft_id": draft_id,
            "arg_positions": [{"arg_id": c, "position": 0}, {"arg_id": a, "position": 1}, {"arg_id": b, "position": 2}],
        },
    )

    assert list(view(api, draft_id=draft_id)["arguments_schema"]["properties"]) == ["c", "a", "b"]


def test_pending_arguments_and_outputs_are_left_out_of_the_schemas(api):
    draft_id, state = new_tool_draft(api, args_drafts=_cards())
    by_name = dict(zip(names(state["args"]), state["arg_ids"]))
    temperature_id = state["args_output_ids"][0]

    ok(api, {"draft_id": draft_id, "pending_ids": [by_name["city"], by_name["hourly"], temperature_id]})

    shown = view(api, draft_id=draft_id)
    assert list(shown["arguments_schema"]["properties"]) == ["days", "units", "extra"]
    assert shown["arguments_schema"]["required"] == ["days"]
    assert list(shown["output_schema"]["properties"]) == ["conditions"]
    # Pending, not gone: still selected, and live again once no longer pending.
    assert by_name["city"] in shown["args"]["selected_ids"]
    ok(api, {"draft_id": draft_id, "pending_ids": []})
    assert _without_extras(view(api, draft_id=draft_id)["arguments_schema"]) == EXPECTED_ARGUMENTS


def test_the_arguments_schema_is_valid_json_schema_usable_as_an_mcp_input_schema(api):
    draft_id, _state = new_tool_draft(
        api, args_drafts=_cards() + [{"name": "ratio", "type": "number"}, {"name": "tags", "type": "array"}]
    )
    empty_id, _ = new_tool_draft(api)

    for schema in (view(api, draft_id=draft_id)["arguments_schema"], view(api, draft_id=empty_id)["arguments_schema"]):
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and isinstance(schema["properties"], dict)
        assert all(prop["type"] in JSON_TYPES for prop in schema["properties"].values())
        assert len(schema["required"]) == len(set(schema["required"]))
        assert set(schema["required"]) <= set(schema["properties"])
        tool = mcp.types.Tool(name="weather", inputSchema=schema)
        assert tool.model_dump(by_alias=True)["inputSchema"] == schema

    schema = view(api, draft_id=draft_id)["arguments_schema"]
    assert {p["type"] for p in schema["properties"].values()} == JSON_TYPES
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(
        {"city": "Oslo", "days": 2, "hourly": True, "units": "metric", "extra": {}, "ratio": 0.5, "tags": ["x"]}
    )
    validator.validate({"city": "Oslo", "days": 2})
    assert not validator.is_valid({"days": 2})  # city is required
    assert not validator.is_valid({"city": "Oslo", "days": "two"})  # days is an integer


def test_two_arguments_with_one_name_never_make_an_invalid_or_lossy_schema(api):
    response = send(
        api, {"name": "Weather", "args": [arg("city", required=True), arg("city", "integer", required=True)]}
    )
    if response.status_code == 422:  # refusing the ambiguous pair is one right answer
        assert "args" in assert_error(response, 422, "invalid")["detail"]
        return
    assert response.status_code == 200, response.text
    schema = view(api, draft_id=response.json()["draft_id"])["arguments_schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert len(schema["properties"]) == 2, schema  # no argument may vanish from the schema
