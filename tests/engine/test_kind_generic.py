"""The engine's generic rules, run over every artifact kind (API.md sections 2 to 6), through HTTP.

Each test runs for each kind of `loomwork.kinds.ARTIFACT_KINDS` on SQLite and on
PostgreSQL (`kind` x `dialect`), and the draft tests on both draft routes (the
v5 PATCH route and the kind's legacy POST route). Field names come from the
kind's declaration; the values are plain text, since every kind has a name, a
description, flags and departments. What is truly special about one kind lives
in that kind's own tests (test_tool_rules.py, test_model_flag_rules.py). The same
rules in depth, through the persona kind: test_draft_patches.py,
test_artifact_operations.py, test_search.py, test_docs.py, test_csv_export_import.py.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import assert_error
from loomwork.engine.declaration import ArtifactKind, Facet, Slot
from loomwork.kinds import ARTIFACT_KINDS

# From the contract (API.md section 2), not from the declarations, so a wrong declaration fails here.
LEGACY_DRAFT_PATHS = {
    "personas": "/persona/draft",
    "tools": "/tool/draft",
    "evals": "/eval/draft",
    "invocations": "/test/draft",
}
OPERATION_ROLES = {
    "get": "viewer",
    "search": "viewer",
    "create": "editor",
    "update": "editor",
    "duplicate": "editor",
    "delete": "editor",
    "draft": "editor",
    "drafts": "viewer",
    "draft/rebase": "editor",
    "draft/discard": "viewer",
    "docs": "viewer",
    "export": "viewer",
    "import": "editor",
    "refresh": "admin",
    "history": "viewer",
    "revision": "viewer",
    "diff": "viewer",
    "rollback": "editor",
    "label": "editor",
    "resolve": "viewer",
    "generate": "editor",
}
DRAFT_RESPONSE_FIELDS = {"success", "draft_id", "idempotency_key", "new_version", "message", "form_state"}


# --- the kind under test -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """An artifact kind's declaration and the request and response field names derived from it."""

    decl: ArtifactKind

    @property
    def plural(self) -> str:
        return self.decl.plural

    @property
    def id_field(self) -> str:
        return self.decl.id_field

    @property
    def exists_field(self) -> str:
        return f"{self.decl.name}_exists"

    @property
    def active_type(self) -> str:
        return self.decl.active_flag_type

    @property
    def name(self) -> Slot:
        return self.decl.name_slot

    @property
    def description(self) -> Slot:
        return self.decl.slot_by_key["description"]

    @property
    def department(self) -> Slot:
        return self.decl.slot_by_key["department"]

    @property
    def flag(self) -> Slot:
        slot = self.decl.flag_slot
        assert slot is not None
        return slot

    @property
    def department_facet(self) -> Facet:
        return next(f for f in self.decl.facets if f.slot == "department")

    def item(
        self, name: str | None = None, description: str | None = None, departments: list[str] | None = None, **more: Any
    ) -> dict[str, Any]:
        """A create item / patch body from plain values, spelled with the kind's own field names."""
        body: dict[str, Any] = dict(more)
        if name is not None:
            body[self.name.value_field] = name
        if description is not None:
            body[self.description.value_field] = description
        if departments is not None:
            body[self.department.value_field] = departments
        return body


@pytest.fixture(params=ARTIFACT_KINDS, ids=lambda decl: decl.plural)
def kind(request: pytest.FixtureRequest) -> Kind:
    return Kind(request.param)


@pytest.fixture(params=["v5", "legacy"])
def route(request: pytest.FixtureRequest) -> str:
    return request.param


# --- helpers -----------------------------------------------------------------------------------------------


def new_id() -> str:
    return str(uuid.uuid4())


def view(api, kind: Kind, **body: Any) -> dict[str, Any]:
    return api.ok(kind.plural, "get", body)


def selected(section: dict[str, Any]) -> list[Any]:
    return [o["value"] for o in section["options"] if o["selected"]]


def flag_pairs(flags: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(f["type"], f["value"]) for f in flags}


def catalog_flags(api, kind: Kind) -> dict[tuple[str, str], str]:
    """The flag options a form of this kind offers, by (type, value)."""
    return {(o["value"]["type"], o["value"]["value"]): o["id"] for o in view(api, kind)[kind.flag.section]["options"]}


