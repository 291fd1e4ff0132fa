"""Draft patches (API.md section 4) in depth, through HTTP, on SQLite and PostgreSQL.

Every rule of the draft patch has a test here that fails when the rule breaks:
the response contract, both routes, the field rules in their order, failing
patches that leave nothing behind, the journal, a constant statement count,
soft proposals and acks, replay, edit drafts and commits, the drafts list and
the roles. The rules are the engine's, the same for every kind; they run through
the persona kind (and its seed 000 legacy route `/persona/draft`), whose slots
cover every shape of slot. test_kind_generic.py runs the main rules over every
kind, test_form_rules.py the field rules without a database, and
test_draft_concurrency.py the version checks under real concurrency.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from loomwork.db.base import utcnow
from loomwork.engine.models import Draft, DraftEntry
from loomwork.resources import service as resources
from loomwork.resources.kinds import RESOURCE_KINDS
from loomwork.resources.models import Resource

LEGACY_PATH = "/persona/draft"
RESPONSE_FIELDS = {"success", "draft_id", "idempotency_key", "new_version", "message", "form_state"}


# --- helpers -----------------------------------------------------------------------------------------------


def patch(api, body: dict[str, Any], route: str = "v5"):
    """One draft request on the v5 route (PATCH) or the seed 000 legacy route (POST)."""
    if route == "legacy":
        return api.post(LEGACY_PATH, body)
    return api.op("personas", "draft", body, method="PATCH")


def ok(api, body: dict[str, Any], route: str = "v5") -> dict[str, Any]:
    response = patch(api, body, route)
    assert response.status_code == 200, response.text
    return response.json()


def error(api, body: dict[str, Any], status: int, code: str | None = None, route: str = "v5") -> dict[str, Any]:
    response = patch(api, body, route)
    assert response.status_code == status, response.text
    data = response.json()
    if code is not None:
        assert data["code"] == code, data
    return data


def view(api, **body: Any) -> dict[str, Any]:
    return api.ok("personas", "get", body)


def selected_values(section: dict[str, Any]) -> list[Any]:
    return [o["value"] for o in section["options"] if o["selected"]]


def catalog_flags(api) -> dict[tuple[str, str], str]:
    """The group's flag options by (type, value)."""
    options = view(api)["flags"]["options"]
    return {(o["value"]["type"], o["value"]["value"]): o["id"] for o in options}


def add_flags(db, api, *flags: dict[str, str]) -> list[str]:
    """Catalog flags of other types (there is no resources route yet), for rules about flag types."""
    group_id = uuid.UUID(view(api)["group_id"])
    with db.transaction(write=True) as session:
        ids = resources.find_or_create(session, group_id, RESOURCE_KINDS["flag"], list(flags))
    return [str(i) for i in ids]


def entry_rows(db, draft_id: str) -> list[dict[str, Any]]:
    with db.transaction(write=False) as session:
        rows = session.scalars(
            select(DraftEntry).where(DraftEntry.draft_id == uuid.UUID(draft_id)).order_by(DraftEntry.seq)
        ).all()
        return [{c.key: getattr(row, c.key) for c in DraftEntry.__table__.columns} for row in rows]


def snapshot(db, draft_id: str) -> dict[str, Any]:
    """Everything a draft request may write: the draft row, its journal and the resources table."""
    with db.transaction(write=False) as session:
        draft = session.get(Draft, uuid.UUID(draft_id))
        row = {c.key: getattr(draft, c.key) for c in Draft.__table__.columns}
        resource_count = session.scalar(select(func.count()).select_from(Resource))
    return {"draft": row, "entries": entry_rows(db, draft_id), "resources": resource_count}


def draft_count(db) -> int:
    with db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Draft))


def new_id() -> str:
    return str(uuid.uuid4())


# --- a new draft and its response --------------------------------------------------------------------------


def test_new_draft_answers_the_contract_and_a_complete_form_state(api):
    response = ok(
        api, {"name": "Ada", "color": "#ABC", "departments": ["Sales", "Ops"], "examples": ["Hello"], "active": True}
    )

    assert set(response) == RESPONSE_FIELDS
    assert response["success"] is True
    assert response["new_version"] == 1
    uuid.UUID(response["draft_id"])
    assert response["idempotency_key"]
    assert isinstance(response["message"], str) and response["message"]

    state = response["form_state"]
    assert state["persona_id"] is None
    assert state["version"] == 1
    assert state["pending_ids"] == []
    assert state["proposals"] == []
    assert state["active"] is True
    # Selected ids and their values, per slot, so a form needs no second call.
    assert state["name"] == "Ada" and uuid.UUID(state["name_id"])
    assert state["color"] == "#aabbcc" and uuid.UUID(state["color_id"])
    assert state["departments"] == ["Sales", "Ops"] and len(state["department_ids"]) == 2
    assert state["examples"] == ["Hello"] and len(state["example_ids"]) == 1
    assert state["flags"] == [{"type": "persona_active", "value": "true"}] and len(state["flag_ids"]) == 1
    for empty_single in ("description", "icon", "instructions"):
        assert state[empty_single] is None and state[f"{empty_single}_id"] is None
    for empty_many in ("voice", "parameter_field", "scenario"):
        assert state[f"{empty_many}s"] == [] and state[f"{empty_many}_ids"] == []

    shown = view(api, draft_id=response["draft_id"])
    assert shown["draft_version"] == 1
    assert shown["names"]["selected_ids"] == [state["name_id"]]
    assert shown["departments"]["selected_ids"] == state["department_ids"]


