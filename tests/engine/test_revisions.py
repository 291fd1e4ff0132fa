"""Revisions, labels and resolve (API.md section 9), through the HTTP API, on both databases.

Every committed change writes exactly one immutable revision; history, revision and diff read them;
rollback writes a new one equal to an old one (or nothing: resource_gone); labels move compare-and-set,
production only by admins, never by agents; resolve answers the live config by id or name, at a label
or version, with an ETag the GET form honours.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from conftest import Api, assert_error

KIND = "personas"


def history(api: Api, persona_id: str, **paging: Any) -> dict[str, Any]:
    return api.ok(KIND, "history", {"persona_id": persona_id, **paging})


def operations(api: Api, persona_id: str) -> list[tuple[int, str]]:
    return [(r["version"], r["operation"]) for r in history(api, persona_id)["revisions"]]


def update(api: Api, persona_id: str, **fields: Any) -> dict[str, Any]:
    (result,) = api.ok(KIND, "update", {"personas": [{"persona_id": persona_id, **fields}]})["results"]
    assert result["success"], result
    return result


def resolve(api: Api, body: dict[str, Any], kind: str = KIND) -> Any:
    return api.op(kind, "resolve", body)


# --- every write path leaves exactly one revision ------------------------------------------------------------


def test_create_and_update_each_write_one_revision_with_author_and_message(api):
    persona_id = api.create(KIND, name="Ada", instructions="Greet {{customer}}.", message="first cut")
    update(api, persona_id, description="Helps", message="say what she does")
    update(api, persona_id, description="Helps")  # a no-op: no new version, no revision

    found = history(api, persona_id)
    assert found["total_count"] == 2 and found["version"] == 2
    newest, first = found["revisions"]
    assert (newest["version"], newest["operation"], newest["message"]) == (2, "update", "say what she does")
    assert (first["version"], first["operation"], first["message"]) == (1, "create", "first cut")
    assert first["author"]["name"].startswith("editor") and first["author"]["type"] == "person"
    assert first["via_agent"] is False and first["approved_by"] is None


def test_bulk_create_writes_one_revision_per_item(api):
    items = [{"name": f"Bulk {i}", "departments": ["Sales"], "message": f"item {i}"} for i in range(3)]
    results = api.ok(KIND, "create", {"personas": items})["results"]
    for i, result in enumerate(results):
        (only,) = history(api, result["persona_id"])["revisions"]
        assert (only["version"], only["operation"], only["message"]) == (1, "create", f"item {i}")


def test_draft_commits_duplicate_and_import_each_write_one_revision(api):
    draft = api.ok(KIND, "draft", {"name": "Drafted"}, method="PATCH")["draft_id"]
    (created,) = api.ok(KIND, "create", {"personas": [{"draft_id": draft, "message": "from a draft"}]})["results"]
    persona_id = created["persona_id"]
    edit = api.ok(KIND, "draft", {"persona_id": persona_id, "description": "Edited"}, method="PATCH")["draft_id"]
    update(api, persona_id, draft_id=edit, message="edited in a draft")
    assert operations(api, persona_id) == [(2, "draft_commit"), (1, "draft_commit")]
    assert history(api, persona_id)["revisions"][0]["message"] == "edited in a draft"

    copy = api.ok(KIND, "duplicate", {"persona_id": persona_id})["persona_id"]
    assert operations(api, copy) == [(1, "duplicate")]

    rows = "persona_id,name,description\r\n" + f"{persona_id},Drafted,Imported\r\n" + ",New from CSV,\r\n"
    imported = api.client.post(
        f"/api/v5/artifacts/{KIND}/import", headers=api.headers, files={"file": ("p.csv", rows.encode(), "text/csv")}
    ).json()
    assert imported["failed"] == 0, imported
    assert operations(api, persona_id)[0] == (3, "import")
    new_id = next(r["id"] for r in imported["results"] if r["id"] != persona_id)
    assert operations(api, new_id) == [(1, "import")]


def test_a_failed_item_leaves_no_revision(api):
    persona_id = api.create(KIND, name="Ada")
    (failed,) = api.ok(
        KIND, "update", {"personas": [{"persona_id": persona_id, "description": "x", "expected_version": 7}]}
    )["results"]
    assert failed["code"] == "version_conflict"
    assert operations(api, persona_id) == [(1, "create")]


# --- history, revision, diff ---------------------------------------------------------------------------------


def test_history_pages_newest_first_with_labels(make_api):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Ada")
    for i in range(4):
        update(admin, persona_id, description=f"Take {i}")
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 3})
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "staging", "version": 3})

    page = history(admin, persona_id, page_size=2, page_offset=1)
    assert page["total_count"] == 5
    assert [(r["version"], r["labels"]) for r in page["revisions"]] == [(4, []), (3, ["production", "staging"])]
    assert page["labels"] == {"production": 3, "staging": 3}


def test_revision_returns_the_old_config_and_diff_reads_in_values(api):
    persona_id = api.create(KIND, name="Ada", color="#00aaff", departments=["Sales", "Ops"])
    update(api, persona_id, name="Ada II", department_ids=[], departments=["Ops", "Support"])

    old = api.ok(KIND, "revision", {"persona_id": persona_id, "version": 1})
    assert old["version"] == 1 and old["operation"] == "create"
    assert old["config"]["name"] == "Ada" and old["config"]["departments"] == ["Sales", "Ops"]
    assert old["config"]["color"] == "#00aaff"

    changes = {
        c["field"]: c
        for c in api.ok(KIND, "diff", {"persona_id": persona_id, "from_version": 1, "to_version": 2})["changes"]
    }
    assert set(changes) == {"name", "departments"}
    assert (changes["name"]["before"], changes["name"]["after"]) == ("Ada", "Ada II")
    assert changes["departments"]["added"] == ["Support"] and changes["departments"]["removed"] == ["Sales"]

    assert_error(api.op(KIND, "revision", {"persona_id": persona_id, "version": 9}), 404)
    assert_error(api.op(KIND, "diff", {"persona_id": persona_id, "from_version": 1, "to_version": 9}), 404)


# --- rollback ------------------------------------------------------------------------------------------------


def test_rollback_writes_a_new_revision_equal_to_the_old_one(api):
    persona_id = api.create(KIND, name="Ada", departments=["Sales"])
    update(api, persona_id, name="Bea", department_ids=[])

    assert_error(
        api.op(KIND, "rollback", {"persona_id": persona_id, "to_version": 1, "expected_version": 1}),
        409,
        "version_conflict",
    )
    rolled = api.ok(
        KIND,
        "rollback",
        {"persona_id": persona_id, "to_version": 1, "expected_version": 2, "message": "Bea was a mistake"},
    )
    assert rolled["version"] == 3
    now = api.ok(KIND, "revision", {"persona_id": persona_id, "version": 3})
    assert now["operation"] == "rollback" and now["message"] == "Bea was a mistake"
    assert now["config"] == api.ok(KIND, "revision", {"persona_id": persona_id, "version": 1})["config"]
    assert api.ok(KIND, "diff", {"persona_id": persona_id, "from_version": 1, "to_version": 3})["changes"] == []


def test_rollback_from_3_to_2_then_to_1_restores_each_versions_own_state(api):
    """From version 3 back to 2, then to 1: each rollback's state is exactly that version's (a rollback to
    the version before `to_version`, or to the one before the current, differs from it here)."""
    persona_id = api.create(KIND, name="Ada", description="one", departments=["Sales"])
    update(api, persona_id, description="two", department_ids=[])
    update(api, persona_id, name="Bea", description="three")
    configs = {v: api.ok(KIND, "revision", {"persona_id": persona_id, "version": v})["config"] for v in (1, 2, 3)}
    assert len({repr(c) for c in configs.values()}) == 3

    for to_version, new_version in ((2, 4), (1, 5)):
        rolled = api.ok(KIND, "rollback", {"persona_id": persona_id, "to_version": to_version})
        assert rolled["version"] == new_version
        now = api.ok(KIND, "revision", {"persona_id": persona_id, "version": new_version})
        assert now["operation"] == "rollback" and now["config"] == configs[to_version]
        assert api.ok(KIND, "resolve", {"persona_id": persona_id})["config"] == configs[to_version]
        diff = {"persona_id": persona_id, "from_version": to_version, "to_version": new_version}
        assert api.ok(KIND, "diff", diff)["changes"] == []
    live = api.ok(KIND, "get", {"persona_id": persona_id})
    assert live["version"] == 5 and live["departments"]["selected_ids"]
    assert [o["value"] for o in live["descriptions"]["options"] if o["selected"]] == ["one"]


def test_rollback_to_a_version_whose_resource_is_gone_is_409_and_changes_nothing(api):
    persona_id = api.create(KIND, name="Ada", departments=["Temporary"])
    update(api, persona_id, department_ids=[])
    (temporary,) = api.post("/api/v5/resources/departments/search", {"search": "Temporary"}).json()["departments"]
    assert api.post("/api/v5/resources/departments/delete", {"ids": [temporary["id"]]}).status_code == 200

    body = assert_error(api.op(KIND, "rollback", {"persona_id": persona_id, "to_version": 1}), 409, "resource_gone")
    assert temporary["id"] in body["detail"] and body["resource_ids"] == [temporary["id"]]
    assert history(api, persona_id)["version"] == 2


def test_rollback_is_for_people_with_the_editor_role(api, make_api):
    persona_id = api.create(KIND, name="Ada")
    update(api, persona_id, name="Bea")
    assert_error(api.as_agent().op(KIND, "rollback", {"persona_id": persona_id, "to_version": 1}), 403)
    assert_error(make_api("viewer").op(KIND, "rollback", {"persona_id": persona_id, "to_version": 1}), 403)


# --- labels --------------------------------------------------------------------------------------------------


def test_label_moves_compare_and_set(api):
    persona_id = api.create(KIND, name="Ada")
    update(api, persona_id, name="Bea")
    label = lambda **body: api.op(KIND, "label", {"persona_id": persona_id, "label": "staging", **body})  # noqa: E731

    assert label(version=1, expected_version=None).json()["previous_version"] is None
    assert_error(label(version=2, expected_version=None), 409, "version_conflict")
    stale = assert_error(label(version=2, expected_version=2), 409, "version_conflict")
    assert stale["current_version"] == 1
    assert label(version=2, expected_version=1).json() == {
        "persona_id": persona_id,
        "label": "staging",
        "version": 2,
        "previous_version": 1,
    }
    assert label(version=None).json()["version"] is None  # null removes
    assert history(api, persona_id)["labels"] == {}
    assert_error(label(version=5), 404)


@pytest.mark.parametrize("name", ["latest", "Production", "9lives", "a" * 65, "with space"])
def test_label_names_are_checked_and_latest_is_reserved(api, name):
    persona_id = api.create(KIND, name="Ada")
    body = assert_error(api.op(KIND, "label", {"persona_id": persona_id, "label": name, "version": 1}), 422)
    assert body["field"] == "label"


def test_production_needs_an_admin_and_agents_never_move_labels(api, make_api):
    persona_id = api.create(KIND, name="Ada")
    assert_error(api.op(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1}), 403)
    assert api.op(KIND, "label", {"persona_id": persona_id, "label": "staging", "version": 1}).status_code == 200
    assert_error(make_api("viewer").op(KIND, "label", {"persona_id": persona_id, "label": "qa", "version": 1}), 403)
    admin = make_api("admin")
    assert_error(admin.as_agent().op(KIND, "label", {"persona_id": persona_id, "label": "qa", "version": 1}), 403)
    assert admin.op(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1}).status_code == 200
    assert history(api, persona_id)["labels"] == {"production": 1, "staging": 1}


def test_label_moves_and_rollbacks_are_audited(make_api):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Ada")
    update(admin, persona_id, name="Bea")
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1})
    admin.ok(KIND, "rollback", {"persona_id": persona_id, "to_version": 1})
    events = admin.post("/api/v5/audit/search", {"artifact_id": persona_id}).json()["events"]
    actions = [e["action"] for e in events]
    assert "label" in actions and "rollback" in actions
    moved = next(e for e in events if e["action"] == "label")
    assert moved["changes"]["label"] == "production" and moved["changes"]["after"] == 1


# --- resolve -------------------------------------------------------------------------------------------------


def test_resolve_by_id_name_label_and_version(make_api):
    admin = make_api("admin")
    persona_id = admin.create(
        KIND,
        name="Ada",
        description="Helps",
        color="#0af",
        instructions="Hi {{customer}}, {{day}}.",
        departments=["Sales"],
        parameter_fields=["customer"],
        examples=["Hello"],
        active=True,
    )
    update(admin, persona_id, description="Helps more")
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1})

    latest = resolve(admin, {"persona_id": persona_id}).json()
    assert (latest["version"], latest["label"], latest["kind"]) == (2, "latest", "persona")
    config = latest["config"]
    assert config["name"] == "Ada" and config["description"] == "Helps more" and config["color"] == "#00aaff"
    assert config["instructions"] == "Hi {{customer}}, {{day}}." and config["variables"] == ["customer", "day"]
    assert config["departments"] == ["Sales"] and config["parameter_fields"] == ["customer"]
    assert config["examples"] == ["Hello"] and config["active"] is True
    assert config["flags"] == {"persona_active": "true"}

    production = resolve(admin, {"name": "Ada", "label": "production"}).json()
    assert production["version"] == 1 and production["config"]["description"] == "Helps"
    assert production["persona_id"] == persona_id
    assert resolve(admin, {"persona_id": persona_id, "version": 1}).json()["etag"] == production["etag"]
    assert production["etag"] != latest["etag"]

    assert_error(resolve(admin, {"name": "ada"}), 404)  # the exact name only
    assert_error(resolve(admin, {"persona_id": persona_id, "label": "staging"}), 404)
    assert_error(resolve(admin, {"persona_id": persona_id, "version": 3}), 404)
    assert_error(resolve(admin, {}), 422)
    assert_error(resolve(admin, {"persona_id": persona_id, "name": "Ada"}), 422)


def test_resolve_leaves_pending_connections_out(api):
    persona_id = api.create(KIND, name="Ada", departments=["Sales", "Ops"])
    (ops,) = api.post("/api/v5/resources/departments/search", {"search": "Ops"}).json()["departments"]
    update(api, persona_id, pending_ids=[ops["id"]])
    assert resolve(api, {"persona_id": persona_id}).json()["config"]["departments"] == ["Sales"]


def test_two_artifacts_with_one_name_are_ambiguous(api):
    first, second = api.create(KIND, name="Twin"), api.create(KIND, name="Twin")
    body = assert_error(resolve(api, {"name": "Twin"}), 409, "ambiguous_name")
    assert sorted(body["persona_ids"]) == sorted([first, second])
    update(api, second, name="Other twin")
    assert resolve(api, {"name": "Twin"}).json()["persona_id"] == first


def test_resolve_of_another_groups_artifact_is_not_found_and_agents_may_resolve(api, make_api):
    persona_id = api.create(KIND, name="Ada")
    other = make_api("admin", group="other")
    assert_error(resolve(other, {"persona_id": persona_id}), 404)
    assert_error(resolve(other, {"name": "Ada"}), 404)
    assert_error(other.client.get(f"/api/v5/resolve/{KIND}/{persona_id}", headers=other.headers), 404)
    viewer_agent = make_api("viewer").as_agent()
    assert resolve(viewer_agent, {"persona_id": persona_id}).json()["config"]["name"] == "Ada"


def test_get_resolve_sends_an_etag_and_answers_a_match_with_304(api):
    persona_id = api.create(KIND, name="Ada")
    path = f"/api/v5/resolve/{KIND}/{persona_id}"
    first = api.client.get(path, headers=api.headers)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag == f'"{first.json()["etag"]}"'
    again = api.client.get(path, headers={**api.headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert api.client.get(path, headers={**api.headers, "If-None-Match": 'W/"nope", ' + etag}).status_code == 304
    by_name = api.client.get(f"/api/v5/resolve/{KIND}/Ada", headers={**api.headers, "If-None-Match": etag})
    assert by_name.status_code == 304

    update(api, persona_id, description="Changed")
    changed = api.client.get(path, headers={**api.headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["version"] == 2 and changed.headers["etag"] != etag
    pinned = api.client.get(f"{path}?version=1", headers={**api.headers, "If-None-Match": etag})
    assert pinned.status_code == 304


def test_resolve_sees_every_change_at_once_through_the_cache(make_api):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Ada")
    update(admin, persona_id, description="v2")
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1})
    for _ in range(3):  # warm
        assert resolve(admin, {"name": "Ada", "label": "production"}).json()["version"] == 1
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 2, "expected_version": 1})
    assert resolve(admin, {"name": "Ada", "label": "production"}).json()["version"] == 2
    update(admin, persona_id, description="v3")
    assert resolve(admin, {"name": "Ada"}).json()["config"]["description"] == "v3"
    admin.ok(KIND, "delete", {"persona_ids": [persona_id]})
    assert_error(resolve(admin, {"name": "Ada"}), 404)


def test_tool_resolves_to_a_function_with_its_json_schema(api):
    tool_id = api.create(
        "tools",
        name="Get weather",
        description="Weather for a city",
        args=[
            {"name": "city", "type": "string", "description": "City name", "required": True},
            {"name": "days", "type": "integer", "default": 1},
        ],
    )
    config = resolve(api, {"tool_id": tool_id}, "tools").json()["config"]
    assert config["function"] == {
        "name": "Get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "days": {"type": "integer", "default": 1},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    }
    assert "arg_positions" not in config


def test_eval_resolves_models_with_their_flags(api):
    models = api.post("/api/v5/resources/models/create", {"models": ["gpt-4o", "claude"]})
    assert models.status_code == 200, models.text
    ids = [item["id"] for item in models.json()["results"]]
    eval_id = api.create(
        "evals",
        name="Compare",
        model_ids=ids,
        model_positions=["first", "second"],
        model_rubrics=["Be right"],
        model_flag_values=[{"model_id": ids[1], "type": "eval_role", "value": "judge"}],
    )
    config = resolve(api, {"eval_id": eval_id}, "evals").json()["config"]
    assert [(m["model"], m["flags"], m["position"], m["rubric"]) for m in config["models"]] == [
        ("gpt-4o", {}, "first", "Be right"),
        ("claude", {"eval_role": "judge"}, "second", None),
    ]


# --- export and import carry the labels ----------------------------------------------------------------------


def test_export_and_import_carry_the_labels(make_api):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Ada")
    update(admin, persona_id, description="v2")
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1})
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "staging", "version": 2})
    upload = admin.ok(KIND, "export", {})["upload_id"]
    text = admin.client.get(f"/api/v5/uploads/{upload}", headers=admin.headers).text
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["labels"] == "production@1; staging"

    other = make_api("admin", group="elsewhere")
    imported = other.client.post(
        f"/api/v5/artifacts/{KIND}/import", headers=other.headers, files={"file": ("p.csv", text.encode(), "text/csv")}
    ).json()
    (result,) = imported["results"]
    assert result["success"] and "production@1" in result["message"]  # version 1 of it is not in this group
    assert history(other, result["id"])["labels"] == {"staging": 1}

    back = admin.client.post(
        f"/api/v5/artifacts/{KIND}/import",
        headers=admin.headers,
        files={"file": ("p.csv", text.replace("production@1; staging", "qa").encode(), "text/csv")},
    )
    assert back.json()["failed"] == 0
    assert history(admin, persona_id)["labels"] == {"production": 1, "staging": 2, "qa": 2}


def test_a_typical_personas_revision_is_stored_in_under_2_kb(api, db):
    from sqlalchemy import func, select

    from loomwork.engine.models import Revision

    persona_id = api.create(
        KIND,
        name="Ada",
        description="Helps customers " * 20,
        color="#0af",
        icon='<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>',
        instructions="Greet {{customer}} warmly. " * 40,
        active=True,
        examples=["Hello!", "How can I help?"],
        departments=["Sales", "Support"],
        parameter_fields=["customer"],
        voices=["Alto"],
        scenarios=["Refunds"],
    )
    update(api, persona_id, description="Helps", message="A reason a person would give for a change.")
    with db.transaction(write=False) as session:
        sizes = (
            session.execute(
                select(func.length(Revision.state) + func.coalesce(func.length(Revision.message), 0)).where(
                    Revision.artifact_id == uuid.UUID(persona_id)
                )
            )
            .scalars()
            .all()
        )
    assert len(sizes) == 2 and max(sizes) + 200 < 2048, sizes  # 200: the fixed-size columns


def test_seed_demo_writes_each_artifacts_first_revision_so_history_labels_and_resolve_work(db):
    from sqlalchemy import select

    from loomwork.demo import DemoSeeder
    from loomwork.engine import repository
    from loomwork.engine.models import Artifact, Revision
    from loomwork.engine.revisions import decode_state
    from loomwork.kinds import KINDS_BY_PLURAL

    seeder = DemoSeeder(db, "demo-revisions")
    seeder.seed(KINDS_BY_PLURAL["personas"], 4)
    seeder.seed(KINDS_BY_PLURAL["personas"], 4)  # seeding again writes nothing, revisions included

    with db.transaction(write=False) as session:
        ids = set(session.scalars(select(Artifact.id).where(Artifact.group_id == seeder.group_id)))
        rows = session.execute(
            select(Revision.artifact_id, Revision.version, Revision.state, Revision.author_name)
        ).all()
        states = {artifact_id: repository.load_state(session, artifact_id) for artifact_id in ids}
    assert len(ids) == 4
    assert sorted((str(a), v) for a, v, _, _ in rows) == sorted((str(a), 1) for a in ids)
    for artifact_id, _, state, author in rows:
        assert decode_state(state).normalised() == states[artifact_id].normalised()
        assert author == "seed-demo"