def bulk(api, kind: Kind, operation: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return api.ok(kind.plural, operation, {kind.plural: items})["results"]


def create(api, kind: Kind, **values: Any) -> str:
    (result,) = bulk(api, kind, "create", [kind.item(**values)])
    assert result["success"] is True, result
    return result[kind.id_field]


def search(api, kind: Kind, **body: Any) -> dict[str, Any]:
    return api.ok(kind.plural, "search", body)


def listed_names(answer: dict[str, Any], kind: Kind) -> list[str]:
    return [item[kind.name.key] for item in answer[kind.plural]]


def send_draft(api, kind: Kind, route: str, body: dict[str, Any]):
    """One draft request: PATCH on the v5 route, or POST on the legacy route with its `input_draft_id`."""
    if route == "legacy":
        legacy = {("input_draft_id" if k == "draft_id" else k): v for k, v in body.items()}
        return api.post(LEGACY_DRAFT_PATHS[kind.plural], legacy)
    return api.op(kind.plural, "draft", body, method="PATCH")


def patched(api, kind: Kind, route: str, body: dict[str, Any]) -> dict[str, Any]:
    response = send_draft(api, kind, route, body)
    assert response.status_code == 200, response.text
    return response.json()


def refused(api, kind: Kind, route: str, body: dict[str, Any], status: int, code: str | None = None) -> dict[str, Any]:
    return assert_error(send_draft(api, kind, route, body), status, code)


def draft_view(api, kind: Kind, draft_id: str) -> dict[str, Any]:
    """`get` of a draft: a read that never touches the draft's version."""
    return view(api, kind, draft_id=draft_id)


def entry_of(api, kind: Kind, draft_id: str) -> dict[str, Any]:
    return next(e for e in api.ok(kind.plural, "drafts")["entries"] if e["draft_id"] == draft_id)


# --- create, update, get, duplicate, delete ----------------------------------------------------------------


def test_bulk_create_answers_per_item_and_a_failed_item_changes_nothing(api, kind):
    results = bulk(
        api,
        kind,
        "create",
        [
            kind.item("Alpha", departments=["Sales"]),
            kind.item(description="Nameless", departments=["Orphan"]),
            kind.item("Ghost", "Phantom", ["Haunted"], **{kind.department.id_field: [new_id()]}),
            kind.item("Beta"),
        ],
    )

    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["success"] for r in results] == [True, False, False, True]
    assert [r["code"] for r in results] == [None, "invalid", "not_found", None]
    assert results[1]["field"].startswith(kind.name.key) and kind.name.key in results[1]["message"]
    assert results[2]["field"].startswith(kind.department.id_field), results[2]
    made = [results[0][kind.id_field], results[3][kind.id_field]]
    assert len({uuid.UUID(i) for i in made}) == 2 and results[0]["version"] == results[3]["version"] == 1
    answer = search(api, kind)
    assert answer["total_count"] == 2 and sorted(listed_names(answer, kind)) == ["Alpha", "Beta"]
    # the failed items' values were rolled back with them
    shown = view(api, kind)
    assert sorted(o["value"] for o in shown[kind.name.section]["options"]) == ["Alpha", "Beta"]
    assert shown[kind.description.section]["total"] == 0
    assert [o["value"] for o in shown[kind.department.section]["options"]] == ["Sales"]


def test_bulk_create_items_bringing_one_new_value_share_one_resource_and_a_failed_items_value_is_not_made(api, kind):
    results = bulk(
        api,
        kind,
        "create",
        [
            kind.item("Alpha", "Shared text", ["New team", " New team "]),
            kind.item("Beta", "Shared text", ["New team"]),
            kind.item("Ghost", "Only mine", ["Only mine too"], **{kind.description.id_field: new_id()}),
        ],
    )

    assert [r["success"] for r in results] == [True, True, False], results
    assert results[2]["code"] == "not_found" and results[2]["field"] == kind.description.id_field
    alpha, beta = (view(api, kind, **{kind.id_field: r[kind.id_field]}) for r in results[:2])
    for section in (kind.description.section, kind.department.section):
        assert alpha[section]["selected_ids"] == beta[section]["selected_ids"], section
        assert len(alpha[section]["selected_ids"]) == 1, section
    shown = view(api, kind)
    assert [o["value"] for o in shown[kind.description.section]["options"]] == ["Shared text"]
    assert [o["value"] for o in shown[kind.department.section]["options"]] == ["New team"]


def test_bulk_create_commits_drafts_among_plain_items_and_answers_in_item_order(api, kind):
    draft_id = patched(api, kind, "v5", kind.item("Drafted", departments=["Sales"]))["draft_id"]

    results = bulk(
        api,
        kind,
        "create",
        [
            kind.item("Plain one", departments=["Sales"]),
            {"draft_id": draft_id},
            kind.item(description="Nameless"),
            kind.item("Plain two", departments=["Sales", "Ops"]),
        ],
    )

    assert [(r["index"], r["success"]) for r in results] == [(0, True), (1, True), (2, False), (3, True)]
    assert results[2]["field"].startswith(kind.name.key), results[2]
    assert entry_of(api, kind, draft_id)["status"] == "committed"
    assert sorted(listed_names(search(api, kind), kind)) == ["Drafted", "Plain one", "Plain two"]
    sales = {o["value"]: o["id"] for o in view(api, kind)[kind.department.section]["options"]}
    assert set(sales) == {"Sales", "Ops"}
    drafted = view(api, kind, **{kind.id_field: results[1][kind.id_field]})
    assert drafted[kind.department.section]["selected_ids"] == [sales["Sales"]]


