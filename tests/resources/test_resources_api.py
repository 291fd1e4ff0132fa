"""The resources API (API.md section 2): search, bulk create, get with users, bulk delete, for every
resource kind, through HTTP on SQLite and PostgreSQL.

Every resource kind is created, found, read with its users and deleted when unused; values are
normalised and deduped by their kind's rules, a bad item fails alone and names its field; an
invocation is composed only from ids made here; `in_use` protects what an artifact, an open
draft or another resource holds; keys come back masked; roles and groups fence it all.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conftest import assert_error
from loomwork.resources.kinds import RESOURCE_KINDS
from samples import SAMPLES, SECRET


def test_every_resource_kind_has_a_sample_here():
    """A new resource kind must be added above, so the tests below cover it too."""
    assert set(SAMPLES) == set(RESOURCE_KINDS)


def resources(api, plural: str, operation: str, body: dict[str, Any]):
    return api.post(f"/api/v5/resources/{plural}/{operation}", body)


def ok(api, plural: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    response = resources(api, plural, operation, body)
    assert response.status_code == 200, response.text
    return response.json()


def create(api, name: str, *values: Any) -> list[dict[str, Any]]:
    """Create values of one kind; every item must succeed. Returns the results."""
    plural = RESOURCE_KINDS[name].plural
    results = ok(api, plural, "create", {plural: list(values)})["results"]
    assert all(r["success"] for r in results), results
    return results


def create_id(api, name: str, value: Any) -> str:
    return create(api, name, value)[0]["id"]


def assert_not_found(api, name: str, resource_id: str) -> None:
    assert_error(resources(api, RESOURCE_KINDS[name].plural, "get", {"id": resource_id}), 404, "not_found")


# --- every kind: create, find, read, delete -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_kind_is_created_found_read_and_deleted_when_unused(api, dialect, name):
    kind = RESOURCE_KINDS[name]
    (made,) = create(api, name, SAMPLES[name])
    assert made["created"] is True and made["kind"] == name and made["label"]

    found = ok(api, kind.plural, "search", {"page_size": 200})
    assert made["id"] in [r["id"] for r in found[kind.plural]]
    assert found["total_count"] == len(found[kind.plural]) >= 1

    shown = ok(api, kind.plural, "get", {"id": made["id"]})
    assert shown["value"] == made["value"] and shown["label"] == made["label"] and shown["users"] == []

    (deleted,) = ok(api, kind.plural, "delete", {"ids": [made["id"]]})["results"]
    assert deleted["success"] is True and deleted["id"] == made["id"]
    assert_not_found(api, name, made["id"])
    after = ok(api, kind.plural, "search", {"page_size": 200})
    assert made["id"] not in [r["id"] for r in after[kind.plural]]
    assert after["total_count"] == found["total_count"] - 1


def test_values_are_normalised_and_deduped_by_their_kind(api, dialect):
    first, again = create(api, "color", "#ABCDEF", "#abcdef")
    assert first["value"] == "#abcdef" and first["created"] is True
    assert again["id"] == first["id"] and again["created"] is False

    (flag,) = create(api, "flag", {"type": "beta", "value": True})
    assert flag["value"] == {"type": "beta", "value": "true"} and flag["label"] == "beta: true"

    (icon,) = create(
        api,
        "icon",
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'
        '<rect width="4" height="4" onclick="steal()"/></svg>',
    )
    assert "script" not in icon["value"] and "onclick" not in icon["value"] and "<rect" in icon["value"]

    (arg,) = create(api, "arg", {"name": " city ", "type": "string"})
    assert arg["value"] == {"name": "city", "type": "string", "description": "", "required": False, "default": None}

    model_id = create_id(api, "model", "gpt-4o")
    judge = ok(api, "flags", "search", {"search": "eval_role judge"})["flags"][0]["id"]
    by_id, by_value = create(
        api,
        "model_flag",
        {"model_id": model_id, "flag_id": judge},
        {"model": "gpt-4o", "flag": {"type": "eval_role", "value": "judge"}},
    )
    assert by_value["id"] == by_id["id"] and by_value["created"] is False
    assert by_id["value"] == {"model_id": model_id, "flag_id": judge}
    assert by_id["label"] == "gpt-4o · eval_role: judge"


def test_a_bad_item_fails_alone_and_names_its_field(api, dialect):
    model_id = create_id(api, "model", "gpt-4o")
    results = ok(api, "colors", "create", {"colors": ["#112233", "teal", "#445566"]})["results"]
    assert [r["success"] for r in results] == [True, False, True]
    assert (
        results[1]["code"] == "invalid" and results[1]["field"] == "colors[1]" and "colors[1]" in results[1]["message"]
    )

    results = ok(
        api,
        "model_flags",
        "create",
        {
            "model_flags": [
                {"model_id": str(uuid.uuid4()), "flag": {"type": "eval_role", "value": "judge"}},
                {"model_id": model_id, "flag_id": model_id},  # a model is not a flag
                {"model_id": model_id},
            ]
        },
    )["results"]
    assert [(r["success"], r["code"], r["field"]) for r in results] == [
        (False, "not_found", "model_flags[0].model_id"),
        (False, "not_found", "model_flags[1].flag_id"),
        (False, "invalid", "model_flags[2]"),
    ]
    # The failed first item created nothing, not even the flag it gave by value.
    assert ok(api, "model_flags", "search", {})["total_count"] == 0

    assert_error(resources(api, "colors", "create", {"colors": []}), 422)
    assert_error(resources(api, "colors", "create", {"colours": ["#fff"]}), 422)
    assert_error(resources(api, "colors", "get", {"id": "not-a-uuid"}), 422)


def test_search_matches_every_word_and_pages(api, dialect):
    create(
        api,
        "endpoint",
        "https://eu.example.com/v1",
        "https://us.example.com/v1",
        "https://eu.example.com/v2",
        "100%_literal",
    )
    found = ok(api, "endpoints", "search", {"search": "EU V2"})
    assert [r["value"] for r in found["endpoints"]] == ["https://eu.example.com/v2"] and found["total_count"] == 1
    assert ok(api, "endpoints", "search", {"search": "%_"})["total_count"] == 1  # LIKE characters match literally

    first = ok(api, "endpoints", "search", {"search": "example", "page_size": 2})
    rest = ok(api, "endpoints", "search", {"search": "example", "page_size": 2, "page_offset": 2})
    assert first["total_count"] == rest["total_count"] == 3
    assert len(first["endpoints"]) == 2 and len(rest["endpoints"]) == 1
    assert not {r["id"] for r in first["endpoints"]} & {r["id"] for r in rest["endpoints"]}
    past = ok(api, "endpoints", "search", {"search": "example", "page_offset": 50})
    assert past == {"endpoints": [], "total_count": 3}


# --- composing an artifact from the catalog -----------------------------------------------------------------


def compose_invocation(api) -> tuple[str, dict[str, str]]:
    """An invocation whose every slot is selected by an id made through the resources API."""
    ids = {
        name: create_id(api, name, SAMPLES[name])
        for name in (
            "name",
            "description",
            "value",
            "department",
            "key",
            "endpoint",
            "modality",
            "temperature_level",
            "pricing",
            "reasoning_level",
            "quality",
            "voice",
            "model_position",
            "model_rubric",
        )
    }
    primary = ok(api, "flags", "search", {"search": "invocation_role primary"})["flags"][0]["id"]
    ids["model_flag"] = create_id(
        api, "model_flag", {"model_id": create_id(api, "model", "gpt-4o"), "flag_id": primary}
    )
    many = {"department", "modality", "quality", "voice", "model_flag", "model_position", "model_rubric"}
    body = {
        f"{name}_ids" if name in many else f"{name}_id": [rid] if name in many else rid for name, rid in ids.items()
    }
    invocation_id = api.create("invocations", **body)
    return invocation_id, ids


def test_an_invocation_is_composed_entirely_from_ids_made_here(api, dialect):
    invocation_id, ids = compose_invocation(api)
    shown = api.ok("invocations", "get", {"invocation_id": invocation_id})
    sections = {
        "name": "names",
        "description": "descriptions",
        "value": "values",
        "department": "departments",
        "key": "keys",
        "endpoint": "endpoints",
        "modality": "modalities",
        "temperature_level": "temperature_levels",
        "pricing": "pricings",
        "reasoning_level": "reasoning_levels",
        "quality": "qualities",
        "voice": "voices",
        "model_flag": "model_flags",
        "model_position": "model_positions",
        "model_rubric": "model_rubrics",
    }
    assert set(sections) == set(ids)
    for name, section in sections.items():
        assert shown[section]["selected_ids"] == [ids[name]], section

    key = ok(api, "keys", "get", {"id": ids["key"]})
    assert key["users"] == [
        {
            "type": "artifact",
            "id": invocation_id,
            "kind": "invocation",
            "name": SAMPLES["name"],
            "slot": "key",
            "active": True,
        }
    ]
    (listed,) = ok(api, "keys", "search", {})["keys"]
    assert listed["used_by"] == {"invocation": {"active": 1, "pending": 0}}


def test_pending_use_is_counted_apart_from_live_use(api, dialect):
    invocation_id, ids = compose_invocation(api)
    other_modality = create_id(api, "modality", "audio")
    api.ok(
        "invocations",
        "update",
        {
            "invocations": [
                {
                    "invocation_id": invocation_id,
                    "modality_ids": [ids["modality"], other_modality],
                    "pending_ids": [other_modality],
                }
            ]
        },
    )
    counted = {r["id"]: r["used_by"] for r in ok(api, "modalities", "search", {})["modalities"]}
    assert counted[ids["modality"]] == {"invocation": {"active": 1, "pending": 0}}
    assert counted[other_modality] == {"invocation": {"active": 0, "pending": 1}}


# --- in_use -------------------------------------------------------------------------------------------------


def test_in_use_protects_what_an_artifact_holds_until_it_is_gone(api, dialect):
    invocation_id, ids = compose_invocation(api)
    spare = create_id(api, "endpoint", "https://spare.example.com")
    results = ok(api, "endpoints", "delete", {"ids": [ids["endpoint"], spare]})["results"]
    held, freed = results
    assert held["success"] is False and held["code"] == "in_use" and SAMPLES["name"] in held["message"]
    assert held["users"] == [
        {
            "type": "artifact",
            "id": invocation_id,
            "kind": "invocation",
            "name": SAMPLES["name"],
            "slot": "endpoint",
            "active": True,
        }
    ]
    assert freed["success"] is True
    assert ok(api, "endpoints", "get", {"id": ids["endpoint"]})["value"] == SAMPLES["endpoint"]

    api.ok("invocations", "delete", {"invocation_ids": [invocation_id]})
    (deleted,) = ok(api, "endpoints", "delete", {"ids": [ids["endpoint"]]})["results"]
    assert deleted["success"] is True


def test_in_use_protects_what_an_open_draft_holds(api, dialect):
    pricing = create_id(api, "pricing", "batch")
    draft = api.op("invocations", "draft", {"name": "Drafted", "pricing_id": pricing}, method="PATCH")
    assert draft.status_code == 200, draft.text
    (held,) = ok(api, "pricings", "delete", {"ids": [pricing]})["results"]
    assert held["code"] == "in_use"
    assert [(u["type"], u["id"], u["kind"]) for u in held["users"]] == [
        ("draft", draft.json()["draft_id"], "invocation")
    ]


def test_in_use_protects_what_another_resource_points_at(api, dialect):
    model_id = create_id(api, "model", "o3")
    model_flag = create_id(
        api, "model_flag", {"model_id": model_id, "flag": {"type": "eval_role", "value": "baseline"}}
    )
    (held,) = ok(api, "models", "delete", {"ids": [model_id]})["results"]
    assert held["code"] == "in_use"
    assert [(u["type"], u["id"], u["kind"]) for u in held["users"]] == [("resource", model_flag, "model_flag")]
    assert ok(api, "models", "get", {"id": model_id})["users"] == held["users"]
    ok(api, "model_flags", "delete", {"ids": [model_flag]})
    assert ok(api, "models", "delete", {"ids": [model_id]})["results"][0]["success"] is True


# --- keys ---------------------------------------------------------------------------------------------------


def test_a_keys_secret_never_comes_back_in_plain(api, dialect):
    made = resources(api, "keys", "create", {"keys": [SAMPLES["key"], SAMPLES["key"]]})
    first, again = made.json()["results"]
    # Keys never dedupe (README, "Provider keys"): the same name and secret make a second key, so a
    # right guess of someone's secret answers exactly like a wrong one.
    assert again["id"] != first["id"] and again["created"] is True and first["created"] is True
    key_id = first["id"]
    invocation = api.create("invocations", name="Keyed", key_id=key_id)
    bodies = [
        made,
        resources(api, "keys", "search", {}),
        resources(api, "keys", "search", {"search": "openai"}),
        resources(api, "keys", "get", {"id": key_id}),
        resources(api, "keys", "delete", {"ids": [key_id]}),
        api.op("invocations", "get", {"invocation_id": invocation}),
    ]
    for response in bodies:
        assert response.status_code == 200, response.text
        assert SECRET not in response.text and SECRET[8:20] not in response.text, response.request.url
    assert (
        first["value"] == {"name": "openai-prod", "secret": "****tail"} and first["label"] == "openai-prod (****tail)"
    )
    # The secret is stored encrypted, so a search cannot match it either.
    assert ok(api, "keys", "search", {"search": "Hq4Wn7Zt2K"})["total_count"] == 0


# --- roles, agents and groups -------------------------------------------------------------------------------


def test_viewers_read_editors_write_agents_only_read(api, make_api, dialect):
    color = create_id(api, "color", "#010203")
    viewer = make_api("viewer")
    assert ok(viewer, "colors", "get", {"id": color})["value"] == "#010203"
    assert ok(viewer, "colors", "search", {})["total_count"] == 1
    for who, code in ((viewer, "forbidden"), (api.as_agent(), "agent_refused")):
        assert_error(resources(who, "colors", "create", {"colors": ["#040506"]}), 403, code)
        assert_error(resources(who, "colors", "delete", {"ids": [color]}), 403, code)
    assert ok(api.as_agent(), "colors", "search", {})["total_count"] == 1
    assert ok(api, "colors", "search", {})["colors"][0]["id"] == color  # nothing was made or deleted
    assert_error(api.client.post("/api/v5/resources/colors/search", json={}), 401)


def test_another_groups_resources_are_not_found_and_never_listed(api, make_api, dialect):
    theirs = make_api(group="globex")
    their_color = create_id(theirs, "color", "#0a0b0c")
    their_key = create_id(theirs, "key", {"name": "globex", "secret": "sk-globex-0123456789"})
    create_id(api, "color", "#0d0e0f")

    assert_not_found(api, "color", their_color)
    assert [r["value"] for r in ok(api, "colors", "search", {})["colors"]] == ["#0d0e0f"]
    (refused,) = ok(api, "colors", "delete", {"ids": [their_color]})["results"]
    assert refused["success"] is False and refused["code"] == "not_found"
    assert ok(theirs, "colors", "get", {"id": their_color})["value"] == "#0a0b0c"
    # Nor can one of theirs be referenced, by a resource or by an artifact.
    (ref,) = ok(api, "model_flags", "create", {"model_flags": [{"model": "m", "flag_id": their_color}]})["results"]
    assert ref["code"] == "not_found"
    result = api.ok("invocations", "create", {"invocations": [{"name": "x", "key_id": their_key}]})["results"][0]
    assert result["success"] is False and result["code"] == "not_found"
    # A resource of another kind is not found under this kind's routes.
    assert_not_found(api, "endpoint", create_id(api, "color", "#111111"))


def test_a_new_group_starts_with_the_documented_catalog(api, dialect):
    flags = {(f["value"]["type"], f["value"]["value"]) for f in ok(api, "flags", "search", {"page_size": 200})["flags"]}
    expected = {
        (f"{kind}_active", value) for kind in ("persona", "tool", "eval", "invocation") for value in ("true", "false")
    }
    expected |= {("eval_role", role) for role in ("candidate", "baseline", "judge")}
    expected |= {("invocation_role", role) for role in ("primary", "fallback")}
    assert flags == expected