def test_unknown_draft_id_is_not_found(api):
    error(api, {"draft_id": new_id(), "name": "Ada"}, 404)
    error(api, {"input_draft_id": new_id(), "name": "Ada"}, 404, route="legacy")


# --- both routes -------------------------------------------------------------------------------------------


def _without_ids(response: dict[str, Any]) -> dict[str, Any]:
    state = {k: v for k, v in response["form_state"].items() if k != "draft_id"}
    return {
        **{k: v for k, v in response.items() if k not in ("draft_id", "idempotency_key", "form_state")},
        "form_state": state,
    }


def test_legacy_and_v5_routes_answer_alike(api):
    """The same requests on each route give the same answers (resources dedupe, so even the ids match)."""
    answers = {}
    for route in ("v5", "legacy"):
        first = ok(api, {"name": "Ada", "departments": ["Sales"]}, route)
        second = ok(api, {"input_draft_id": first["draft_id"], "description": "Helps", "voices": ["Alto"]}, route)
        third = ok(api, {"draft_id": first["draft_id"], "department_ids": [], "color": "#123456"}, route)
        assert {first["draft_id"], second["draft_id"], third["draft_id"]} == {first["draft_id"]}
        assert [r["new_version"] for r in (first, second, third)] == [1, 2, 3]
        assert all(set(r) == RESPONSE_FIELDS for r in (first, second, third))
        answers[route] = [_without_ids(r) for r in (first, second, third)]
    assert answers["v5"] == answers["legacy"]


def test_input_draft_id_alias_crosses_routes(api):
    """A draft made on one route is patched through the other, by either spelling of its id."""
    legacy_made = ok(api, {"name": "Ada"}, "legacy")["draft_id"]
    assert ok(api, {"input_draft_id": legacy_made, "description": "One"})["new_version"] == 2
    v5_made = ok(api, {"name": "Bob"})["draft_id"]
    patched = ok(api, {"input_draft_id": v5_made, "description": "Two"}, "legacy")
    assert patched["draft_id"] == v5_made and patched["new_version"] == 2
    assert patched["form_state"]["name"] == "Bob" and patched["form_state"]["description"] == "Two"


# --- rule 3: single slots ----------------------------------------------------------------------------------


def test_single_slot_id_selects_an_existing_resource(api):
    ada_id = ok(api, {"name": "Ada"})["form_state"]["name_id"]
    other = ok(api, {"name": "Someone"})
    state = ok(api, {"draft_id": other["draft_id"], "name_id": ada_id})["form_state"]
    assert state["name_id"] == ada_id and state["name"] == "Ada"


def test_single_slot_value_creates_or_finds_the_resource(api):
    first = ok(api, {"name": "Ada"})["form_state"]
    again = ok(api, {"name": "  Ada  "})["form_state"]  # trimmed, so the same resource
    assert again["name_id"] == first["name_id"]
    fresh = ok(api, {"name": "Grace"})["form_state"]
    assert fresh["name"] == "Grace" and fresh["name_id"] != first["name_id"]


def test_single_slot_id_wins_over_value(api):
    ada_id = ok(api, {"name": "Ada"})["form_state"]["name_id"]
    state = ok(api, {"name_id": ada_id, "name": "Bob"})["form_state"]
    assert state["name_id"] == ada_id and state["name"] == "Ada"


def test_single_slot_explicit_null_id_clears_and_omitted_is_unchanged(api):
    made = ok(api, {"name": "Ada", "description": "Helps", "color": "#112233"})
    draft_id = made["draft_id"]
    state = ok(api, {"draft_id": draft_id, "description_id": None})["form_state"]
    assert state["description_id"] is None and state["description"] is None
    # Omitted fields stay as they were.
    assert state["name_id"] == made["form_state"]["name_id"] and state["name"] == "Ada"
    assert state["color"] == "#112233"
    state = ok(api, {"draft_id": draft_id, "icon": '<svg xmlns="http://www.w3.org/2000/svg"/>'})["form_state"]
    assert state["name"] == "Ada" and state["color"] == "#112233" and state["description"] is None


def test_single_slot_unknown_or_other_group_id_is_not_found(api, make_api):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    error(api, {"draft_id": draft_id, "name_id": new_id()}, 404)
    foreign = ok(make_api("editor", group="globex"), {"name": "Secret"})["form_state"]["name_id"]
    error(api, {"draft_id": draft_id, "name_id": foreign}, 404)
    assert ok(api, {"draft_id": draft_id})["form_state"]["name"] == "Ada"


# --- rule 4: multiple slots --------------------------------------------------------------------------------