def test_update_with_a_stale_expected_version_fails_its_item_with_version_conflict(api, kind):
    alpha, beta = create(api, kind, name="Alpha"), create(api, kind, name="Beta")
    (first,) = bulk(
        api, kind, "update", [{kind.id_field: alpha, "expected_version": 1, **kind.item(description="First")}]
    )
    assert first["success"] is True and first["version"] == 2, first

    stale, fine = bulk(
        api,
        kind,
        "update",
        [
            {kind.id_field: alpha, "expected_version": 1, **kind.item(description="Stale")},
            {kind.id_field: beta, "expected_version": 1, **kind.item(description="Fine")},
        ],
    )

    assert stale["success"] is False and stale["code"] == "version_conflict", stale
    assert stale["current_version"] == 2 and stale[kind.id_field] == alpha
    assert fine["success"] is True and fine["version"] == 2, fine
    shown = view(api, kind, **{kind.id_field: alpha})
    assert shown["version"] == 2 and selected(shown[kind.description.section]) == ["First"]
    assert "Stale" not in [o["value"] for o in shown[kind.description.section]["options"]]


def test_get_lists_a_section_per_slot_with_the_selected_options_first(api, kind):
    create(api, kind, name="Other", departments=["Zeta"])
    artifact_id = create(api, kind, name="Alpha", description="Helps", departments=["Sales", "Ops"], active=True)

    shown = view(api, kind, **{kind.id_field: artifact_id})

    assert shown[kind.id_field] == artifact_id and shown[kind.exists_field] is True
    assert shown["version"] == 1 and shown["active"] is True and shown["pending_ids"] == []
    for slot in kind.decl.slots:
        section = shown[slot.section]
        assert [o["id"] for o in section["options"] if o["selected"]] == section["selected_ids"], slot.section
        flags = [o["selected"] for o in section["options"]]
        assert flags == sorted(flags, reverse=True), slot.section  # selected options come first
    holding = {slot.section for slot in kind.decl.slots if shown[slot.section]["selected_ids"]}
    assert holding == {kind.name.section, kind.description.section, kind.department.section, kind.flag.section}
    assert [(o["value"], o["selected"]) for o in shown[kind.name.section]["options"]] == [
        ("Alpha", True),
        ("Other", False),
    ]
    assert selected(shown[kind.description.section]) == ["Helps"]
    assert [(o["value"], o["selected"]) for o in shown[kind.department.section]["options"]] == [
        ("Sales", True),
        ("Ops", True),
        ("Zeta", False),
    ]
    assert shown[kind.department.section]["total"] == 3
    assert selected(shown[kind.flag.section]) == [{"type": kind.active_type, "value": "true"}]
    # the form offers its own kind's active flag, never another kind's
    offered = set(catalog_flags(api, kind))
    assert {(kind.active_type, "true"), (kind.active_type, "false")} <= offered
    others = {k.active_flag_type for k in ARTIFACT_KINDS if k is not kind.decl}
    assert not {flag_type for flag_type, _value in offered} & others, offered


def test_get_of_an_unknown_or_another_groups_id_is_404(api, make_api, kind):
    theirs = create(make_api(group="other"), kind, name="Eve")
    for artifact_id in (new_id(), theirs):
        assert_error(api.op(kind.plural, "get", {kind.id_field: artifact_id}), 404, "not_found")


def test_duplicate_copies_every_connection_under_a_copy_name(api, kind):
    original = create(
        api,
        kind,
        name="Alpha",
        description="Helps",
        departments=["Sales", "Ops"],
        active=False,
        **{kind.flag.value_field: [{"type": "tier", "value": "gold"}]},
    )
    ops = view(api, kind, **{kind.id_field: original})[kind.department.section]["selected_ids"][1]
    (pending,) = bulk(api, kind, "update", [{kind.id_field: original, "pending_ids": [ops]}])
    assert pending["success"] is True, pending
    before = view(api, kind, **{kind.id_field: original})

    response = api.ok(kind.plural, "duplicate", {kind.id_field: original})

    copy_id = response[kind.id_field]
    assert response["success"] is True and copy_id != original and response["version"] == 1
    copy = view(api, kind, **{kind.id_field: copy_id})
    assert selected(copy[kind.name.section]) == ["Alpha (copy)"]
    for slot in kind.decl.slots:
        if slot is not kind.name:
            assert copy[slot.section]["selected_ids"] == before[slot.section]["selected_ids"], slot.section
    assert flag_pairs(selected(copy[kind.flag.section])) == {("tier", "gold"), (kind.active_type, "false")}
    assert copy["active"] is False and copy["pending_ids"] == [ops] and copy["version"] == 1
    after = view(api, kind, **{kind.id_field: original})
    assert after["version"] == before["version"] == 2 and after["pending_ids"] == [ops]
    assert all(after[s.section]["selected_ids"] == before[s.section]["selected_ids"] for s in kind.decl.slots)
    assert search(api, kind)["total_count"] == 2


