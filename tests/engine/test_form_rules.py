"""The field rules of a draft patch (API.md section 4, rules 1 to 8), as unit tests without a database.

Each test names the rule it checks by its number. The rules live in `engine.form`: `apply_patch_with`
applies a patch to a `FormState` through a `Resolver`, the one door to the group's resources. Here that
door is `Catalog`, an in-memory group catalog that answers as the database does (values dedupe on the
kind's dedupe text; an id of another group is simply absent), so the whole file runs in milliseconds.
The same rules through HTTP, on both databases, are in test_draft_patches.py and test_kind_generic.py.

Rules 1 and 2 are mostly the drafts service's (which draft, which version): only their pure parts are
here, the form state a draft starts from and the conflict a stale version raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState, active_value, apply_patch_with, with_aliases_resolved
from loomwork.errors import Conflict, Invalid, NotFound, version_conflict
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.kinds.eval import EVAL
from loomwork.kinds.persona import PERSONA
from loomwork.kinds.tool import TOOL
from loomwork.resources.kinds import RESOURCE_KINDS, ResourceKind
from loomwork.resources.service import ResourceValue, normalise_value, resolve_references_with


class Catalog:
    """One group's resources in memory: a `resources.service.Resolver` that needs no SQL."""

    reader: uuid.UUID | None = None  # every value here is live: nobody's staged

    def __init__(self) -> None:
        self.values: dict[uuid.UUID, ResourceValue] = {}
        self.by_text: dict[tuple[str, str], uuid.UUID] = {}

    def add(self, kind: str, raw: Any) -> uuid.UUID:
        """A value the group already has, as the resources API would have made it."""
        (rid,) = self.create_values(RESOURCE_KINDS[kind], [raw], kind, indexed=False)
        return rid

    def count(self, kind: str) -> int:
        return sum(1 for value in self.values.values() if value.kind == kind)

    def value(self, rid: uuid.UUID) -> Any:
        return self.values[rid].value

    def load(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ResourceValue]:
        return {rid: self.values[rid] for rid in ids if rid in self.values}

    def create_values(
        self, kind: ResourceKind, raws: Sequence[Any], field: str, *, indexed: bool = True
    ) -> list[uuid.UUID]:
        names = [f"{field}[{i}]" if indexed else field for i in range(len(raws))]
        values = [normalise_value(kind, raw, name) for raw, name in zip(raws, names)]
        if kind.references:
            values = [resolve_references_with(self, kind, value, name) for value, name in zip(values, names)]
        return self.find_or_create(kind, values)

    def find_or_create(self, kind: ResourceKind, values: Sequence[Any]) -> list[uuid.UUID]:
        ids = []
        for value in values:
            text = kind.dedupe_text(value)
            rid = self.by_text.get((kind.name, text))
            if rid is None:
                rid = self.by_text[(kind.name, text)] = uuid.uuid4()
                self.values[rid] = ResourceValue(rid, kind.name, kind.load(kind.dump(value)))
            ids.append(rid)
        return ids

    def find_existing(self, kind: ResourceKind, value: Any) -> uuid.UUID | None:
        return self.by_text.get((kind.name, kind.dedupe_text(value)))


def apply(catalog: Catalog, kind: ArtifactKind, state: FormState, **patch: Any) -> FormState:
    """One patch of request fields (explicit nulls included) applied to `state`."""
    return apply_patch_with(catalog, kind, state, patch)


def flag(catalog: Catalog, flag_type: str, value: str) -> uuid.UUID:
    return catalog.add("flag", {"type": flag_type, "value": value})


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


# --- rule 1: the form state a draft starts from ----------------------------------------------------------


def test_rule_1_a_new_draft_starts_from_an_empty_form_state():
    state = FormState()

    assert state.to_json() == {"slots": {}, "pending": []}
    assert state.ids("name") == [] and state.all_ids() == set()


def test_rule_1_an_edit_draft_starts_from_the_artifacts_state_as_stored_in_order_with_its_pending_ids():
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    state = FormState({"department": [c, a, b], "name": [a]}, {b})

    stored = FormState.from_json(state.to_json())

    assert stored == state
    assert stored.ids("department") == [c, a, b]


def test_rule_1_a_patch_changes_a_copy_and_never_the_state_it_starts_from(catalog):
    name = catalog.add("name", "Ada")
    state = FormState({"name": [name]})

    changed = apply(catalog, PERSONA, state, name="Bob", departments=["Ops"])

    assert state == FormState({"name": [name]})
    assert changed.ids("name") != [name]


# --- rule 2: expected_version ------------------------------------------------------------------------------


def test_rule_2_a_stale_expected_version_is_a_409_version_conflict_carrying_the_current_version():
    error = version_conflict("draft", 3, 2)

    assert isinstance(error, Conflict) and error.status == 409
    assert error.body()["code"] == "version_conflict"
    assert error.body()["current_version"] == 3


