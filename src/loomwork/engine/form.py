"""The form state of an artifact and the field rules of API.md section 4 that change it.

One function, `apply_patch`, serves draft patches, create and update alike, so a
rule holds the same way whichever door a change comes through.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from loomwork.engine.declaration import ArtifactKind, Slot
from loomwork.errors import Invalid
from loomwork.resources import service
from loomwork.resources.kinds import RESOURCE_KINDS
from loomwork.resources.service import Resolver, ResourceValue
from loomwork.urlsafety import origin_of


@dataclass
class FormState:
    """Selected resource ids per slot (in order) and the ids whose connections are pending."""

    slots: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    pending: set[uuid.UUID] = field(default_factory=set)

    def ids(self, key: str) -> list[uuid.UUID]:
        return self.slots.get(key, [])

    def all_ids(self) -> set[uuid.UUID]:
        return {rid for ids in self.slots.values() for rid in ids}

    def copy(self) -> FormState:
        return FormState({k: list(v) for k, v in self.slots.items() if v}, set(self.pending))

    def normalised(self) -> FormState:
        """Drop empty slots and pending ids no longer selected, so equal states compare equal."""
        slots = {k: list(dict.fromkeys(v)) for k, v in self.slots.items() if v}
        selected = {rid for ids in slots.values() for rid in ids}
        return FormState(slots, self.pending & selected)

    def to_json(self) -> dict[str, Any]:
        return {
            "slots": {k: [str(i) for i in v] for k, v in self.slots.items()},
            "pending": sorted(str(i) for i in self.pending),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormState:
        return cls(
            {k: [uuid.UUID(i) for i in v] for k, v in data.get("slots", {}).items()},
            {uuid.UUID(i) for i in data.get("pending", [])},
        )


def referenced_ids(kind: ArtifactKind, patch: dict[str, Any]) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for slot in kind.slots:
        given = patch.get(slot.id_field)
        if given is not None:
            ids.update(given if slot.many else [given])
        if slot.append_field and patch.get(slot.append_field) is not None:
            ids.add(patch[slot.append_field])
    for entry in patch.get("model_flag_values") or []:
        ids.add(entry["model_id"])
    for entry in patch.get("args_drafts") or []:
        if entry.get("arg_id"):
            ids.add(entry["arg_id"])
    return ids


# The legacy draft route's spelling of `draft_id`.
DRAFT_ID_ALIAS = "input_draft_id"


def with_aliases_resolved(kind: ArtifactKind, patch: Mapping[str, Any]) -> dict[str, Any]:
    """The one home of the alias rule: older spellings of a field (`input_draft_id`, a slot's `id_alias`) feed
    the canonical one; when both come, the canonical one wins, even as an explicit null."""
    resolved = dict(patch)
    aliases = [(DRAFT_ID_ALIAS, "draft_id")] + [(slot.id_alias, slot.id_field) for slot in kind.slots if slot.id_alias]
    for alias, canonical in aliases:
        if alias in resolved:
            aliased = resolved.pop(alias)
            resolved.setdefault(canonical, aliased)
    return resolved


def apply_patch(
    session: Session, group_id: uuid.UUID, kind: ArtifactKind, state: FormState, patch: dict[str, Any]
) -> FormState:
    """Apply the set fields of `patch` (explicit nulls included) to a copy of `state`, in the rule order."""
    return apply_patch_with(service.DirectResolver(session, group_id), kind, state, patch)


def apply_patch_with(
    res: Resolver, kind: ArtifactKind, state: FormState, patch: dict[str, Any], *, binds: bool = True
) -> FormState:
    """`apply_patch` with the group's resources reached through `res` (bulk create plans them for many items).
    `binds`: the patch is a person's own, so a key it enters is bound to its endpoint (a proposal's never is)."""
    state, patch = state.copy(), with_aliases_resolved(kind, patch)
    if binds:
        patch = bind_to_origin(res, kind, state, patch)
    found = res.load(referenced_ids(kind, patch) | set(state.ids("flag")))
    # Rule 7: `args_drafts` replaces the argument slots entirely, so their own fields are not applied.
    skipped = _argument_slots(kind) if patch.get("args_drafts") is not None else set()
    for slot in kind.slots:
        if slot.key in skipped:
            continue
        if slot.many:
            _apply_multiple(res, slot, state, patch, found)
        else:
            _apply_single(res, slot, state, patch, found)
    # Flags chosen by value were created-or-found above; the type rules below need their values too.
    unseen = [f for f in state.ids("flag") if f not in found]
    if unseen:
        found.update(res.load(unseen))
    _apply_active_flag(res, kind, state, patch, found)
    _apply_model_flag_values(res, kind, state, patch, found)
    if skipped:
        _apply_args_drafts(res, kind, state, patch["args_drafts"], found)
    _require_distinct_argument_names(res, kind, state)
    _apply_pending(state, patch)
    return state.normalised()


def bind_to_origin(res: Resolver, kind: ArtifactKind, state: FormState, patch: dict[str, Any]) -> dict[str, Any]:
    """A value a person enters that is bound to an origin (a key, `ResourceKind.bound_to`) and names none is bound
    to the origin of the form's URL it is entered with: the one this patch gives, else the one the form holds.
    With no such URL it stays bound to nothing, and is sent nowhere."""
    given = with_aliases_resolved(kind, patch)  # read through the aliases; the patch keeps its own spelling
    for slot in kind.slots:
        rkind = slot.resource_kind
        raw = given.get(slot.key) if not slot.many and rkind.bound_to else None
        if not isinstance(raw, dict) or raw.get("origin") is not None or slot.id_field in given:
            continue
        source = next((s for s in kind.slots if s.resource == rkind.bound_to and not s.many), None)
        if source is None:
            continue
        url, rid = given.get(source.key), None
        if source.id_field in given:
            url, rid = None, given[source.id_field]
        elif source.key not in given and state.ids(source.key):
            rid = state.ids(source.key)[0]
        if rid is not None:
            found = res.load([rid]).get(rid)
            url = found.value if found is not None and found.kind == source.resource else None
        origin = origin_of(url.strip()) if isinstance(url, str) else None
        if origin is not None:
            patch = {**patch, slot.key: {**raw, "origin": origin}}
    return patch


# The resources a patch references, loaded once and shared by the rules.
Found = dict[uuid.UUID, ResourceValue]


def _apply_single(res: Resolver, slot: Slot, state: FormState, patch: dict[str, Any], found: Found) -> None:
    if slot.id_field in patch:
        rid = patch[slot.id_field]
        if rid is None:
            state.slots[slot.key] = []  # explicit null clears
            return
        service.require_kind(found, [rid], slot.resource, slot.id_field)
        state.slots[slot.key] = [rid]
    elif slot.key in patch:  # a single slot's value field is its key
        raw = patch[slot.key]
        if raw is None:
            state.slots[slot.key] = []
            return
        state.slots[slot.key] = res.create_values(slot.resource_kind, [raw], slot.key, indexed=False)


def _apply_multiple(res: Resolver, slot: Slot, state: FormState, patch: dict[str, Any], found: Found) -> None:
    if slot.id_field in patch:
        ids = patch[slot.id_field] or []
        service.require_kind(found, ids, slot.resource, slot.id_field)
        state.slots[slot.key] = list(dict.fromkeys(ids))
    append_field = slot.append_field
    appended = patch.get(append_field) if append_field else None
    if append_field and appended is not None:
        service.require_kind(found, [appended], slot.resource, append_field)
        kept = state.ids(slot.key)
        if slot.resource == "flag":  # a chosen flag replaces the one of its type
            flag_type = found[appended].value["type"]
            kept = [f for f in kept if f not in found or found[f].value["type"] != flag_type]
        state.slots[slot.key] = list(dict.fromkeys(kept + [appended]))
    values_field = slot.value_field  # a multiple slot: its values field
    raws = patch.get(values_field) if values_field else None
    if values_field and raws:
        added = res.create_values(slot.resource_kind, raws, values_field)
        state.slots[slot.key] = list(dict.fromkeys(state.ids(slot.key) + added))


def _apply_active_flag(
    res: Resolver, kind: ArtifactKind, state: FormState, patch: dict[str, Any], found: Found
) -> None:
    """`active` picks the kind's `K_active` flag and replaces any flag of that type; then one flag per type."""
    if kind.flag_slot is None:
        return
    flag_kind = RESOURCE_KINDS["flag"]
    if patch.get("active") is not None:
        wanted = {"type": kind.active_flag_type, "value": "true" if patch["active"] else "false"}
        (flag_id,) = res.find_or_create(flag_kind, [wanted])
        kept = [f for f in state.ids("flag") if f in found and found[f].value["type"] != kind.active_flag_type]
        state.slots["flag"] = kept + [flag_id]
        found[flag_id] = ResourceValue(flag_id, "flag", wanted)
    seen: dict[str, uuid.UUID] = {}
    for flag_id in state.ids("flag"):
        flag_type = found[flag_id].value["type"] if flag_id in found else None
        if flag_type is None:
            continue
        if flag_type in seen:
            raise Invalid(
                f"flag_ids: an artifact holds at most one flag of each type; two have type {flag_type}.",
                field="flag_ids",
            )
        seen[flag_type] = flag_id