def test_bulk_delete_fails_unknown_ids_in_their_own_item(api, make_api, kind):
    alpha, beta, kept = (create(api, kind, name=n) for n in ("Alpha", "Beta", "Kept"))
    other = make_api(group="other")
    theirs = create(other, kind, name="Eve")
    unknown = new_id()

    results = api.ok(kind.plural, "delete", {kind.decl.ids_field: [alpha, unknown, beta, theirs]})["results"]

    assert [r[kind.id_field] for r in results] == [alpha, unknown, beta, theirs]
    assert [r["success"] for r in results] == [True, False, True, False]
    assert [r["code"] for r in results] == [None, "not_found", None, "not_found"]
    assert all(isinstance(r["message"], str) and r["message"] for r in results)
    for gone in (alpha, beta):
        assert_error(api.op(kind.plural, "get", {kind.id_field: gone}), 404, "not_found")
    assert [i[kind.id_field] for i in search(api, kind)[kind.plural]] == [kept]
    assert view(other, kind, **{kind.id_field: theirs})[kind.exists_field] is True


def test_an_artifact_or_draft_of_another_kind_is_not_found(api, kind):
    other = Kind(next(k for k in ARTIFACT_KINDS if k is not kind.decl))
    theirs = create(api, other, name="Elsewhere")
    their_draft = patched(api, other, "v5", other.item("Elsewhere draft"))["draft_id"]
    ours = create(api, kind, name="Ours")

    assert_error(api.op(kind.plural, "get", {kind.id_field: theirs}), 404, "not_found")
    assert_error(api.op(kind.plural, "get", {"draft_id": their_draft}), 404, "not_found")
    (update,) = bulk(api, kind, "update", [{kind.id_field: theirs, **kind.item(description="Hijack")}])
    (delete,) = api.ok(kind.plural, "delete", {kind.decl.ids_field: [theirs]})["results"]
    assert (update["code"], delete["code"]) == ("not_found", "not_found")
    refused(api, kind, "v5", {"draft_id": their_draft, **kind.item(description="Hijack")}, 404, "not_found")
    refused(api, kind, "v5", {kind.id_field: theirs}, 404, "not_found")
    assert [i[kind.id_field] for i in search(api, kind)[kind.plural]] == [ours]
    assert api.ok(kind.plural, "drafts")["entries"] == []
    shown = view(api, other, **{other.id_field: theirs})
    assert shown["version"] == 1 and shown[other.description.section]["selected_ids"] == []


# --- roles -------------------------------------------------------------------------------------------------


def test_a_viewer_cannot_create(make_api, kind):
    viewer = make_api("viewer")
    error = assert_error(viewer.op(kind.plural, "create", {kind.plural: [kind.item("Alpha")]}), 403)
    assert "editor" in error["detail"]
    assert search(viewer, kind)["total_count"] == 0


def test_an_agent_cannot_create(api, kind):
    assert_error(api.as_agent().op(kind.plural, "create", {kind.plural: [kind.item("Alpha")]}), 403)
    assert search(api, kind)["total_count"] == 0


# --- draft patches, on both routes -------------------------------------------------------------------------


def test_a_new_draft_answers_version_one_and_a_complete_form_state(api, kind, route):
    true_id = catalog_flags(api, kind)[(kind.active_type, "true")]

    answer = patched(api, kind, route, kind.item("Alpha", "Helps", ["Sales", "Ops"], active=True))

    assert set(answer) == DRAFT_RESPONSE_FIELDS
    assert answer["success"] is True and answer["new_version"] == 1 and answer["idempotency_key"]
    state = answer["form_state"]
    assert state["draft_id"] == answer["draft_id"] and state[kind.id_field] is None
    assert state["version"] == 1 and state["status"] == "open"
    assert state["pending_ids"] == [] and state["proposals"] == [] and state["active"] is True
    assert state[kind.name.key] == "Alpha" and uuid.UUID(state[kind.name.id_field])
    assert state[kind.description.key] == "Helps"
    assert state[kind.department.section] == ["Sales", "Ops"] and len(state[kind.department.id_field]) == 2
    assert state[kind.flag.section] == [{"type": kind.active_type, "value": "true"}]
    assert state[kind.flag.id_field] == [true_id]
    for slot in kind.decl.slots:
        if slot.key in ("name", "description", "department", "flag"):
            continue
        if slot.many:
            assert state[slot.id_field] == [] and state[slot.section] == [], slot.key
        else:
            assert state[slot.id_field] is None and state[slot.key] is None, slot.key
    shown = draft_view(api, kind, answer["draft_id"])
    assert shown["draft_version"] == 1 and shown[kind.name.section]["selected_ids"] == [state[kind.name.id_field]]


