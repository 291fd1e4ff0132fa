"""Per-model flags of evals and invocations (API.md section 4 rule 6, seeds 001 and 004), through HTTP.

Each test runs for evals and for invocations, on SQLite and PostgreSQL: the inline
`model_flags` pairs that upsert `{model_id, flag_id}` junction rows, the
`model_flag_values` entries that name a catalog flag by `(type, value)` and replace
the model's flag of that type, and departments given by name. Models are filled
through the resource route (seeds 001 and 004 select them only by id).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import assert_error
from loomwork.resources.models import Resource


@pytest.fixture(params=["evals", "invocations"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


# --- helpers -----------------------------------------------------------------------------------------------


def send(api, kind: str, body: dict[str, Any]):
    return api.op(kind, "draft", body, method="PATCH")


def ok(api, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    response = send(api, kind, body)
    assert response.status_code == 200, response.text
    return response.json()


def state_of(api, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(api, kind, body)["form_state"]


def draft_version(api, kind: str, draft_id: str) -> int:
    return api.ok(kind, "get", {"draft_id": draft_id})["draft_version"]


def make_models(api, *names: str) -> list[str]:
    response = api.post("/api/v5/resources/models/create", {"models": list(names)})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert all(r["success"] for r in results), results
    return [r["id"] for r in results]


def make_flag(api, kind: str, flag_type: str, value: str) -> str:
    """A catalog flag, made through the flags resource route."""
    (made,) = api.post("/api/v5/resources/flags/create", {"flags": [{"type": flag_type, "value": value}]}).json()[
        "results"
    ]
    assert made["success"], made
    return made["id"]


def pairs(state: dict[str, Any]) -> list[tuple[str, str]]:
    """The form state's model flags as (model_id, flag_id), in order, checked against their ids."""
    assert len(state["model_flags"]) == len(state["model_flag_ids"])
    return [(row["model_id"], row["flag_id"]) for row in state["model_flags"]]


def resource_count(db, kind: str) -> int:
    with db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Resource).where(Resource.kind == kind))


# --- inline model_flags ------------------------------------------------------------------------------------


def test_inline_model_flags_upsert_junction_rows_and_append_them_to_model_flag_ids(api, db, kind):
    gpt, claude = make_models(api, "gpt-4o", "claude")
    gold, silver = make_flag(api, kind, "tier", "gold"), make_flag(api, kind, "tier", "silver")

    made = ok(
        api,
        kind,
        {"name": "Bench", "model_flags": [{"model_id": gpt, "flag_id": gold}, {"model_id": gpt, "flag_id": gold}]},
    )
    state = made["form_state"]
    assert pairs(state) == [(gpt, gold)]  # the same pair twice is one row
    (gpt_gold,) = state["model_flag_ids"]

    state = state_of(
        api, kind, {"draft_id": made["draft_id"], "model_flags": [{"model_id": claude, "flag_id": silver}]}
    )
    assert pairs(state) == [(gpt, gold), (claude, silver)] and state["model_flag_ids"][0] == gpt_gold
    claude_silver = state["model_flag_ids"][1]

    # Upsert: the same pair elsewhere finds the same junction row.
    other = state_of(api, kind, {"name": "Other", "model_flags": [{"model_id": gpt, "flag_id": gold}]})
    assert other["model_flag_ids"] == [gpt_gold]
    assert resource_count(db, "model_flag") == 2

    # model_flag_ids replaces the selection, then the inline pairs are appended.
    state = state_of(
        api,
        kind,
        {
            "draft_id": made["draft_id"],
            "model_flag_ids": [claude_silver],
            "model_flags": [{"model_id": gpt, "flag_id": gold}],
        },
    )
    assert state["model_flag_ids"] == [claude_silver, gpt_gold]


def test_inline_model_flags_naming_no_model_or_no_flag_of_the_group_are_404_and_change_nothing(api, make_api, db, kind):
    (gpt,) = make_models(api, "gpt-4o")
    gold = make_flag(api, kind, "tier", "gold")
    (foreign_model,) = make_models(make_api("editor", group="globex"), "gpt-4o")
    made = ok(api, kind, {"name": "Bench", "model_flags": [{"model_id": gpt, "flag_id": gold}]})
    rows_before = resource_count(db, "model_flag")

    for wrong_model in (str(uuid.uuid4()), foreign_model, gold):
        response = send(
            api, kind, {"draft_id": made["draft_id"], "model_flags": [{"model_id": wrong_model, "flag_id": gold}]}
        )
        body = assert_error(response, 404, "not_found")
        assert "model_flags[0].model_id" in body["detail"] and wrong_model in body["detail"]
    body = assert_error(
        send(api, kind, {"draft_id": made["draft_id"], "model_flags": [{"model_id": gpt, "flag_id": gpt}]}),
        404,
        "not_found",
    )
    assert "model_flags[0].flag_id" in body["detail"]

    assert draft_version(api, kind, made["draft_id"]) == 1
    assert resource_count(db, "model_flag") == rows_before
    assert pairs(state_of(api, kind, {"draft_id": made["draft_id"]})) == [(gpt, gold)]


# --- model_flag_values -------------------------------------------------------------------------------------


