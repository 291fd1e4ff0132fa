"""Drafts that rebase and can be discarded (API.md section 13), through HTTP, on SQLite and PostgreSQL.

A draft knows the version it builds on and how far the artifact has moved since; rebase replays it onto the
current version field by field (three-way), a field both sides changed being a conflict the person settles;
discard throws a draft away with the values only it staged, its waiting proposals withdrawn; the sweeper
discards drafts abandoned for LOOMWORK_DRAFT_TTL_DAYS.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update

from conftest import Api, assert_error
from loomwork.db.base import utcnow
from loomwork.engine import drafts
from loomwork.engine.models import Draft
from loomwork.resources.models import Resource

KIND = "personas"


def patch(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    return api.ok(KIND, "draft", body, method="PATCH")


def edit_draft(api: Api, persona_id: str, **changes: Any) -> str:
    return patch(api, {"persona_id": persona_id, **changes})["draft_id"]


def update(api: Api, persona_id: str, **fields: Any) -> dict[str, Any]:
    (result,) = api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, **fields}]})["results"]
    return result


def rebase(api: Api, draft_id: str, **body: Any):
    return api.op(KIND, "draft/rebase", {"draft_id": draft_id, **body})


def selected(section: dict[str, Any]) -> list[Any]:
    return [o["value"] for o in section["options"] if o["selected"]]


def resolve_config(api: Api, persona_id: str) -> dict[str, Any]:
    return api.ok(KIND, "resolve", {"persona_id": persona_id})["config"]


def test_a_draft_answers_its_base_and_how_far_behind_it_is(api, make_api):
    persona_id = api.create(KIND, name="Ada", description="Helps")
    draft_id = edit_draft(api, persona_id, description="Helps with billing")
    other = make_api("editor")
    update(other, persona_id, departments=["Sales"])
    update(other, persona_id, voices=["calm"])

    state = patch(api, {"draft_id": draft_id, "examples": ["Hello"]})["form_state"]
    assert (state["base_version"], state["behind_by"]) == (1, 2)
    new = patch(api, {"name": "Fresh"})["form_state"]
    assert (new["base_version"], new["behind_by"]) == (None, 0)


def test_a_rebase_keeps_my_change_and_theirs_and_the_update_then_saves(api, make_api):
    persona_id = api.create(KIND, name="Ada", description="Helps", instructions="Greet {{customer}}.")
    draft_id = edit_draft(api, persona_id, instructions="Greet {{customer}} by name.")
    update(make_api("editor"), persona_id, departments=["Billing"], description="Helps with money")

    stale = update(api, persona_id, draft_id=draft_id)
    assert stale["success"] is False and stale["code"] == "version_conflict", stale
    assert "rebase" in stale["message"].lower() or "rebase" in str(stale).lower()

    answer = rebase(api, draft_id, idempotency_key="rebase-1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["idempotency_key"] == "rebase-1"
    assert body["conflicts"] == [] and body["form_state"]["base_version"] == 2
    assert body["form_state"]["behind_by"] == 0 and body["new_version"] == 2  # one applied patch, then the rebase
    assert body["form_state"]["instructions"] == "Greet {{customer}} by name."
    assert body["form_state"]["departments"] == ["Billing"]

    saved = update(api, persona_id, draft_id=draft_id)
    assert saved["success"] is True and saved["version"] == 3, saved
    config = resolve_config(api, persona_id)
    assert config["instructions"] == "Greet {{customer}} by name."
    assert (config["description"], config["departments"]) == ("Helps with money", ["Billing"])


def test_a_field_both_changed_is_a_conflict_until_a_side_is_chosen(api, make_api):
    persona_id = api.create(KIND, name="Ada", description="Helps", departments=["Sales"])
    draft_id = edit_draft(api, persona_id, description="Mine", departments=["Sales", "Ops"])
    update(make_api("editor"), persona_id, description="Theirs", departments=["Sales", "Ops"])

    body = assert_error(rebase(api, draft_id), 409, "rebase_conflict")
    assert body["conflicts"] == [{"field": "description", "base": "Helps", "theirs": "Theirs", "mine": "Mine"}]
    unchanged = api.ok(KIND, "get", {"draft_id": draft_id})
    assert selected(unchanged["descriptions"]) == ["Mine"]  # nothing changed
    assert patch(api, {"draft_id": draft_id, "examples": []})["form_state"]["base_version"] == 1

    assert_error(rebase(api, draft_id, resolutions={"colour": "mine"}), 422)
    theirs = rebase(api, draft_id, resolutions={"description": "theirs"}).json()
    assert theirs["form_state"]["description"] == "Theirs" and theirs["form_state"]["base_version"] == 2
    assert update(api, persona_id, draft_id=draft_id)["success"] is True
    assert resolve_config(api, persona_id)["description"] == "Theirs"


def test_choosing_mine_keeps_my_value(api, make_api):
    persona_id = api.create(KIND, name="Ada", description="Helps")
    draft_id = edit_draft(api, persona_id, description="Mine")
    update(make_api("editor"), persona_id, description="Theirs")
    body = rebase(api, draft_id, resolutions={"description": "mine"}).json()
    assert body["form_state"]["description"] == "Mine"
    assert update(api, persona_id, draft_id=draft_id)["success"] is True
    assert resolve_config(api, persona_id)["description"] == "Mine"


def test_a_tools_arguments_merge_as_one_field(api, make_api):
    tool_id = api.create("tools", name="lookup", args_drafts=[{"name": "city", "type": "string", "position": 0}])
    draft_id = api.ok(
        "tools",
        "draft",
        {"tool_id": tool_id, "args_drafts": [{"name": "city", "type": "string", "required": True, "position": 0}]},
        method="PATCH",
    )["draft_id"]
    make_api("editor").ok(
        "tools",
        "update",
        {"tools": [{"tool_id": tool_id, "args_drafts": [{"name": "town", "type": "string", "position": 0}]}]},
    )
    body = assert_error(api.op("tools", "draft/rebase", {"draft_id": draft_id}), 409, "rebase_conflict")
    assert [c["field"] for c in body["conflicts"]] == ["arguments"]


def test_rebase_answers_gone_and_committed_drafts_and_an_up_to_date_one(api, make_api):
    persona_id = api.create(KIND, name="Ada")
    current = edit_draft(api, persona_id, description="Mine")
    assert rebase(api, current).json()["form_state"]["behind_by"] == 0

    committed = edit_draft(api, persona_id, description="Saved")
    assert update(api, persona_id, draft_id=committed)["success"] is True
    assert_error(rebase(api, committed), 409, "draft_committed")

    api.ok(KIND, "delete", {"persona_ids": [persona_id]})
    assert_error(rebase(api, current), 409, "artifact_gone")
    assert_error(rebase(make_api("editor"), current), 404)  # only its owner sees it


def test_an_agent_rebases_and_discards_its_own_draft(api, make_api):
    persona_id = api.create(KIND, name="Ada", description="Helps")
    agent = make_api("editor").as_agent()
    draft_id = agent.ok(KIND, "draft", {"persona_id": persona_id, "description": "Proposed"}, method="PATCH")[
        "draft_id"
    ]
    update(api, persona_id, departments=["Ops"])
    assert agent.ok(KIND, "draft/rebase", {"draft_id": draft_id})["form_state"]["base_version"] == 2
    assert agent.ok(KIND, "draft/discard", {"draft_id": draft_id})["withdrawn_proposals"] == 1


def test_discard_is_the_owners_and_leaves_nothing_of_the_draft(api, make_api, db):
    persona_id = api.create(KIND, name="Ada")
    draft = patch(api, {"persona_id": persona_id, "departments": ["Secret plans"], "voices": ["shared"]})
    draft_id = draft["draft_id"]
    staged_id = draft["form_state"]["department_ids"][0]
    keeper = patch(api, {"name": "Other draft", "voices": ["shared"]})
    shared_id = keeper["form_state"]["voice_ids"][0]
    agent = make_api("editor").as_agent()
    agent.ok(KIND, "draft", {"persona_id": persona_id, "description": "Proposal"}, method="PATCH")
    mine = api.ok(KIND, "draft", {"draft_id": draft_id, "soft": True, "description": "My own proposal"}, method="PATCH")
    assert len(mine["form_state"]["proposals"]) == 1

    assert_error(make_api("editor").op(KIND, "draft/discard", {"draft_id": draft_id}), 404)
    answer = api.ok(KIND, "draft/discard", {"draft_id": draft_id})
    assert answer == {"draft_id": draft_id, "discarded": True, "withdrawn_proposals": 1}

    assert_error(api.op(KIND, "draft/discard", {"draft_id": draft_id}), 404)
    assert_error(api.op(KIND, "draft", {"draft_id": draft_id, "description": "x"}, method="PATCH"), 404)
    assert_error(api.op(KIND, "get", {"draft_id": draft_id}), 404)
    assert draft_id not in [e["draft_id"] for e in api.ok(KIND, "drafts", {})["entries"]]
    found = api.post("/api/v5/resources/departments/search", {"search": "Secret"}).json()["departments"]
    assert found == []
    with db.transaction(write=False) as session:
        assert session.get(Resource, uuid.UUID(staged_id)) is None
        assert session.get(Resource, uuid.UUID(shared_id)) is not None  # another open draft holds it

    queue = api.post("/api/v5/proposals/search", {"status": "withdrawn"}).json()["proposals"]
    assert [p["changes"][0]["proposed"] for p in queue] == ["My own proposal"]
    waiting = api.post("/api/v5/proposals/search", {"status": "waiting"}).json()["proposals"]
    assert [p["changes"][0]["proposed"] for p in waiting] == ["Proposal"]  # the agent's own draft is untouched
    withdrawn = queue[0]["proposal_id"]
    decided = api.post("/api/v5/proposals/decide", {"proposal_id": withdrawn, "decision": "accept"})
    assert_error(decided, 409, "draft_discarded")


def test_a_committed_draft_cannot_be_discarded(api):
    persona_id = api.create(KIND, name="Ada")
    draft_id = edit_draft(api, persona_id, description="Saved")
    assert update(api, persona_id, draft_id=draft_id)["success"] is True
    assert_error(api.op(KIND, "draft/discard", {"draft_id": draft_id}), 409, "draft_committed")


def test_the_sweeper_discards_drafts_untouched_for_the_ttl(api, db):
    old = patch(api, {"name": "Abandoned", "departments": ["Forgotten team"]})
    fresh = patch(api, {"name": "Recent"})
    with db.transaction(write=True) as session:
        session.execute(
            sql_update(Draft)
            .where(Draft.id == uuid.UUID(old["draft_id"]))
            .values(updated_at=utcnow() - timedelta(days=31))
        )
    with db.transaction(write=True) as session:
        assert drafts.sweep_abandoned(session, ttl_days=30) == 1
    with db.transaction(write=False) as session:
        statuses = dict(session.execute(select(Draft.id, Draft.status)).all())
        staged = old["form_state"]["department_ids"][0]
        assert session.get(Resource, uuid.UUID(staged)) is None
    assert sorted(str(s) for s in statuses.values()) == ["discarded", "open"]
    assert_error(api.op(KIND, "get", {"draft_id": old["draft_id"]}), 404)
    assert selected(api.ok(KIND, "get", {"draft_id": fresh["draft_id"]})["names"]) == ["Recent"]