def test_a_stale_expected_version_is_a_409_version_conflict_with_the_current_version(api, kind, route):
    draft_id = patched(api, kind, route, kind.item("Alpha"))["draft_id"]
    moved = patched(api, kind, route, {"draft_id": draft_id, "expected_version": 1, **kind.item(description="One")})
    assert moved["new_version"] == 2

    for stale in (1, 3):
        body = refused(
            api,
            kind,
            route,
            {"draft_id": draft_id, "expected_version": stale, **kind.item(description="Two")},
            409,
            "version_conflict",
        )
        assert body["current_version"] == 2

    shown = draft_view(api, kind, draft_id)
    assert shown["draft_version"] == 2 and selected(shown[kind.description.section]) == ["One"]
    assert "Two" not in [o["value"] for o in shown[kind.description.section]["options"]]


def test_single_slot_id_selects_value_creates_or_finds_id_wins_and_null_clears(api, make_api, kind, route):
    first = patched(api, kind, route, kind.item("Alpha", "Helps"))
    alpha_id = first["form_state"][kind.name.id_field]
    second = patched(api, kind, route, kind.item("  Beta  "))
    draft_id, beta_id = second["draft_id"], second["form_state"][kind.name.id_field]
    assert second["form_state"][kind.name.key] == "Beta"  # trimmed
    name_id, name = kind.name.id_field, kind.name.value_field

    state = patched(api, kind, route, {"draft_id": draft_id, name_id: alpha_id})["form_state"]
    assert (state[name_id], state[kind.name.key]) == (alpha_id, "Alpha")  # an id selects
    state = patched(api, kind, route, {"draft_id": draft_id, name_id: beta_id, name: "Gamma"})["form_state"]
    assert (state[name_id], state[kind.name.key]) == (beta_id, "Beta")  # the id wins over a value
    state = patched(api, kind, route, {"draft_id": draft_id, name: " Alpha "})["form_state"]
    assert state[name_id] == alpha_id  # a value finds its existing resource

    state = patched(api, kind, route, {"draft_id": first["draft_id"], kind.description.id_field: None})["form_state"]
    assert state[kind.description.id_field] is None and state[kind.description.key] is None  # null clears
    assert (state[name_id], state[kind.name.key]) == (alpha_id, "Alpha")  # omitted: unchanged

    foreign = patched(make_api(group="other"), kind, route, kind.item("Secret", "Theirs"))["form_state"]
    department = patched(api, kind, route, kind.item("Dept", departments=["Sales"]))["form_state"]
    for wrong in (new_id(), foreign[kind.description.id_field], department[kind.department.id_field][0]):
        refused(api, kind, route, {"draft_id": draft_id, kind.description.id_field: wrong}, 404, "not_found")
    assert draft_view(api, kind, draft_id)["draft_version"] == 4


def test_many_slot_ids_replace_values_append_and_duplicates_collapse(api, kind, route):
    ids_field, values_field = kind.department.id_field, kind.department.value_field
    made = patched(api, kind, route, kind.item("Alpha", departments=["A", "B", "A", " B "]))
    draft_id, state = made["draft_id"], made["form_state"]
    assert state[kind.department.section] == ["A", "B"]
    a, b = state[ids_field]

    def patch(**fields: Any) -> dict[str, Any]:
        return patched(api, kind, route, {"draft_id": draft_id, **fields})["form_state"]

    assert patch(**{ids_field: [b, a, b]})[ids_field] == [b, a]  # ids replace, in order, once each
    assert patch(**{values_field: ["C", "A"]})[kind.department.section] == ["B", "A", "C"]  # values append
    c = draft_view(api, kind, draft_id)[kind.department.section]["selected_ids"][2]
    assert patch(**{ids_field: [c], values_field: ["A", "C"]})[ids_field] == [c, a]  # ids first, then values
    assert patch(**{ids_field: []})[kind.department.section] == []
    refused(api, kind, route, {"draft_id": draft_id, ids_field: [a, new_id()]}, 404, "not_found")
    assert draft_view(api, kind, draft_id)[kind.department.section]["selected_ids"] == []


def test_active_resolves_to_the_kinds_active_flag_and_replaces_the_old_one(api, kind, route):
    catalog = catalog_flags(api, kind)
    true_id, false_id = catalog[(kind.active_type, "true")], catalog[(kind.active_type, "false")]
    made = patched(
        api,
        kind,
        route,
        kind.item("Alpha", active=True, **{kind.flag.value_field: [{"type": "tier", "value": "gold"}]}),
    )
    draft_id, state = made["draft_id"], made["form_state"]
    assert state["active"] is True
    assert flag_pairs(state[kind.flag.section]) == {("tier", "gold"), (kind.active_type, "true")}
    (gold,) = set(state[kind.flag.id_field]) - {true_id}

    state = patched(api, kind, route, {"draft_id": draft_id, "active": False})["form_state"]
    assert state["active"] is False and set(state[kind.flag.id_field]) == {gold, false_id}
    # applied after flag_ids: it replaces the active flag flag_ids just chose
    state = patched(api, kind, route, {"draft_id": draft_id, kind.flag.id_field: [true_id], "active": False})[
        "form_state"
    ]
    assert state["active"] is False and state[kind.flag.id_field] == [false_id]
    refused(api, kind, route, {"draft_id": draft_id, kind.flag.id_field: [true_id, false_id]}, 422, "invalid")
    shown = draft_view(api, kind, draft_id)
    assert shown["active"] is False and shown[kind.flag.section]["selected_ids"] == [false_id]