def test_multiple_slot_ids_replace_the_selection_in_order(api):
    made = ok(api, {"name": "Ada", "departments": ["A", "B", "C"]})
    a, _b, c = made["form_state"]["department_ids"]
    state = ok(api, {"draft_id": made["draft_id"], "department_ids": [c, a]})["form_state"]
    assert state["department_ids"] == [c, a] and state["departments"] == ["C", "A"]
    state = ok(api, {"draft_id": made["draft_id"], "department_ids": []})["form_state"]
    assert state["department_ids"] == [] and state["departments"] == []


def test_multiple_slot_values_are_appended_after_the_ids(api):
    made = ok(api, {"name": "Ada", "departments": ["A", "B"]})
    _a, b = made["form_state"]["department_ids"]
    state = ok(api, {"draft_id": made["draft_id"], "departments": ["D"]})["form_state"]
    assert state["departments"] == ["A", "B", "D"]
    state = ok(api, {"draft_id": made["draft_id"], "department_ids": [b], "departments": ["E"]})["form_state"]
    assert state["departments"] == ["B", "E"] and state["department_ids"][0] == b


def test_multiple_slot_duplicates_collapse_to_their_first_place(api):
    made = ok(api, {"name": "Ada", "departments": ["A", "B", "A"]})
    assert made["form_state"]["departments"] == ["A", "B"]
    a, b = made["form_state"]["department_ids"]
    state = ok(api, {"draft_id": made["draft_id"], "department_ids": [b, a, b]})["form_state"]
    assert state["department_ids"] == [b, a]
    state = ok(api, {"draft_id": made["draft_id"], "departments": ["A", "C"]})["form_state"]
    assert state["departments"] == ["B", "A", "C"]


def test_multiple_slot_unknown_id_is_not_found(api):
    made = ok(api, {"name": "Ada", "departments": ["A"]})
    error(
        api, {"draft_id": made["draft_id"], "department_ids": [made["form_state"]["department_ids"][0], new_id()]}, 404
    )
    error(api, {"draft_id": made["draft_id"], "example_ids": [new_id()]}, 404)


# --- rule 5: flags -----------------------------------------------------------------------------------------


def test_flag_ids_replace_and_active_resolves_to_the_kinds_active_flag(api, db):
    flags = catalog_flags(api)
    true_id, false_id = flags[("persona_active", "true")], flags[("persona_active", "false")]
    (gold,) = add_flags(db, api, {"type": "tier", "value": "gold"})
    made = ok(api, {"name": "Ada", "flag_ids": [true_id]})
    assert made["form_state"]["active"] is True and made["form_state"]["flag_ids"] == [true_id]

    # flag_ids replaces the whole selection.
    state = ok(api, {"draft_id": made["draft_id"], "flag_ids": [gold]})["form_state"]
    assert state["flag_ids"] == [gold] and state["active"] is None

    # active adds the persona_active flag of that value and keeps the other types.
    state = ok(api, {"draft_id": made["draft_id"], "active": False})["form_state"]
    assert set(state["flag_ids"]) == {gold, false_id} and state["active"] is False

    # active applies after flag_ids, replacing the persona_active flag that flag_ids chose.
    state = ok(api, {"draft_id": made["draft_id"], "flag_ids": [gold, true_id], "active": False})["form_state"]
    assert set(state["flag_ids"]) == {gold, false_id} and state["active"] is False
    assert {"type": "tier", "value": "gold"} in state["flags"]


def test_flag_id_adds_a_flag_replacing_the_one_of_its_type(api, db):
    flags = catalog_flags(api)
    true_id, false_id = flags[("persona_active", "true")], flags[("persona_active", "false")]
    gold, silver = add_flags(db, api, {"type": "tier", "value": "gold"}, {"type": "tier", "value": "silver"})
    made = ok(api, {"name": "Ada", "flag_ids": [true_id, gold]})

    state = ok(api, {"draft_id": made["draft_id"], "flag_id": false_id})["form_state"]
    assert set(state["flag_ids"]) == {gold, false_id} and state["active"] is False
    state = ok(api, {"draft_id": made["draft_id"], "flag_id": silver})["form_state"]
    assert set(state["flag_ids"]) == {false_id, silver} and state["active"] is False
    error(api, {"draft_id": made["draft_id"], "flag_id": new_id()}, 404)


def test_two_flags_of_one_type_are_refused_naming_flag_ids(api, db):
    flags = catalog_flags(api)
    both = [flags[("persona_active", "true")], flags[("persona_active", "false")]]
    body = error(api, {"name": "Ada", "flag_ids": both}, 422)
    assert "flag_ids" in body["detail"] or body.get("field") == "flag_ids", body
    gold, silver = add_flags(db, api, {"type": "tier", "value": "gold"}, {"type": "tier", "value": "silver"})
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    body = error(api, {"draft_id": draft_id, "flag_ids": [gold, silver]}, 422)
    assert "flag_ids" in body["detail"] or body.get("field") == "flag_ids", body
    error(api, {"draft_id": draft_id, "flag_ids": [new_id()]}, 404)