# --- rule 3: single slots ----------------------------------------------------------------------------------


def test_rule_3_x_id_selects_an_existing_resource(catalog):
    described = catalog.add("description", "Counts.")

    state = apply(catalog, PERSONA, FormState(), description_id=described)

    assert state.ids("description") == [described]


def test_rule_3_a_value_creates_or_finds_the_resource_and_selects_it(catalog):
    existing = catalog.add("description", "Counts.")

    found = apply(catalog, PERSONA, FormState(), description="  Counts.  ")
    created = apply(catalog, PERSONA, FormState(), description="Writes.")

    assert found.ids("description") == [existing]
    assert catalog.value(created.ids("description")[0]) == "Writes."
    assert catalog.count("description") == 2


def test_rule_3_x_id_wins_over_a_value_given_with_it(catalog):
    chosen = catalog.add("description", "Chosen.")

    state = apply(catalog, PERSONA, FormState(), description_id=chosen, description="Ignored.")

    assert state.ids("description") == [chosen]
    assert catalog.count("description") == 1


def test_rule_3_an_explicit_null_id_clears_the_slot_and_an_omitted_field_leaves_it(catalog):
    name, described = catalog.add("name", "Ada"), catalog.add("description", "Counts.")
    state = FormState({"name": [name], "description": [described]})

    cleared = apply(catalog, PERSONA, state, description_id=None)

    assert cleared.ids("description") == []
    assert cleared.ids("name") == [name]
    assert apply(catalog, PERSONA, state).ids("description") == [described]


@pytest.mark.parametrize("which", ["unknown or another group's", "another kind's"])
def test_rule_3_an_id_that_is_unknown_another_groups_or_another_kinds_is_404_naming_the_field(catalog, which):
    rid = uuid.uuid4() if which == "unknown or another group's" else catalog.add("name", "Ada")

    with pytest.raises(NotFound) as raised:
        apply(catalog, PERSONA, FormState(), description_id=rid)

    assert raised.value.status == 404 and raised.value.field == "description_id"


# --- rule 4: multiple slots --------------------------------------------------------------------------------


def test_rule_4_ids_replace_the_selection_in_order(catalog):
    sales, ops, hr = (catalog.add("department", d) for d in ("Sales", "Ops", "HR"))
    state = FormState({"department": [sales, ops]})

    assert apply(catalog, PERSONA, state, department_ids=[hr, sales]).ids("department") == [hr, sales]


def test_rule_4_values_are_created_or_found_and_appended_after_the_ids(catalog):
    sales, ops = catalog.add("department", "Sales"), catalog.add("department", "Ops")
    state = FormState({"department": [sales]})

    after_ids = apply(catalog, PERSONA, state, department_ids=[ops], departments=["HR", "Sales"])
    kept = apply(catalog, PERSONA, state, departments=["Ops"])

    hr = catalog.find_existing(RESOURCE_KINDS["department"], "HR")
    assert after_ids.ids("department") == [ops, hr, sales]
    assert kept.ids("department") == [sales, ops]
    assert catalog.count("department") == 3


def test_rule_4_duplicates_collapse_to_their_first_place(catalog):
    sales, ops = catalog.add("department", "Sales"), catalog.add("department", "Ops")

    state = apply(catalog, PERSONA, FormState(), department_ids=[ops, sales, ops], departments=["Sales", "Ops"])

    assert state.ids("department") == [ops, sales]


def test_rule_4_an_unknown_id_is_404_naming_the_ids_field(catalog):
    with pytest.raises(NotFound) as raised:
        apply(catalog, PERSONA, FormState(), department_ids=[uuid.uuid4()])

    assert raised.value.field == "department_ids"


# --- rule 5: flags -----------------------------------------------------------------------------------------


def test_rule_5_flag_ids_replace_the_flag_selection(catalog):
    gold, beta = flag(catalog, "tier", "gold"), flag(catalog, "stage", "beta")
    state = FormState({"flag": [gold]})

    assert apply(catalog, PERSONA, state, flag_ids=[beta]).ids("flag") == [beta]
    assert apply(catalog, PERSONA, state, flag_ids=[]).ids("flag") == []


@pytest.mark.parametrize("kind", ARTIFACT_KINDS, ids=[kind.name for kind in ARTIFACT_KINDS])
def test_rule_5_active_resolves_to_the_kinds_active_flag_and_replaces_any_flag_of_that_type(catalog, kind):
    gold = flag(catalog, "tier", "gold")
    active_true, active_false = (flag(catalog, kind.active_flag_type, value) for value in ("true", "false"))

    state = apply(catalog, kind, FormState({"flag": [gold, active_true]}), active=False)

    assert state.ids("flag") == [gold, active_false]
    assert active_value(kind, state, catalog.values) is False
    assert catalog.count("flag") == 3  # the catalog's flag is used, never a new one