def test_pending_ids_must_be_selected_else_422(api, kind, route):
    made = patched(api, kind, route, kind.item("Alpha", departments=["A", "B"]))
    draft_id, (_a, b) = made["draft_id"], made["form_state"][kind.department.id_field]
    elsewhere = patched(api, kind, route, kind.item("Other", departments=["Z"]))["form_state"][
        kind.department.id_field
    ][0]

    body = refused(api, kind, route, {"draft_id": draft_id, "pending_ids": [elsewhere]}, 422, "invalid")
    assert body.get("field") == "pending_ids" or "pending_ids" in body["detail"], body
    assert draft_view(api, kind, draft_id)["draft_version"] == 1

    state = patched(api, kind, route, {"draft_id": draft_id, "pending_ids": [b]})["form_state"]
    assert state["pending_ids"] == [b]
    shown = draft_view(api, kind, draft_id)
    assert shown["pending_ids"] == [b]
    assert {o["value"]: o["pending"] for o in shown[kind.department.section]["options"] if o["selected"]} == {
        "A": False,
        "B": True,
    }


def test_a_soft_patch_stays_dormant_and_shows_in_the_form_state_proposals(make_api, kind, route):
    api = make_api(name="Grace Hopper")
    draft_id = patched(api, kind, route, kind.item("Alpha"))["draft_id"]

    answer = patched(
        api,
        kind,
        route,
        {
            "draft_id": draft_id,
            "soft": True,
            "idempotency_key": "p1",
            **kind.item(description="Proposed", departments=["Sales"]),
        },
    )

    assert answer["idempotency_key"] == "p1" and answer["new_version"] == 1
    state = answer["form_state"]
    assert state["version"] == 1 and state[kind.description.key] is None and state[kind.department.section] == []
    (proposal,) = state["proposals"]
    assert proposal["idempotency_key"] == "p1" and proposal["actor_name"] == "Grace Hopper"
    assert proposal["via_agent"] is False
    assert proposal["changes"] == kind.item(description="Proposed", departments=["Sales"])
    shown = draft_view(api, kind, draft_id)
    assert shown["draft_version"] == 1 and shown[kind.description.section]["selected_ids"] == []
    assert entry_of(api, kind, draft_id)["waiting_proposals"] == 1


def test_accepting_a_proposal_applies_it_the_same_ack_replays_and_the_opposite_is_already_decided(api, kind, route):
    draft_id = patched(api, kind, route, kind.item("Alpha"))["draft_id"]
    key = patched(api, kind, route, {"draft_id": draft_id, "soft": True, **kind.item(description="Proposed")})[
        "idempotency_key"
    ]
    ack = {"draft_id": draft_id, "idempotency_key": key}

    accepted = send_draft(api, kind, route, {**ack, "accept": True})

    assert accepted.status_code == 200, accepted.text
    answer = accepted.json()
    assert answer["new_version"] == 2 and answer["form_state"]["proposals"] == []
    assert answer["form_state"][kind.description.key] == "Proposed"
    again = send_draft(api, kind, route, {**ack, "accept": True})
    assert again.status_code == 200 and again.content == accepted.content
    refused(api, kind, route, {**ack, "accept": False}, 409, "already_decided")
    shown = draft_view(api, kind, draft_id)
    assert shown["draft_version"] == 2 and selected(shown[kind.description.section]) == ["Proposed"]
    assert entry_of(api, kind, draft_id)["waiting_proposals"] == 0


def test_an_agent_patch_is_a_proposal_and_its_ack_is_403(api, kind, route):
    draft_id = patched(api, kind, route, kind.item("Alpha"))["draft_id"]
    agent = api.as_agent()
    proposal = patched(agent, kind, route, {"draft_id": draft_id, **kind.item(description="From agent")})
    assert proposal["new_version"] == 1 and proposal["form_state"][kind.description.key] is None
    assert [p["via_agent"] for p in proposal["form_state"]["proposals"]] == [True]
    ack = {"draft_id": draft_id, "idempotency_key": proposal["idempotency_key"], "accept": True}

    refused(agent, kind, route, ack, 403)

    assert draft_view(api, kind, draft_id)["draft_version"] == 1
    assert patched(api, kind, route, ack)["form_state"][kind.description.key] == "From agent"  # a person can