# --- rule 8: pending ---------------------------------------------------------------------------------------


def test_pending_ids_must_be_selected_and_then_show_as_pending(api):
    made = ok(api, {"name": "Ada", "departments": ["A", "B"]})
    a, b = made["form_state"]["department_ids"]
    elsewhere = ok(api, {"name": "Other", "voices": ["Alto"]})["form_state"]["voice_ids"][0]

    body = error(api, {"draft_id": made["draft_id"], "pending_ids": [elsewhere]}, 422)
    assert "pending_ids" in body["detail"] or body.get("field") == "pending_ids", body

    state = ok(api, {"draft_id": made["draft_id"], "pending_ids": [b]})["form_state"]
    assert state["pending_ids"] == [b]
    pending = {o["id"]: o["pending"] for o in view(api, draft_id=made["draft_id"])["departments"]["options"]}
    assert pending[b] is True and pending[a] is False

    # Selected by the same patch (the steps before pending_ids): allowed.
    state = ok(api, {"draft_id": made["draft_id"], "voice_ids": [elsewhere], "pending_ids": [elsewhere, a]})[
        "form_state"
    ]
    assert set(state["pending_ids"]) == {elsewhere, a}

    state = ok(api, {"draft_id": made["draft_id"], "pending_ids": []})["form_state"]
    assert state["pending_ids"] == []


# --- a failing patch changes nothing -----------------------------------------------------------------------


@pytest.fixture
def setup_draft(api, make_api) -> dict[str, Any]:
    flags = catalog_flags(api)
    made = ok(api, {"name": "Ada", "departments": ["Sales", "Ops"], "active": True, "idempotency_key": "setup-key"})
    return {
        "draft_id": made["draft_id"],
        "flag_true": flags[("persona_active", "true")],
        "flag_false": flags[("persona_active", "false")],
        "unselected": ok(api, {"name": "Other", "voices": ["Alto"]})["form_state"]["voice_ids"][0],
        "foreign": ok(make_api("editor", group="globex"), {"name": "X", "departments": ["Hidden"]})["form_state"][
            "department_ids"
        ][0],
    }


FAILING_PATCHES = {
    "unknown id": (404, lambda c: {"description": "Brand new", "department_ids": [new_id()]}),
    "other group's id": (404, lambda c: {"description": "Brand new", "department_ids": [c["foreign"]]}),
    "unknown flag_id": (404, lambda c: {"name": "Brand new", "flag_id": new_id()}),
    "two flags of one type": (422, lambda c: {"name": "Brand new", "flag_ids": [c["flag_true"], c["flag_false"]]}),
    "pending not selected": (422, lambda c: {"name": "Brand new", "pending_ids": [c["unselected"]]}),
    "invalid value": (422, lambda c: {"name": "Brand new", "examples": ["fine"], "color": "red"}),
    "stale expected_version": (409, lambda c: {"name": "Brand new", "expected_version": 0}),
    "reused key, other body": (409, lambda c: {"name": "Brand new", "idempotency_key": "setup-key"}),
}


@pytest.mark.parametrize("case", FAILING_PATCHES)
def test_failing_patch_changes_nothing(api, db, setup_draft, case):
    status, make_body = FAILING_PATCHES[case]
    draft_id = setup_draft["draft_id"]
    before = snapshot(db, draft_id)
    assert len(before["entries"]) == 1

    error(api, {"draft_id": draft_id, **make_body(setup_draft)}, status)

    assert snapshot(db, draft_id) == before  # no entry, no version, no state, no resource
    shown = view(api, draft_id=draft_id)
    assert shown["draft_version"] == 1
    assert selected_values(shown["names"]) == ["Ada"]
    assert selected_values(shown["departments"]) == ["Sales", "Ops"]


# --- rule 2: expected_version ------------------------------------------------------------------------------


def test_expected_version_mismatch_is_a_version_conflict_with_the_current_version(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    assert ok(api, {"draft_id": draft_id, "expected_version": 1, "description": "One"})["new_version"] == 2
    before = snapshot(db, draft_id)
    for stale in (1, 3):
        body = error(
            api, {"draft_id": draft_id, "expected_version": stale, "description": "Two"}, 409, "version_conflict"
        )
        assert body["current_version"] == 2
    assert snapshot(db, draft_id) == before
    assert ok(api, {"draft_id": draft_id})["form_state"]["description"] == "One"


# --- the journal -------------------------------------------------------------------------------------------


def test_each_patch_appends_an_entry_and_entries_are_never_rewritten(api, db):
    first = patch(api, {"name": "Ada", "idempotency_key": "k1"})
    assert first.status_code == 200, first.text
    draft_id = first.json()["draft_id"]
    (entry,) = entry_rows(db, draft_id)
    assert entry["key"] == "k1" and entry["state"] == "applied"
    assert entry["patch"] == {"name": "Ada"}
    assert entry["response"] == first.text

    ok(api, {"draft_id": draft_id, "name": "Bob", "departments": ["Sales"]})
    ok(api, {"draft_id": draft_id, "name_id": None})

    entries = entry_rows(db, draft_id)
    assert len(entries) == 3
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0] == entry  # patch, state and stored response untouched
    assert entries[1]["patch"] == {"name": "Bob", "departments": ["Sales"]}
    assert entries[2]["patch"] == {"name_id": None}
    assert all(e["state"] == "applied" for e in entries)
    assert view(api, draft_id=draft_id)["draft_version"] == 3