def _apply_model_flag_values(
    res: Resolver, kind: ArtifactKind, state: FormState, patch: dict[str, Any], found: Found
) -> None:
    """Rule 6: `{model_id, type, value}` resolves (type, value) to an existing flag (none: 422), upserts the
    `{model_id, flag_id}` row and replaces any model flag of the same model and flag type."""
    slot = kind.model_flag_slot
    entries = patch.get("model_flag_values")
    if slot is None or not entries:
        return
    flag_kind, field = RESOURCE_KINDS["flag"], "model_flag_values"
    rows = res.load(state.ids(slot.key))
    flags = res.load({uuid.UUID(row.value["flag_id"]) for row in rows.values()})
    # (model id, flag type) of each selected row, to find the one a new value replaces.
    held = {
        rid: (row.value["model_id"], flags[uuid.UUID(row.value["flag_id"])].value["type"])
        for rid, row in rows.items()
        if uuid.UUID(row.value["flag_id"]) in flags
    }
    for index, entry in enumerate(entries):
        service.require_kind(found, [entry["model_id"]], "model", f"{field}[{index}].model_id")
        wanted = service.normalise_value(
            flag_kind, {"type": entry["type"], "value": entry["value"]}, f"{field}[{index}]"
        )
        flag_id = res.find_existing(flag_kind, wanted)
        if flag_id is None:
            raise Invalid(
                f"{field}[{index}]: no flag {wanted['type']}={wanted['value']} in the catalog; "
                "create it first (POST /api/v5/resources/flags/create).",
                field=field,
            )
        model_id = str(entry["model_id"])
        (row_id,) = res.create_values(slot.resource_kind, [{"model_id": model_id, "flag_id": str(flag_id)}], field)
        kept = [rid for rid in state.ids(slot.key) if held.get(rid) != (model_id, wanted["type"])]
        state.slots[slot.key] = list(dict.fromkeys(kept + [row_id]))
        held[row_id] = (model_id, wanted["type"])