def test_a_replay_is_byte_identical_and_another_body_is_an_idempotency_mismatch(api, kind, route):
    draft_id = patched(api, kind, route, kind.item("Alpha"))["draft_id"]
    body = {"draft_id": draft_id, "idempotency_key": "retry-me", **kind.item(description="Helps")}
    first = send_draft(api, kind, route, body)
    assert first.status_code == 200, first.text
    patched(api, kind, route, {"draft_id": draft_id, **kind.item(description="Later")})

    again = send_draft(api, kind, route, body)

    assert again.status_code == 200 and again.content == first.content
    refused(api, kind, route, {**body, **kind.item(description="Other")}, 409, "idempotency_mismatch")
    shown = draft_view(api, kind, draft_id)
    assert shown["draft_version"] == 3 and selected(shown[kind.description.section]) == ["Later"]


def test_a_retry_that_spells_the_draft_id_by_its_alias_is_still_a_replay(api, kind):
    draft_id = patched(api, kind, "v5", kind.item("Alpha"))["draft_id"]
    body = {"draft_id": draft_id, "idempotency_key": "retry-me", **kind.item(description="Helps")}
    first = send_draft(api, kind, "v5", body)
    assert first.status_code == 200, first.text

    again = send_draft(api, kind, "legacy", body)  # the same fields, `draft_id` spelled `input_draft_id`

    assert again.status_code == 200, again.text
    assert again.content == first.content
    assert draft_view(api, kind, draft_id)["draft_version"] == 2


def test_create_with_a_new_draft_commits_it_and_further_patches_are_409_draft_committed(api, kind, route):
    draft_id = patched(api, kind, route, kind.item("Nova", departments=["Ops"], active=True))["draft_id"]

    (result,) = bulk(api, kind, "create", [{"draft_id": draft_id}])

    assert result["success"] is True and result["version"] == 1, result
    shown = view(api, kind, **{kind.id_field: result[kind.id_field]})
    assert selected(shown[kind.name.section]) == ["Nova"] and selected(shown[kind.department.section]) == ["Ops"]
    assert shown["active"] is True
    refused(api, kind, route, {"draft_id": draft_id, **kind.item(description="Late")}, 409, "draft_committed")
    entry = entry_of(api, kind, draft_id)
    assert entry["status"] == "committed" and entry[kind.id_field] == result[kind.id_field]


def test_update_with_an_edit_draft_commits_it_and_further_patches_are_409_draft_committed(api, kind, route):
    artifact_id = create(api, kind, name="Alpha", description="Old")
    made = patched(api, kind, route, {kind.id_field: artifact_id, **kind.item(description="New")})
    assert made["form_state"][kind.id_field] == artifact_id and made["form_state"][kind.name.key] == "Alpha"
    assert selected(view(api, kind, **{kind.id_field: artifact_id})[kind.description.section]) == ["Old"]

    (result,) = bulk(api, kind, "update", [{kind.id_field: artifact_id, "draft_id": made["draft_id"]}])

    assert result["success"] is True and result["version"] == 2, result
    shown = view(api, kind, **{kind.id_field: artifact_id})
    assert shown["version"] == 2 and selected(shown[kind.description.section]) == ["New"]
    refused(api, kind, route, {"draft_id": made["draft_id"], **kind.item(description="Late")}, 409, "draft_committed")


# --- drafts list and docs ----------------------------------------------------------------------------------


def test_drafts_lists_the_callers_own_drafts_newest_first(api, make_api, kind):
    artifact_id = create(api, kind, name="Edited")
    first = patched(api, kind, "v5", kind.item("First"))["draft_id"]
    patched(api, kind, "v5", {"draft_id": first, **kind.item(description="v2")})
    edit = patched(api, kind, "legacy", {kind.id_field: artifact_id})["draft_id"]
    last = patched(api, kind, "v5", kind.item("Last"))["draft_id"]
    patched(api.as_agent(), kind, "v5", {"draft_id": last, **kind.item(description="Agent idea")})
    patched(make_api(), kind, "v5", kind.item("Not yours"))

    entries = api.ok(kind.plural, "drafts")["entries"]

    assert [e["draft_id"] for e in entries] == [last, edit, first]
    assert [(e["name"], e["version"], e[kind.id_field], e["waiting_proposals"], e["status"]) for e in entries] == [
        ("Last", 1, None, 1, "open"),
        ("Edited", 1, artifact_id, 0, "open"),
        ("First", 2, None, 0, "open"),
    ]


def test_docs_permissions_and_api_operations_name_the_kinds_paths(make_api, kind):
    docs = make_api("viewer").ok(kind.plural, "docs")
    base = f"/api/v5/artifacts/{kind.plural}"

    permissions = {p["name"]: p for p in docs["permissions"]}
    assert set(permissions) == set(OPERATION_ROLES)
    for name, role in OPERATION_ROLES.items():
        assert permissions[name]["role"] == role, name
        assert permissions[name]["allowed"] is (role == "viewer"), name
        assert permissions[name]["path"] == f"{base}/{name}", name
    operations = {(o["method"], o["path"]) for o in docs["api_operations"]}
    expected = {("PATCH" if name == "draft" else "POST", f"{base}/{name}") for name in OPERATION_ROLES}
    assert operations == expected | {("POST", LEGACY_DRAFT_PATHS[kind.plural])}
    assert all(o["summary"] for o in docs["api_operations"])
    fields = {f["name"] for f in docs["artifact"]["fields"]}
    assert {kind.id_field, kind.name.key, kind.description.key, kind.department.section, kind.flag.section} <= fields
    assert docs["name"] == kind.plural


