"""The `get` view of an artifact form: one section of options per slot, plus derived sections.

Each section lists the group's resources of the slot's kind as options, the
selected ones first, narrowed by the section's search text and cut to 50 (with
the total before the cut), so a picker needs no second call.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypedDict

from sqlalchemy import Integer, Uuid, bindparam
from sqlalchemy.orm import Session

from loomwork.db.dialect import escape_like, fold, fold_text
from loomwork.engine import drafts, repository
from loomwork.engine.declaration import ArtifactKind, Slot, TemplateParameters, ToolArguments
from loomwork.engine.form import FormState, active_value
from loomwork.engine.models import Draft, DraftStatus
from loomwork.engine.repository import ArtifactRow
from loomwork.principal import Principal, Role
from loomwork.resources import service
from loomwork.resources.models import Resource
from loomwork.resources.service import ResourceValue

SECTION_LIMIT = 50
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")


class Option(TypedDict):
    id: uuid.UUID
    value: Any
    label: str
    selected: bool
    pending: bool


class Section(TypedDict):
    options: list[Option]
    total: int
    selected_ids: list[uuid.UUID]
    search: str | None


class TemplateParameter(TypedDict):
    name: str
    parameter_field_id: uuid.UUID | None
    mapped: bool


class TemplateParametersView(TypedDict):
    parameters: list[TemplateParameter]
    missing: list[str]


class ArgumentSchemas(TypedDict):
    arguments_schema: dict[str, Any]
    output_schema: dict[str, Any]


class EditPermission(TypedDict):
    can_edit: bool
    disabled_reason: str | None


def option(resource: ResourceValue, selected: bool, pending: bool) -> Option:
    return {
        "id": resource.id,
        "value": resource.public,
        "label": resource.label,
        "selected": selected,
        "pending": pending,
    }


def build_sections(
    session: Session,
    group_id: uuid.UUID,
    profile_id: uuid.UUID | None,
    slots: list[tuple[Slot, str | None, bool]],
    state: FormState,
    values: dict[uuid.UUID, ResourceValue],
    hidden_flag_types: tuple[str, ...] = (),
) -> dict[str, Section]:
    """Every slot's section, given as (slot, search text, show selected): the unselected options of all
    of them in one statement, and their totals from the group's tallies (db/tallies.py) where no search
    text narrows them; a searched section counts its matches."""
    sections: dict[str, Section] = {}
    wanted: list[tuple[Slot, str, int]] = []
    for slot, search, show_selected in slots:
        needle = fold_text((search or "").strip())
        selected = [values[rid] for rid in state.ids(slot.key) if rid in values]
        if needle:
            selected = [r for r in selected if needle in fold_text(r.label)]
        options = [option(r, True, r.id in state.pending) for r in selected]
        sections[slot.key] = {
            "options": options,
            "total": len(options),
            "selected_ids": state.ids(slot.key),
            "search": search,
        }
        if not show_selected:
            wanted.append((slot, needle, SECTION_LIMIT - len(options)))
    tallied = [slot for slot, needle, _room in wanted if not needle and not _hides(slot, hidden_flag_types)]
    known = service.count_of_kind(session, group_id, [slot.resource for slot in tallied], profile_id) if tallied else {}
    params: dict[str, Any] = {"group_id": group_id, "profile_id": profile_id}
    shape: list[_PageShape] = []
    limits: list[int] = []
    totals: list[int | None] = []
    for index, (slot, needle, room) in enumerate(wanted):
        excluded = state.ids(slot.key)
        if excluded:
            params[f"excluded_{index}"] = excluded
        if needle:
            params[f"pattern_{index}"] = f"%{escape_like(needle)}%"
        params[f"limit_{index}"] = limit = max(room, 1)
        hidden = hidden_flag_types if slot.resource == "flag" else ()
        shape.append(_PageShape(slot.resource, bool(excluded), bool(needle), hidden))
        limits.append(limit)
        total = None
        if slot in tallied:  # every resource of the kind but the selected ones (each is one of them)
            mine = {rid for rid in excluded if rid in values and values[rid].kind == slot.resource}
            total = known[slot.resource] - len(mine)
        totals.append(total)
    pages = (
        service.newest_pages(session, _pages_query(tuple(shape), profile_id is not None), params, limits, totals)
        if wanted  # else every section is narrowed to its selections: no page of other options to read
        else []
    )
    for (slot, _needle, room), (rows, total) in zip(wanted, pages):
        kind = slot.resource_kind
        section = sections[slot.key]
        section["options"] += [
            option(ResourceValue(r.id, slot.resource, kind.load(r.value)), False, False) for r in rows[:room]
        ]
        section["total"] += total
    for section in sections.values():
        section["options"] = section["options"][:SECTION_LIMIT]
    return sections


def _hides(slot: Slot, hidden_flag_types: tuple[str, ...]) -> bool:
    return slot.resource == "flag" and bool(hidden_flag_types)


@dataclass(frozen=True)
class _PageShape:
    """What a section's page query depends on besides the request's values (which are bind parameters)."""

    resource: str
    excludes_selected: bool
    searched: bool
    hidden_flag_types: tuple[str, ...]


@lru_cache(maxsize=1024)
def _pages_query(shape: tuple[_PageShape, ...], with_profile: bool) -> service.PagesQuery:
    """The statement of every unselected-options page of a `get`, built once per shape of request (kinds,
    which sections exclude selections or search) and run with bind parameters: building it anew for each
    request was the largest part of a `get` (profiled). Parameters: group_id, profile_id, and per page
    excluded_N, pattern_N and limit_N."""
    group_id = bindparam("group_id", type_=Uuid)
    profile_id = bindparam("profile_id", type_=Uuid) if with_profile else None
    pages = []
    for index, page in enumerate(shape):
        conditions = [*service.catalog_scope(group_id, profile_id), Resource.kind == page.resource]
        if page.excludes_selected:
            conditions.append(Resource.id.not_in(bindparam(f"excluded_{index}", expanding=True)))
        if page.searched:
            conditions.append(fold(Resource.value).like(bindparam(f"pattern_{index}"), escape="\\"))
        for flag_type in page.hidden_flag_types:
            # Another kind's catalog flag (tool_active on a persona) is no option here.
            conditions.append(Resource.value.not_like(f'{{"type":"{escape_like(flag_type)}",%', escape="\\"))
        pages.append((conditions, bindparam(f"limit_{index}", type_=Integer)))
    return service.pages_query(pages)


def template_parameters(
    spec: TemplateParameters, state: FormState, values: dict[uuid.UUID, ResourceValue]
) -> TemplateParametersView:
    """Every {{variable}} of the template text with the parameter field it maps to, or none (missing)."""
    texts = [values[rid].value for rid in state.ids(spec.text_slot) if rid in values]
    names = list(dict.fromkeys(m for text in texts for m in _VARIABLE.findall(text)))
    fields = {values[rid].value: rid for rid in state.ids(spec.field_slot) if rid in values}
    parameters: list[TemplateParameter] = [
        {"name": n, "parameter_field_id": fields.get(n), "mapped": n in fields} for n in names
    ]
    return {"parameters": parameters, "missing": [p["name"] for p in parameters if not p["mapped"]]}


def argument_schemas(spec: ToolArguments, state: FormState, values: dict[uuid.UUID, ResourceValue]) -> ArgumentSchemas:
    """A tool's live arguments as the JSON Schema object that function-calling models take as `parameters`
    and MCP tool definitions as `inputSchema`, in position order; its outputs as an `outputSchema`."""

    def live(slot_key: str) -> list[ResourceValue]:
        return [values[rid] for rid in state.ids(slot_key) if rid in values and rid not in state.pending]

    position_of: dict[str, int] = {}
    for row in live(spec.position_slot):
        position_of.setdefault(row.value["arg_id"], row.value["position"])
    args = sorted(enumerate(live(spec.arg_slot)), key=lambda pair: (position_of.get(str(pair[1].id), pair[0]), pair[0]))
    return {
        "arguments_schema": _object_schema([arg.value for _index, arg in args]),
        "output_schema": _object_schema([row.value for row in live(spec.output_slot)]),
    }


def _object_schema(fields: list[dict[str, Any]]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for field in fields:
        prop: dict[str, Any] = {"type": field["type"]}
        if field.get("description"):
            prop["description"] = field["description"]
        if field.get("default") is not None:
            prop["default"] = field["default"]
        properties[field["name"]] = prop
    required = [f["name"] for f in fields if f.get("required")]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def form_view(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    request: dict[str, Any],
    hidden_flag_types: tuple[str, ...],
) -> dict[str, Any]:
    """`get`: the form of an artifact, of a draft (whose selections win), or a new one's empty form."""
    artifact: ArtifactRow | None = None
    draft: Draft | None = None
    state = FormState()
    if request.get(kind.id_field):
        artifact = repository.get_artifact(session, kind, principal.group_id, request[kind.id_field])
        state = repository.load_state(session, artifact.id)
    if request.get("draft_id"):  # a draft wins for selections
        draft = drafts.load_draft(session, kind, principal, request["draft_id"])
        state = FormState.from_json(draft.form_state)
        if artifact is None and draft.target_id and draft.status == DraftStatus.OPEN:
            artifact = repository.find_artifact(session, kind, principal.group_id, draft.target_id)
    return get_view(session, kind, principal, artifact, state, request, hidden_flag_types, draft)