def test_rule_5_active_applies_after_flag_ids_so_it_wins_over_an_active_flag_among_them(catalog):
    active_true, active_false = flag(catalog, "persona_active", "true"), flag(catalog, "persona_active", "false")

    state = apply(catalog, PERSONA, FormState(), flag_ids=[active_false], active=True)

    assert state.ids("flag") == [active_true]


def test_rule_5_a_flag_id_is_appended_replacing_the_flag_of_its_type(catalog):
    gold, silver, beta = flag(catalog, "tier", "gold"), flag(catalog, "tier", "silver"), flag(catalog, "stage", "beta")

    state = apply(catalog, PERSONA, FormState({"flag": [gold, beta]}), flag_id=silver)

    assert state.ids("flag") == [beta, silver]


def test_rule_5_two_flags_of_one_type_are_422_naming_flag_ids(catalog):
    gold, silver = flag(catalog, "tier", "gold"), flag(catalog, "tier", "silver")

    with pytest.raises(Invalid) as raised:
        apply(catalog, PERSONA, FormState(), flag_ids=[gold, silver])

    assert raised.value.status == 422 and raised.value.field == "flag_ids"


def test_rule_5_active_reads_the_kinds_active_flag_and_is_none_without_one(catalog):
    gold, active_true = flag(catalog, "tier", "gold"), flag(catalog, "persona_active", "true")

    assert active_value(PERSONA, FormState({"flag": [gold, active_true]}), catalog.values) is True
    assert active_value(PERSONA, FormState({"flag": [gold]}), catalog.values) is None
    assert active_value(TOOL, FormState({"flag": [active_true]}), catalog.values) is None


# --- rule 6: model flags -----------------------------------------------------------------------------------


def model_flag_pairs(catalog: Catalog, state: FormState) -> list[tuple[Any, Any]]:
    """(model, flag) values of the selected junction rows, in selection order."""
    rows = [catalog.value(rid) for rid in state.ids("model_flag")]
    return [
        (catalog.value(uuid.UUID(row["model_id"])), catalog.value(uuid.UUID(row["flag_id"])).get("value"))
        for row in rows
    ]


def test_rule_6_inline_model_flags_upsert_junction_rows_and_append_their_ids(catalog):
    gpt, claude = catalog.add("model", "gpt-4o"), catalog.add("model", "claude")
    judge = flag(catalog, "eval_role", "judge")
    first = apply(catalog, EVAL, FormState(), model_flags=[{"model_id": gpt, "flag_id": judge}])

    again = apply(
        catalog,
        EVAL,
        first,
        model_flags=[{"model_id": str(gpt), "flag_id": str(judge)}, {"model_id": claude, "flag_id": judge}],
    )

    assert first.ids("model_flag") == again.ids("model_flag")[:1]  # the same row, found again
    assert model_flag_pairs(catalog, again) == [("gpt-4o", "judge"), ("claude", "judge")]
    assert catalog.count("model_flag") == 2


def test_rule_6_model_flag_values_replace_the_models_flag_of_that_type_and_keep_the_others(catalog):
    gpt, claude = catalog.add("model", "gpt-4o"), catalog.add("model", "claude")
    candidate, judge = flag(catalog, "eval_role", "candidate"), flag(catalog, "eval_role", "judge")
    gold = flag(catalog, "tier", "gold")
    pairs = [(gpt, candidate), (gpt, gold), (claude, candidate)]
    state = apply(catalog, EVAL, FormState(), model_flags=[{"model_id": m, "flag_id": f} for m, f in pairs])

    state = apply(catalog, EVAL, state, model_flag_values=[{"model_id": gpt, "type": "eval_role", "value": "judge"}])

    assert model_flag_pairs(catalog, state) == [("gpt-4o", "gold"), ("claude", "candidate"), ("gpt-4o", "judge")]
    assert judge in {uuid.UUID(catalog.value(rid)["flag_id"]) for rid in state.ids("model_flag")}


def test_rule_6_a_model_flag_value_naming_no_catalog_flag_is_422_and_creates_none(catalog):
    gpt = catalog.add("model", "gpt-4o")

    with pytest.raises(Invalid) as raised:
        apply(catalog, EVAL, FormState(), model_flag_values=[{"model_id": gpt, "type": "eval_role", "value": "umpire"}])

    assert raised.value.status == 422 and raised.value.field == "model_flag_values"
    assert catalog.count("flag") == 0


def test_rule_6_a_model_flag_value_naming_no_model_of_the_group_is_404(catalog):
    flag(catalog, "eval_role", "judge")

    with pytest.raises(NotFound):
        apply(
            catalog,
            EVAL,
            FormState(),
            model_flag_values=[{"model_id": uuid.uuid4(), "type": "eval_role", "value": "judge"}],
        )