# --- search, export and import, refresh --------------------------------------------------------------------


def test_text_search_matches_the_name_and_pages_with_the_total_count(api, kind):
    for name in ("Alpha One", "Alpha Two", "Alpha Three", "Beta"):
        create(api, kind, name=name)

    pages = [search(api, kind, search="alpha", page_size=2, page_offset=offset) for offset in (0, 2)]

    assert [len(p[kind.plural]) for p in pages] == [2, 1]
    assert [p["total_count"] for p in pages] == [3, 3]
    assert sorted(n for p in pages for n in listed_names(p, kind)) == ["Alpha One", "Alpha Three", "Alpha Two"]
    assert listed_names(search(api, kind, search="TWO alpha"), kind) == ["Alpha Two"]
    assert search(api, kind, search="gamma")["total_count"] == 0
    assert search(api, kind)["total_count"] == 4


def test_a_facet_filter_narrows_and_counts_each_option_under_the_other_filters(api, kind):
    create(api, kind, name="Alpha A", departments=["Sales"])
    create(api, kind, name="Beta B", departments=["Sales", "Ops"])
    create(api, kind, name="Alpha C", departments=["Ops"])
    create(api, kind, name="Alpha D")
    facet = kind.department_facet
    ids = {o["value"]: o["id"] for o in view(api, kind)[kind.department.section]["options"]}

    def counts(answer: dict[str, Any]) -> dict[str, tuple[int, bool]]:
        return {o["label"]: (o["count"], o["selected"]) for o in answer[facet.filter_field]["options"]}

    plain = search(api, kind)
    assert counts(plain) == {"Sales": (2, False), "Ops": (2, False)}
    sales = search(api, kind, **{facet.ids_field: [ids["Sales"]]})
    assert sorted(listed_names(sales, kind)) == ["Alpha A", "Beta B"] and sales["total_count"] == 2
    assert counts(sales) == {"Sales": (2, True), "Ops": (2, False)}  # a facet ignores its own filter
    both = search(api, kind, search="alpha", **{facet.ids_field: [ids["Sales"]]})
    assert listed_names(both, kind) == ["Alpha A"] and both["total_count"] == 1
    assert counts(both) == {"Sales": (1, True), "Ops": (1, False)}


def test_export_then_import_into_a_fresh_group_reproduces_every_artifact(api, make_api, kind):
    tier = {"type": "tier", "value": "gold"}
    create(api, kind, name="Alpha", description='Says "hi", then; leaves', departments=["Sales", "Ops"], active=True)
    create(api, kind, name="=Beta", departments=["Ops"], active=False, **{kind.flag.value_field: [tier]})
    create(api, kind, name="Gamma")

    def contents(api) -> list[tuple[Any, ...]]:
        items = search(api, kind, page_size=200)[kind.plural]
        return sorted(
            (
                i[kind.name.key],
                i[kind.description.key],
                tuple(i[kind.department.section]),
                tuple(sorted(flag_pairs(i[kind.flag.section]))),
                i["active"],
            )
            for i in items
        )

    before = contents(api)
    assert len(before) == 3
    exported = api.ok(kind.plural, "export", {})
    assert exported["row_count"] == 3
    download = api.client.get(f"/api/v5/uploads/{exported['upload_id']}", headers=api.headers)
    assert download.status_code == 200, download.text
    header = next(csv.reader(io.StringIO(download.content.decode("utf-8"), newline="")))
    assert header == [f["name"] for f in search(api, kind)["import_fields"]] and header[0] == kind.id_field

    fresh = make_api(group="fresh")
    response = fresh.client.post(
        f"/api/v5/artifacts/{kind.plural}/import",
        headers=fresh.headers,
        files={"file": ("export.csv", download.content, "text/csv")},
    )

    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["updated"], result["failed"]) == (3, 0, 0), result["results"]
    assert contents(fresh) == before


def test_refresh_answers_its_views_and_leaves_search_results_unchanged(api, make_api, kind):
    create(api, kind, name="Alpha One", departments=["Sales"])
    create(api, kind, name="Beta Two", description="Alpha in the description")
    before = search(api, kind, search="alpha")
    assert before["total_count"] == 2

    answer = make_api("admin").ok(kind.plural, "refresh")

    assert answer["success"] is True and "search_documents" in answer["refreshed_views"]
    assert isinstance(answer["invalidated_tags"], list)
    assert search(api, kind, search="alpha") == before
    assert "admin" in assert_error(api.op(kind.plural, "refresh"), 403)["detail"]