def _require_distinct_argument_names(res: Resolver, kind: ArtifactKind, state: FormState) -> None:
    """A function's arguments (and its outputs) need distinct names, or its JSON Schema would lose one."""
    if kind.arguments is None:
        return
    slot_keys = (kind.arguments.arg_slot, kind.arguments.output_slot)
    values = res.load([rid for key in slot_keys for rid in state.ids(key)])
    for slot_key in slot_keys:
        slot = kind.slot_by_key[slot_key]
        names = [values[rid].value["name"] for rid in state.ids(slot_key) if rid in values]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise Invalid(
                f"{slot.section}: two {slot.section} are named {twice!r}; each name must be distinct.",
                field=slot.section,
            )


def _argument_slots(kind: ArtifactKind) -> set[str]:
    spec = kind.arguments
    return {spec.arg_slot, spec.position_slot, spec.output_slot} if spec else set()


def _apply_args_drafts(
    res: Resolver, kind: ArtifactKind, state: FormState, entries: list[dict[str, Any]], found: Found
) -> None:
    """Rule 7: one card per argument `{arg_id?, name, type, description, required, default, position, output?}`
    replaces the argument, position and output selections at once. A card with only `arg_id` keeps that
    argument as it is; a card with a name creates-or-finds the argument it describes."""
    spec = kind.arguments
    if spec is None:
        return
    slots = kind.slot_by_key
    args: list[uuid.UUID] = []
    positions: list[uuid.UUID] = []
    outputs: list[uuid.UUID] = []
    for index, entry in enumerate(entries):
        field = f"args_drafts[{index}]"
        if entry.get("name") is None:
            if entry.get("arg_id") is None:
                raise Invalid(
                    f"{field}: give the argument's name and type, or the arg_id of an existing one.",
                    field="args_drafts",
                )
            service.require_kind(found, [entry["arg_id"]], slots[spec.arg_slot].resource, f"{field}.arg_id")
            arg_id = entry["arg_id"]
        else:
            value = {k: entry[k] for k in ("name", "type", "description", "required", "default") if k in entry}
            (arg_id,) = res.create_values(slots[spec.arg_slot].resource_kind, [value], field, indexed=False)
        args.append(arg_id)
        position = entry.get("position")
        positions += res.create_values(
            slots[spec.position_slot].resource_kind,
            [{"arg_id": str(arg_id), "position": index if position is None else position}],
            f"{field}.position",
            indexed=False,
        )
        if entry.get("output") is not None:
            outputs += res.create_values(
                slots[spec.output_slot].resource_kind, [entry["output"]], f"{field}.output", indexed=False
            )
    state.slots[spec.arg_slot] = list(dict.fromkeys(args))
    state.slots[spec.position_slot] = list(dict.fromkeys(positions))
    state.slots[spec.output_slot] = list(dict.fromkeys(outputs))


def _apply_pending(state: FormState, patch: dict[str, Any]) -> None:
    if "pending_ids" not in patch:
        return
    pending = set(patch["pending_ids"] or [])
    selected = state.all_ids()
    for rid in pending:
        if rid not in selected:
            raise Invalid(
                f"pending_ids: {rid} is not selected in any slot, so it cannot be pending.", field="pending_ids"
            )
    state.pending = pending


def active_value(kind: ArtifactKind, state: FormState, values: dict[uuid.UUID, ResourceValue]) -> bool | None:
    """The artifact's `K_active` flag as a boolean, or None when it has none."""
    for flag_id in state.ids("flag"):
        flag = values.get(flag_id)
        if flag and flag.value["type"] == kind.active_flag_type:
            return bool(flag.value["value"] == "true")
    return None
