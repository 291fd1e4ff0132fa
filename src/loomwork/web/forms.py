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

BASIC_RESOURCES = frozenset({"name", "description", "color", "icon", "flag", "value"})
# Resource kinds that say which model is called and how: the "models" step of evals and invocations.
MODEL_RESOURCES = frozenset({"model", "model_flag", "model_position", "model_rubric", "key", "endpoint", "modality",
                             "temperature_level", "pricing", "reasoning_level", "quality"})
STEP_TITLES = {"basic": "Basic information", "content": "Content", "parameters_step": "Parameters",
               "arguments_step": "Arguments", "models_step": "Models"}


def _own_step_slots(kind: ArtifactKind) -> set[str]:
    keys = {slot.key for slot in kind.slots if slot.resource in MODEL_RESOURCES}
    if kind.parameters:
        keys.add(kind.parameters.field_slot)
    if kind.arguments:
        keys.update((kind.arguments.arg_slot, kind.arguments.position_slot, kind.arguments.output_slot))
    return keys


def step_of(kind: ArtifactKind, slot: Slot) -> str:
    if slot.resource in BASIC_RESOURCES:
        return "basic"
    own = [step for step in kind.steps if step not in ("basic", "content")]
    if own and slot.key in _own_step_slots(kind):
        return own[0]
    return "content"


def slot_view(kind: ArtifactKind, slot: Slot) -> dict[str, Any]:
    resource = slot.resource_kind
    return {
        "key": slot.key, "section": slot.section, "many": slot.many, "required": slot.required,
        "resource": slot.resource, "resource_plural": resource.plural, "id_field": slot.id_field,
        "value_field": slot.value_field, "search_field": slot.search_fields[0], "description": slot.description,
        "value_schema": resource.value_schema, "sensitive": resource.sensitive, "step": step_of(kind, slot),
        # A field that points at another resource is chosen from that resource's catalog, not typed as an id.
        "references": {field: RESOURCE_KINDS[target].plural for field, target in resource.references},
    }


def kind_view(kind: ArtifactKind) -> dict[str, Any]:
    return {
        "name": kind.name, "plural": kind.plural, "title": kind.title, "description": kind.description,
        "id_field": kind.id_field, "ids_field": kind.ids_field,
        "steps": [{"key": step, "title": STEP_TITLES.get(step, step.replace("_", " ").capitalize())}
                  for step in kind.steps],
        "slots": [slot_view(kind, slot) for slot in kind.slots],
        "facets": [{"name": f.name, "filter_field": f.filter_field, "ids_field": f.ids_field,
                    "search_field": f.search_field, "resource": kind.slot_by_key[f.slot].resource}
                   for f in kind.facets],
        # Derived sections of get: which slot a missing {{variable}} is added to, where a tool's schema shows.
        "parameters_slot": kind.parameters.field_slot if kind.parameters else None,
        "arguments_slot": kind.arguments.arg_slot if kind.arguments else None,
    }


def kinds_view() -> list[dict[str, Any]]:
    return [kind_view(kind) for kind in ARTIFACT_KINDS]