def get_view(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    artifact: ArtifactRow | None,
    state: FormState,
    request: dict[str, Any],
    hidden_flag_types: tuple[str, ...],
    draft: Draft | None = None,
) -> dict[str, Any]:
    """The whole `get` response: the form's sections, derived sections and what the caller may do."""
    values = service.load(session, principal.group_id, state.all_ids())
    view: dict[str, Any] = {
        kind.id_field: artifact.id if artifact else None,
        f"{kind.name}_exists": artifact is not None,
        "version": artifact.version if artifact else None,
        "draft_id": draft.id if draft else None,
        "draft_version": draft.version if draft else None,
        "actor_name": principal.name,
        "group_id": principal.group_id,
        "pending_ids": sorted(state.pending, key=str),
        **_edit_permission(principal),
    }
    view["active"] = active_value(kind, state, values)
    asked = [
        (
            slot,
            next((request[f] for f in slot.search_fields if request.get(f)), None),
            any(request.get(f) for f in slot.show_selected_fields),
        )
        for slot in kind.slots
    ]
    sections = build_sections(
        session, principal.group_id, principal.profile_id, asked, state, values, hidden_flag_types
    )
    for slot in kind.slots:
        view[slot.section] = sections[slot.key]
    if kind.parameters:
        view["parameters"] = template_parameters(kind.parameters, state, values)
    if kind.arguments:
        view.update(argument_schemas(kind.arguments, state, values))
    return view


def _edit_permission(principal: Principal) -> EditPermission:
    if not principal.has_role(Role.EDITOR):
        return {"can_edit": False, "disabled_reason": f"Editing needs the editor role; your role is {principal.role}."}
    if principal.via_agent:
        return {
            "can_edit": False,
            "disabled_reason": "AI agents can only propose changes; a person accepts or rejects them.",
        }
    return {"can_edit": True, "disabled_reason": None}