def test_model_flag_values_resolve_type_and_value_to_the_existing_catalog_flag(api, db, kind):
    gpt, claude = make_models(api, "gpt-4o", "claude")
    gold = make_flag(api, kind, "tier", "gold")
    flags_before = resource_count(db, "flag")
    inline_row = state_of(api, kind, {"name": "Inline", "model_flags": [{"model_id": gpt, "flag_id": gold}]})

    state = state_of(
        api,
        kind,
        {
            "name": "Bench",
            "model_flag_values": [
                {"model_id": gpt, "type": "tier", "value": "gold"},
                {"model_id": claude, "type": "tier", "value": " gold "},
            ],
        },
    )

    assert pairs(state) == [(gpt, gold), (claude, gold)]
    assert state["model_flag_ids"][0] == inline_row["model_flag_ids"][0]  # the same junction row, upserted
    assert resource_count(db, "flag") == flags_before  # resolved, never created


def test_model_flag_values_with_an_unknown_type_and_value_are_422_and_change_nothing(api, db, kind):
    gpt, claude = make_models(api, "gpt-4o", "claude")
    make_flag(api, kind, "tier", "gold")
    made = ok(api, kind, {"name": "Bench", "model_flag_values": [{"model_id": gpt, "type": "tier", "value": "gold"}]})
    before = pairs(made["form_state"])
    counts = {k: resource_count(db, k) for k in ("flag", "model_flag")}

    for unknown in ({"type": "tier", "value": "platinum"}, {"type": "no_such_type", "value": "gold"}):
        response = send(
            api,
            kind,
            {
                "draft_id": made["draft_id"],
                "model_flag_values": [
                    {"model_id": claude, "type": "tier", "value": "gold"},
                    {"model_id": gpt, **unknown},
                ],
            },
        )
        body = assert_error(response, 422, "invalid")
        assert body["field"] == "model_flag_values" and "model_flag_values[1]" in body["detail"], body

    assert draft_version(api, kind, made["draft_id"]) == 1
    assert {k: resource_count(db, k) for k in counts} == counts  # the valid first entry left no row behind
    assert pairs(state_of(api, kind, {"draft_id": made["draft_id"]})) == before


def test_model_flag_values_naming_no_model_of_the_group_are_404(api, make_api, kind):
    make_flag(api, kind, "tier", "gold")
    (foreign_model,) = make_models(make_api("editor", group="globex"), "gpt-4o")
    made = ok(api, kind, {"name": "Bench"})
    for wrong_model in (str(uuid.uuid4()), foreign_model):
        response = send(
            api,
            kind,
            {
                "draft_id": made["draft_id"],
                "model_flag_values": [{"model_id": wrong_model, "type": "tier", "value": "gold"}],
            },
        )
        assert "model_flag_values[0].model_id" in assert_error(response, 404, "not_found")["detail"]
    assert draft_version(api, kind, made["draft_id"]) == 1


def test_a_model_flag_value_replaces_the_models_flag_of_that_type_and_keeps_the_others(api, kind):
    gpt, claude = make_models(api, "gpt-4o", "claude")
    gold, silver = make_flag(api, kind, "tier", "gold"), make_flag(api, kind, "tier", "silver")
    europe = make_flag(api, kind, "region", "eu")
    made = ok(
        api,
        kind,
        {
            "name": "Bench",
            "model_flag_values": [
                {"model_id": gpt, "type": "tier", "value": "gold"},
                {"model_id": gpt, "type": "region", "value": "eu"},
                {"model_id": claude, "type": "tier", "value": "gold"},
            ],
        },
    )
    assert pairs(made["form_state"]) == [(gpt, gold), (gpt, europe), (claude, gold)]

    state = state_of(
        api,
        kind,
        {"draft_id": made["draft_id"], "model_flag_values": [{"model_id": gpt, "type": "tier", "value": "silver"}]},
    )
    # Same model and type: replaced. Another type of that model, or another model: kept.
    assert pairs(state) == [(gpt, europe), (claude, gold), (gpt, silver)]

    # Within one patch, the later entry of a (model, type) replaces the earlier one.
    state = state_of(
        api,
        kind,
        {
            "draft_id": made["draft_id"],
            "model_flag_values": [
                {"model_id": claude, "type": "tier", "value": "silver"},
                {"model_id": claude, "type": "tier", "value": "gold"},
            ],
        },
    )
    assert pairs(state) == [(gpt, europe), (gpt, silver), (claude, gold)]

    # A row added inline is replaced the same way.
    state = state_of(
        api,
        kind,
        {
            "name": "Inline",
            "model_flags": [{"model_id": gpt, "flag_id": gold}],
            "model_flag_values": [{"model_id": gpt, "type": "tier", "value": "silver"}],
        },
    )
    assert pairs(state) == [(gpt, silver)]


# --- departments by name -----------------------------------------------------------------------------------


def test_departments_given_by_name_are_created_or_found_as_department_resources(api, db, kind):
    first = state_of(api, kind, {"name": "One", "departments": ["QA", "Research"]})
    assert first["departments"] == ["QA", "Research"]
    qa, research = first["department_ids"]
    departments_before = resource_count(db, "department")

    again = state_of(api, kind, {"name": "Two", "departments": ["  QA  ", "Ops"]})
    (created,) = api.ok(kind, "create", {kind: [{"name": "Three", "departments": ["Research"]}]})["results"]
    assert created["success"], created

    assert again["department_ids"][0] == qa and again["departments"] == ["QA", "Ops"]
    id_field = f"{kind[:-1]}_id"
    shown = api.ok(kind, "get", {id_field: created[id_field]})
    assert shown["departments"]["selected_ids"] == [research]
    assert resource_count(db, "department") == departments_before + 1  # only Ops is new
    listed = api.post("/api/v5/resources/departments/search", {"search": "QA"})
    assert listed.status_code == 200, listed.text
    assert [d["id"] for d in listed.json()["departments"] if d["value"] == "QA"] == [qa]