# --- rule 7: tools -----------------------------------------------------------------------------------------

CITY = {"name": "city", "type": "string", "description": "Where.", "required": True}


def test_rule_7_args_drafts_replace_the_arguments_positions_and_outputs_entirely(catalog):
    old = catalog.add("arg", {"name": "old", "type": "integer"})
    ignored = catalog.add("arg", {"name": "ignored", "type": "boolean"})
    state = apply(catalog, TOOL, FormState(), arg_ids=[old], args_outputs=[{"name": "n", "type": "number"}])

    state = apply(
        catalog,
        TOOL,
        state,
        arg_ids=[ignored],
        args_drafts=[{**CITY, "position": 3, "output": {"name": "forecast", "type": "string"}}, {"arg_id": old}],
    )

    city = catalog.find_existing(RESOURCE_KINDS["arg"], RESOURCE_KINDS["arg"].normalise(CITY))
    assert state.ids("arg") == [city, old]
    positions = [catalog.value(rid) for rid in state.ids("arg_position")]
    assert [(p["arg_id"], p["position"]) for p in positions] == [(str(city), 3), (str(old), 1)]
    assert [catalog.value(rid)["name"] for rid in state.ids("args_output")] == ["forecast"]


def test_rule_7_empty_args_drafts_clear_the_arguments_positions_and_outputs(catalog):
    state = apply(catalog, TOOL, FormState(), args_drafts=[CITY])

    cleared = apply(catalog, TOOL, state, args_drafts=[])

    assert state.ids("arg") and state.ids("arg_position")
    assert cleared.ids("arg") == cleared.ids("arg_position") == cleared.ids("args_output") == []


def test_rule_7_an_args_drafts_card_without_name_or_arg_id_is_422_naming_args_drafts(catalog):
    with pytest.raises(Invalid) as raised:
        apply(catalog, TOOL, FormState(), args_drafts=[{"type": "string"}])

    assert raised.value.field == "args_drafts"


def test_rule_7_args_outputs_ids_is_an_alias_of_args_output_ids_and_the_canonical_field_wins(catalog):
    one, two = (catalog.add("args_output", {"name": n, "type": "string"}) for n in ("one", "two"))

    assert with_aliases_resolved(TOOL, {"args_outputs_ids": [one]}) == {"args_output_ids": [one]}
    assert with_aliases_resolved(TOOL, {"args_outputs_ids": [one], "args_output_ids": [two]}) == {
        "args_output_ids": [two]
    }
    assert apply(catalog, TOOL, FormState(), args_outputs_ids=[one]).ids("args_output") == [one]


def test_rule_7_instruction_id_is_appended_to_instruction_ids(catalog):
    first, second, third = (catalog.add("instruction", t) for t in ("First.", "Second.", "Third."))

    state = apply(catalog, TOOL, FormState({"instruction": [first]}), instruction_id=second)
    both = apply(catalog, TOOL, FormState(), instruction_ids=[third], instruction_id=first)

    assert state.ids("instruction") == [first, second]
    assert both.ids("instruction") == [third, first]


# --- rule 8: pending ---------------------------------------------------------------------------------------


def test_rule_8_pending_ids_replace_the_pending_set(catalog):
    sales, ops = catalog.add("department", "Sales"), catalog.add("department", "Ops")
    state = FormState({"department": [sales, ops]}, {sales})

    assert apply(catalog, PERSONA, state, pending_ids=[ops]).pending == {ops}
    assert apply(catalog, PERSONA, state, pending_ids=[]).pending == set()
    assert apply(catalog, PERSONA, state).pending == {sales}


def test_rule_8_a_pending_id_may_be_selected_by_the_same_patch_since_the_slots_apply_first(catalog):
    sales, ops = catalog.add("department", "Sales"), catalog.add("department", "Ops")

    state = apply(catalog, PERSONA, FormState({"department": [sales]}), department_ids=[sales, ops], pending_ids=[ops])

    assert state.pending == {ops}


def test_rule_8_a_pending_id_selected_in_no_slot_is_422_naming_pending_ids(catalog):
    sales, ops = catalog.add("department", "Sales"), catalog.add("department", "Ops")

    with pytest.raises(Invalid) as raised:
        apply(catalog, PERSONA, FormState({"department": [sales]}), department_ids=[ops], pending_ids=[sales])

    assert raised.value.status == 422 and raised.value.field == "pending_ids"


def test_rule_8_a_pending_id_that_is_no_longer_selected_stops_being_pending(catalog):
    sales = catalog.add("department", "Sales")

    state = apply(catalog, PERSONA, FormState({"department": [sales]}, {sales}), department_ids=[])

    assert state.pending == set()
    assert state == FormState()  # an emptied slot is dropped, so equal states compare equal
