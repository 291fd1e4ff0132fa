"""What the pages need to know about each kind, derived from the declarations (nothing per kind).

The editor's steps come from `ArtifactKind.steps`: basic information, content, and the kind's own
step, which holds the slots its own feature reads (a persona's parameter fields, a tool's
arguments) or that describe the models it calls.
"""

from __future__ import annotations

from typing import Any

from loomwork.engine.declaration import ArtifactKind, Slot
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.resources.kinds import RESOURCE_KINDS

STEP_TITLES = {
    "basic": "Basic information",
    "content": "Content",
    "parameters_step": "Parameters",
    "arguments_step": "Arguments",
    "models_step": "Models",
}


def slot_view(kind: ArtifactKind, slot: Slot) -> dict[str, Any]:
    resource = slot.resource_kind
    return {
        "key": slot.key,
        "section": slot.section,
        "many": slot.many,
        "required": slot.required,
        "resource": slot.resource,
        "resource_plural": resource.plural,
        "id_field": slot.id_field,
        "value_field": slot.value_field,
        "search_field": slot.search_fields[0],
        "description": slot.description,
        "value_schema": resource.value_schema,
        "sensitive": resource.sensitive,
        "step": kind.step_of(slot),
        # A field that points at another resource is chosen from that resource's catalog, not typed as an id.
        "references": {field: RESOURCE_KINDS[target].plural for field, target in resource.references},
    }


# Values no person filters a list by: whole texts (a prompt, an example) and pictures. Their facets stay in the
# API; the list page leaves them out of its sidebar so the facets that narrow a list come first.
NOT_A_FILTER_FOR_PEOPLE = {"icon", "instruction", "instructions", "example", "scenario", "description"}
# A model's or an argument's bookkeeping (its position, its flags, its rubric text) identifies nothing.
NOT_A_COLUMN = ("_position", "_flag", "_rubric", "args_output")


def list_columns(kind: ArtifactKind) -> list[str]:
    """The slots that identify an artifact of this kind in a list, beside its name: those of the kind's own
    step (a tool's arguments, an eval's models, an invocation's endpoint and modalities), then departments."""
    own = kind.steps[-1]
    readable = [
        slot.key
        for slot in kind.slots
        if kind.step_of(slot) == own
        and not slot.resource_kind.sensitive
        and not any(slot.resource.endswith(part) for part in NOT_A_COLUMN)
    ]
    department = [slot.key for slot in kind.slots if slot.resource == "department"]
    return (readable + department)[:2]


def kind_view(kind: ArtifactKind) -> dict[str, Any]:
    return {
        "name": kind.name,
        "plural": kind.plural,
        "title": kind.title,
        "description": kind.description,
        "id_field": kind.id_field,
        "ids_field": kind.ids_field,
        "steps": [
            {"key": step, "title": STEP_TITLES.get(step, step.replace("_", " ").capitalize())} for step in kind.steps
        ],
        "slots": [slot_view(kind, slot) for slot in kind.slots],
        "list_columns": list_columns(kind),
        "facets": [
            {
                "name": f.name,
                "filter_field": f.filter_field,
                "ids_field": f.ids_field,
                "search_field": f.search_field,
                "resource": kind.slot_by_key[f.slot].resource,
                "for_people": kind.slot_by_key[f.slot].resource not in NOT_A_FILTER_FOR_PEOPLE,
            }
            for f in kind.facets
        ],
        # Derived sections of get: which slot a missing {{variable}} is added to, where a tool's schema shows.
        "parameters_slot": kind.parameters.field_slot if kind.parameters else None,
        "arguments_slot": kind.arguments.arg_slot if kind.arguments else None,
    }


def kinds_view() -> list[dict[str, Any]]:
    return [kind_view(kind) for kind in ARTIFACT_KINDS]