def test_a_patch_costs_the_same_statements_on_a_journal_of_ten_thousand(api, db, count_statements):
    ok(api, {"name": "Start", "departments": ["Sales"]})  # every value the measured patches use exists
    small = ok(api, {"name": "Start"})["draft_id"]
    big = ok(api, {"name": "Start"})["draft_id"]
    now = utcnow()
    rows = [
        {
            "draft_id": uuid.UUID(big),
            "key": f"bulk-{n}",
            "seq": n,
            "state": "applied",
            "request_hash": "0" * 64,
            "patch": {"examples": [f"example {n}"]},
            "expected_version": None,
            "response": "{}",
            "actor_id": None,
            "actor_name": "bulk",
            "via_agent": False,
            "created_at": now,
        }
        for n in range(2, 10_001)
    ]
    with db.transaction(write=True) as session:
        session.execute(insert(DraftEntry.__table__), rows)
        session.execute(
            update(Draft.__table__)
            .where(Draft.__table__.c.id == uuid.UUID(big))
            .values(entry_count=10_000, version=10_000)
        )
    assert len(entry_rows(db, small)) == 1 and len(entry_rows(db, big)) == 10_000

    counts, answers = {}, {}
    for name, draft_id in (("small", small), ("big", big)):
        with count_statements() as counter:
            # Values new to the group in both scenes, so each does the same work but for the journal's length.
            answers[name] = ok(api, {"draft_id": draft_id, "name": f"Start {name}", "departments": [f"Sales {name}"]})
        counts[name] = counter.count
    assert answers["small"]["new_version"] == 2 and answers["big"]["new_version"] == 10_001
    assert answers["big"]["form_state"]["departments"] == ["Sales big"]
    assert len(entry_rows(db, big)) == 10_001
    assert counts["small"] == counts["big"], counts
    assert counts["big"] < 40, counts


# --- soft proposals and acks -------------------------------------------------------------------------------


def waiting_proposals(api, draft_id: str) -> int:
    return next(e["waiting_proposals"] for e in api.ok("personas", "drafts")["entries"] if e["draft_id"] == draft_id)


def _propose(api, draft_id: str, **fields: Any) -> dict[str, Any]:
    return ok(api, {"draft_id": draft_id, "soft": True, **fields})


def test_soft_patch_is_a_dormant_proposal_listed_in_the_form_state(make_api, db):
    api = make_api("editor", name="Grace Hopper")
    made = ok(api, {"name": "Ada"})
    draft_id = made["draft_id"]
    before = snapshot(db, draft_id)

    proposal = _propose(api, draft_id, name="Bob", departments=["Sales"], idempotency_key="p1")

    assert set(proposal) == RESPONSE_FIELDS
    assert proposal["idempotency_key"] == "p1"
    assert proposal["new_version"] == 1
    state = proposal["form_state"]
    assert state["version"] == 1 and state["name"] == "Ada" and state["departments"] == []
    (listed,) = state["proposals"]
    assert listed["idempotency_key"] == "p1"
    assert listed["actor_name"] == "Grace Hopper"
    datetime.fromisoformat(listed["created_at"].replace("Z", "+00:00"))
    assert listed["changes"] == {"name": "Bob", "departments": ["Sales"]}

    after = snapshot(db, draft_id)
    assert after["draft"]["version"] == before["draft"]["version"]
    assert after["draft"]["form_state"] == before["draft"]["form_state"]
    assert [e["state"] for e in after["entries"]] == ["applied", "dormant"]
    shown = view(api, draft_id=draft_id)
    assert shown["draft_version"] == 1 and selected_values(shown["names"]) == ["Ada"]
    # The proposal stays listed on later answers until it is decided.
    assert [p["idempotency_key"] for p in ok(api, {"draft_id": draft_id})["form_state"]["proposals"]] == ["p1"]


def test_an_agent_patch_is_always_a_proposal(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    for route in ("v5", "legacy"):
        answer = ok(api.as_agent(), {"draft_id": draft_id, "name": f"Agent via {route}"}, route)
        assert answer["new_version"] == 1 and answer["form_state"]["name"] == "Ada"
        assert answer["idempotency_key"] in [p["idempotency_key"] for p in answer["form_state"]["proposals"]]
    assert [e["state"] for e in entry_rows(db, draft_id)] == ["applied", "dormant", "dormant"]
    # A new draft made by an agent holds its first patch as a proposal too.
    fresh = ok(api.as_agent(), {"name": "Agent draft"})
    assert fresh["new_version"] == 0 and fresh["form_state"]["name"] is None
    assert len(fresh["form_state"]["proposals"]) == 1


def test_accepting_a_proposal_applies_it_and_repeating_the_ack_changes_nothing(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    key = _propose(api, draft_id, name="Bob", departments=["Sales"])["idempotency_key"]

    accepted = patch(api, {"draft_id": draft_id, "idempotency_key": key, "accept": True})
    assert accepted.status_code == 200, accepted.text
    data = accepted.json()
    assert data["new_version"] == 2
    assert data["form_state"]["name"] == "Bob" and data["form_state"]["departments"] == ["Sales"]
    assert entry_rows(db, draft_id)[1]["state"] == "applied"
    assert waiting_proposals(api, draft_id) == 0
    assert selected_values(view(api, draft_id=draft_id)["names"]) == ["Bob"]

    settled = snapshot(db, draft_id)
    again = patch(api, {"draft_id": draft_id, "idempotency_key": key, "accept": True})
    assert again.status_code == 200 and again.content == accepted.content
    assert snapshot(db, draft_id) == settled

    error(api, {"draft_id": draft_id, "idempotency_key": key, "accept": False}, 409, "already_decided")
    assert snapshot(db, draft_id) == settled


def test_rejecting_a_proposal_leaves_the_form_and_repeating_changes_nothing(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    key = _propose(api, draft_id, name="Bob")["idempotency_key"]
    before = snapshot(db, draft_id)

    rejected = patch(api, {"draft_id": draft_id, "idempotency_key": key, "accept": False})
    assert rejected.status_code == 200, rejected.text
    data = rejected.json()
    assert data["new_version"] == 1 and data["form_state"]["name"] == "Ada"
    assert waiting_proposals(api, draft_id) == 0
    after = snapshot(db, draft_id)
    assert after["draft"]["version"] == before["draft"]["version"]
    assert after["draft"]["form_state"] == before["draft"]["form_state"]
    assert after["entries"][1]["state"] == "rejected"
    assert after["entries"][1]["patch"] == {"name": "Bob"}  # kept, never lost

    again = patch(api, {"draft_id": draft_id, "idempotency_key": key, "accept": False})
    assert again.status_code == 200 and again.content == rejected.content
    assert snapshot(db, draft_id) == after

    error(api, {"draft_id": draft_id, "idempotency_key": key, "accept": True}, 409, "already_decided")
    assert snapshot(db, draft_id) == after
    assert selected_values(view(api, draft_id=draft_id)["names"]) == ["Ada"]


@pytest.mark.parametrize("accept", [True, False])
def test_an_ack_answers_a_form_state_without_the_decided_proposal(api, accept):
    """The ack's form_state replaces the client's state, so it must not show the decided entry as waiting."""
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    decided = _propose(api, draft_id, name="Bob")["idempotency_key"]
    waiting = _propose(api, draft_id, description="Still waiting")["idempotency_key"]

    answer = ok(api, {"draft_id": draft_id, "idempotency_key": decided, "accept": accept})

    assert [p["idempotency_key"] for p in answer["form_state"]["proposals"]] == [waiting]


@pytest.mark.parametrize("accept", [True, False])
def test_an_agent_cannot_decide_a_proposal(api, db, accept):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    key = _propose(api, draft_id, name="Bob")["idempotency_key"]
    before = snapshot(db, draft_id)

    error(api.as_agent(), {"draft_id": draft_id, "idempotency_key": key, "accept": accept}, 403, "agent_refused")

    assert snapshot(db, draft_id) == before
    # Still waiting: a person can decide it.
    decided = ok(api, {"draft_id": draft_id, "idempotency_key": key, "accept": accept})
    assert decided["form_state"]["name"] == ("Bob" if accept else "Ada")


@pytest.mark.parametrize("accept", [True, False])
def test_a_person_cannot_ack_what_they_proposed_as_an_agent(api, db, accept):
    """An X-MCP proposal is an agent's change: its own author may not approve it (issue 28, finding 16)."""
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    key = ok(api.as_agent(), {"draft_id": draft_id, "name": "Bob"})["idempotency_key"]
    before = snapshot(db, draft_id)

    body = error(api, {"draft_id": draft_id, "idempotency_key": key, "accept": accept}, 403, "own_proposal")

    assert key in body["detail"]
    assert snapshot(db, draft_id) == before
    state = ok(api, {"draft_id": draft_id})["form_state"]
    assert state["name"] == "Ada" and [p["idempotency_key"] for p in state["proposals"]] == [key]


def test_accepting_a_proposal_whose_expected_version_moved_on_is_a_conflict(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    key = _propose(api, draft_id, name="Bob", expected_version=1)["idempotency_key"]
    ok(api, {"draft_id": draft_id, "description": "Moved on"})
    before = snapshot(db, draft_id)

    error(api, {"draft_id": draft_id, "idempotency_key": key, "accept": True}, 409)

    assert snapshot(db, draft_id) == before
    state = ok(api, {"draft_id": draft_id})["form_state"]
    assert state["name"] == "Ada" and [p["idempotency_key"] for p in state["proposals"]] == [key]


# --- replay ------------------------------------------------------------------------------------------------


def test_replayed_patch_answers_the_stored_response_and_writes_nothing(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    body = {"draft_id": draft_id, "description": "Helps", "idempotency_key": "retry-me"}
    first = patch(api, body)
    assert first.status_code == 200, first.text
    ok(api, {"draft_id": draft_id, "description": "Later"})  # the draft moves on
    settled = snapshot(db, draft_id)

    again = patch(api, body)

    assert again.status_code == 200
    assert again.content == first.content  # byte for byte, even though the draft moved on
    assert snapshot(db, draft_id) == settled
    assert view(api, draft_id=draft_id)["draft_version"] == 3
    assert len(entry_rows(db, draft_id)) == 3


def test_replay_works_on_the_legacy_route_too(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    body = {"input_draft_id": draft_id, "voices": ["Alto"], "idempotency_key": "legacy-retry"}
    first = patch(api, body, "legacy")
    assert first.status_code == 200, first.text
    settled = snapshot(db, draft_id)
    again = patch(api, body, "legacy")
    assert again.status_code == 200 and again.content == first.content
    assert snapshot(db, draft_id) == settled


def test_reused_key_with_another_body_is_an_idempotency_mismatch(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    ok(api, {"draft_id": draft_id, "description": "Helps", "idempotency_key": "once"})
    before = snapshot(db, draft_id)
    error(api, {"draft_id": draft_id, "description": "Other", "idempotency_key": "once"}, 409, "idempotency_mismatch")
    assert snapshot(db, draft_id) == before


def test_idempotency_key_is_at_most_255_characters(api, db):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    before = snapshot(db, draft_id)
    error(api, {"draft_id": draft_id, "description": "Helps", "idempotency_key": "k" * 256}, 422)
    assert snapshot(db, draft_id) == before
    answer = ok(api, {"draft_id": draft_id, "description": "Helps", "idempotency_key": "k" * 255})
    assert answer["idempotency_key"] == "k" * 255


def test_retried_new_draft_patch_makes_one_draft(api, db):
    body = {"name": "Ada", "departments": ["Sales"], "idempotency_key": "new-draft-once"}
    first = patch(api, body)
    assert first.status_code == 200, first.text
    draft_id = first.json()["draft_id"]
    settled = snapshot(db, draft_id)

    again = patch(api, body)

    assert again.status_code == 200 and again.content == first.content
    assert draft_count(db) == 1
    assert snapshot(db, draft_id) == settled
    assert [e["draft_id"] for e in api.ok("personas", "drafts")["entries"]] == [draft_id]


# --- edit drafts and commits -------------------------------------------------------------------------------


def test_edit_draft_starts_from_the_artifact_and_get_shows_the_draft(api):
    persona_id = api.create("personas", name="Ada", description="Old", departments=["Sales"])
    made = ok(api, {"persona_id": persona_id, "description": "New"})
    state = made["form_state"]
    assert state["persona_id"] == persona_id
    assert state["name"] == "Ada" and state["departments"] == ["Sales"] and state["description"] == "New"

    shown = view(api, persona_id=persona_id, draft_id=made["draft_id"])
    assert selected_values(shown["descriptions"]) == ["New"]  # the draft wins for selections
    assert selected_values(shown["names"]) == ["Ada"]
    assert shown["draft_version"] == made["new_version"] == 1
    assert shown["persona_id"] == persona_id
    assert view(api, draft_id=made["draft_id"])["draft_version"] == 1
    # The persona itself is untouched until the draft is committed.
    persona = view(api, persona_id=persona_id)
    assert selected_values(persona["descriptions"]) == ["Old"] and persona["version"] == 1


def test_update_with_an_edit_draft_commits_it(api):
    persona_id = api.create("personas", name="Ada", description="Old")
    draft_id = ok(api, {"persona_id": persona_id, "description": "New", "voices": ["Alto"]})["draft_id"]

    (result,) = api.ok("personas", "update", {"personas": [{"persona_id": persona_id, "draft_id": draft_id}]})[
        "results"
    ]

    assert result["success"] is True and result["version"] == 2, result
    persona = view(api, persona_id=persona_id)
    assert persona["version"] == 2
    assert selected_values(persona["descriptions"]) == ["New"] and selected_values(persona["voices"]) == ["Alto"]
    error(api, {"draft_id": draft_id, "description": "After"}, 409, "draft_committed")
    assert selected_values(view(api, persona_id=persona_id)["descriptions"]) == ["New"]
    listed = {e["draft_id"]: e for e in api.ok("personas", "drafts")["entries"]}
    assert listed[draft_id]["status"] == "committed"


def test_create_with_a_new_draft_makes_the_artifact(api):
    draft_id = ok(api, {"name": "Nova", "voices": ["Alto"], "departments": ["Ops"]})["draft_id"]

    (result,) = api.ok("personas", "create", {"personas": [{"draft_id": draft_id}]})["results"]

    assert result["success"] is True, result
    persona = view(api, persona_id=result["persona_id"])
    assert persona["version"] == 1
    assert selected_values(persona["names"]) == ["Nova"]
    assert selected_values(persona["voices"]) == ["Alto"] and selected_values(persona["departments"]) == ["Ops"]
    error(api, {"draft_id": draft_id, "name": "Again"}, 409, "draft_committed")
    error(api, {"input_draft_id": draft_id, "name": "Again"}, 409, "draft_committed", route="legacy")


def test_patching_a_draft_whose_artifact_was_deleted_is_artifact_gone(api, db):
    persona_id = api.create("personas", name="Ada")
    draft_id = ok(api, {"persona_id": persona_id, "description": "New"})["draft_id"]
    (deleted,) = api.ok("personas", "delete", {"persona_ids": [persona_id]})["results"]
    assert deleted["success"] is True
    before = snapshot(db, draft_id)
    error(api, {"draft_id": draft_id, "description": "Newer"}, 409, "artifact_gone")
    assert snapshot(db, draft_id) == before


def test_committing_an_edit_draft_after_another_update_is_a_version_conflict(api, make_api):
    persona_id = api.create("personas", name="Ada", description="Old")
    draft_id = ok(api, {"persona_id": persona_id, "description": "Mine"})["draft_id"]
    colleague = make_api("editor")
    (theirs,) = colleague.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "Theirs"}]})[
        "results"
    ]
    assert theirs["success"] is True and theirs["version"] == 2

    (result,) = api.ok("personas", "update", {"personas": [{"persona_id": persona_id, "draft_id": draft_id}]})[
        "results"
    ]

    assert result["success"] is False and result["code"] == "version_conflict", result
    persona = view(api, persona_id=persona_id)
    assert persona["version"] == 2 and selected_values(persona["descriptions"]) == ["Theirs"]
    # The failed item changed nothing: the draft is still open.
    listed = {e["draft_id"]: e for e in api.ok("personas", "drafts")["entries"]}
    assert listed[draft_id]["status"] == "open"
    assert ok(api, {"draft_id": draft_id, "expected_version": 1, "voices": ["Alto"]})["new_version"] == 2


# --- the drafts list and privacy ---------------------------------------------------------------------------


def test_drafts_lists_only_the_callers_own_newest_first(api, make_api):
    persona_id = api.create("personas", name="Edited")
    first = ok(api, {"name": "First"})["draft_id"]
    ok(api, {"draft_id": first, "description": "v2"})
    edit = ok(api, {"persona_id": persona_id})["draft_id"]
    last = ok(api, {"name": "Last"})["draft_id"]
    _propose(api, last, name="Proposed")
    ok(api.as_agent(), {"draft_id": last, "voices": ["Agent voice"]})
    make_api("editor").ok("personas", "draft", {"name": "Not yours"}, method="PATCH")

    entries = api.ok("personas", "drafts")["entries"]

    assert [e["draft_id"] for e in entries] == [last, edit, first]
    by_id = {e["draft_id"]: e for e in entries}
    assert by_id[first]["version"] == 2 and by_id[first]["name"] == "First"
    assert by_id[first]["persona_id"] is None and by_id[first]["waiting_proposals"] == 0
    assert by_id[edit]["persona_id"] == persona_id and by_id[edit]["name"] == "Edited"
    assert by_id[edit]["version"] == 1
    assert by_id[last]["waiting_proposals"] == 2 and by_id[last]["version"] == 1 and by_id[last]["name"] == "Last"
    assert all(e["status"] == "open" for e in entries)
    # The body is optional.
    bare = api.client.post("/api/v5/artifacts/personas/drafts", headers=api.headers)
    assert bare.status_code == 200, bare.text
    assert [e["draft_id"] for e in bare.json()["entries"]] == [last, edit, first]


@pytest.mark.parametrize("group", ["acme", "globex"])
def test_another_profiles_draft_is_not_found(api, make_api, db, group):
    draft_id = ok(api, {"name": "Ada"})["draft_id"]
    key = _propose(api, draft_id, name="Bob")["idempotency_key"]
    stranger = make_api("editor", group=group)  # a new group gets its flag catalog: before the snapshot
    before = snapshot(db, draft_id)

    error(stranger, {"draft_id": draft_id, "name": "Mine now"}, 404)
    error(stranger, {"input_draft_id": draft_id, "name": "Mine now"}, 404, route="legacy")
    error(stranger, {"draft_id": draft_id, "idempotency_key": key, "accept": True}, 404)
    response = stranger.op("personas", "get", {"draft_id": draft_id})
    assert response.status_code == 404, response.text
    assert stranger.ok("personas", "drafts")["entries"] == []
    assert snapshot(db, draft_id) == before


# --- roles -------------------------------------------------------------------------------------------------


def test_a_viewer_cannot_patch_but_can_list_drafts(make_api, db):
    viewer = make_api("viewer")
    for route in ("v5", "legacy"):
        body = error(viewer, {"name": "Ada"}, 403, route=route)
        assert "editor" in body["detail"]
    assert draft_count(db) == 0
    assert viewer.ok("personas", "drafts")["entries"] == []
