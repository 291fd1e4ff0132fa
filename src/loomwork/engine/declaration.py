"""How an artifact kind is declared: its slots and the request fields that feed them.

Everything else (routes, request and response models, patch rules, get sections,
docs) is derived from these declarations by the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from loomwork.resources.kinds import RESOURCE_KINDS, ResourceKind

T = TypeVar("T")


@dataclass(frozen=True)
class Slot:
    """One list of connections of an artifact to resources of one kind.

    `key` is the stem of the request fields: a single slot is fed by `key_id`
    (select) and `key` (a value to create-or-find); a multiple slot by `key_ids`
    (replace the selection) and `append_values_field` (values to create-or-find and append).
    `value_field` names whichever field takes values, as `id_field` names the one that takes ids.
    """

    key: str
    resource: str
    many: bool
    required: bool = False
    section: str = ""
    append_values_field: str | None = None
    # A singular id field that appends one selection (`instruction_id`, persona `flag_id`).
    append_field: str | None = None
    # An older spelling of the ids field (`args_outputs_ids`); the canonical field wins when both come.
    id_alias: str | None = None
    description: str = ""

    @property
    def id_field(self) -> str:
        return f"{self.key}_ids" if self.many else f"{self.key}_id"

    @property
    def value_field(self) -> str | None:
        return self.append_values_field if self.many else self.key

    @property
    def field(self) -> str:
        """The name the slot's values go by in responses (get, search, diff, audit, CSV, docs)."""
        return self.section if self.many else self.key

    def shown(self, values: Sequence[T]) -> list[T] | T | None:
        """A slot's values as its field holds them: the list for a multiple slot, the one value (or null)."""
        if self.many:
            return list(values)
        return values[0] if values else None

    @property
    def resource_kind(self) -> ResourceKind:
        return RESOURCE_KINDS[self.resource]

    @property
    def search_fields(self) -> tuple[str, ...]:
        """The seeds spell a section's search option both ways (`color_search`, `descriptions_search`)."""
        return tuple(dict.fromkeys((f"{self.key}_search", f"{self.section}_search")))

    @property
    def show_selected_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((f"{self.key}_show_selected", f"{self.section}_show_selected")))


def single(
    key: str, resource: str | None = None, *, required: bool = False, section: str | None = None, description: str = ""
) -> Slot:
    return Slot(
        key, resource or key, many=False, required=required, section=section or f"{key}s", description=description
    )


def many(
    key: str,
    resource: str | None = None,
    *,
    values: str | None = "",
    section: str | None = None,
    append: str | None = None,
    alias: str | None = None,
    description: str = "",
) -> Slot:
    """A multiple slot; `values=None` when the kind takes only ids (flags come from a catalog)."""
    plural = section or f"{key}s"
    return Slot(
        key,
        resource or key,
        many=True,
        section=plural,
        append_values_field=plural if values == "" else values,
        append_field=append,
        id_alias=alias,
        description=description,
    )


@dataclass(frozen=True)
class Facet:
    """A search filter section: `{name}_filter` options counted disjunctively, selected by `ids_field`."""

    name: str
    slot: str
    ids_field: str

    @property
    def filter_field(self) -> str:
        return f"{self.name}_filter"

    @property
    def search_field(self) -> str:
        return f"{self.name}_search"


def facet(name: str, slot: str | None = None, ids_field: str | None = None) -> Facet:
    return Facet(name, slot or name, ids_field or f"{name}_ids")


@dataclass(frozen=True)
class TemplateParameters:
    """Derive a `parameters` section from the {{variables}} of a text slot, mapped to a slot's values."""

    text_slot: str
    field_slot: str


@dataclass(frozen=True)
class ToolArguments:
    """Slots that together describe a function's arguments: fed at once by `args_drafts` (API.md
    section 4 rule 7) and shown by `get` as the JSON Schema a model or MCP client takes."""

    arg_slot: str
    position_slot: str
    output_slot: str


# Which editor step a slot belongs to, by the kind of value it holds: basic information, content, or the
# kind's own step (the slots its own feature reads, or that say which model is called and how).
BASIC_RESOURCES = frozenset({"name", "description", "color", "icon", "flag", "value"})
MODEL_RESOURCES = frozenset(
    {
        "model",
        "model_flag",
        "model_position",
        "model_rubric",
        "key",
        "endpoint",
        "modality",
        "temperature_level",
        "pricing",
        "reasoning_level",
        "quality",
    }
)


@dataclass(frozen=True)
class ArtifactKind:
    name: str  # persona
    plural: str  # personas
    title: str  # Persona
    description: str
    slots: tuple[Slot, ...]
    legacy_draft_path: str | None = None
    # Which slots the search text looks in.
    text_slots: tuple[str, ...] = ("name", "description")
    facets: tuple[Facet, ...] = ()
    parameters: TemplateParameters | None = None
    arguments: ToolArguments | None = None
    # The editor's steps, each with a `*_show_ai_generate` flag in get.
    steps: tuple[str, ...] = ("basic", "content")
    # Flag types this kind's forms use beyond `K_active`, seeded into every new group's catalog.
    catalog_flags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    slot_by_key: dict[str, Slot] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot_by_key", {slot.key: slot for slot in self.slots})
        for slot in self.slots:  # a secret given by value is sealed into a single selection (drafts.seal_secrets)
            if slot.many and slot.resource_kind.sensitive:
                raise ValueError(f"{self.name}.{slot.key}: a slot of secrets must be single")

    @property
    def id_field(self) -> str:
        return f"{self.name}_id"

    @property
    def ids_field(self) -> str:
        return f"{self.name}_ids"

    @property
    def active_flag_type(self) -> str:
        return f"{self.name}_active"

    @property
    def own_flag_types(self) -> tuple[str, ...]:
        return (self.active_flag_type, *(flag_type for flag_type, _values in self.catalog_flags))

    @property
    def name_slot(self) -> Slot:
        return self.slot_by_key["name"]

    @property
    def flag_slot(self) -> Slot | None:
        return self.slot_by_key.get("flag")

    @property
    def model_flag_slot(self) -> Slot | None:
        """The slot of `{model_id, flag_id}` rows, which `model_flag_values` also feeds (rule 6)."""
        return next((slot for slot in self.slots if slot.resource == "model_flag"), None)

    def step_of(self, slot: Slot) -> str:
        """The editor step that shows the slot (and that `generate` drafts it in)."""
        if slot.resource in BASIC_RESOURCES:
            return "basic"
        own = [step for step in self.steps if step not in ("basic", "content")]
        if own and slot.key in self._own_step_slots():
            return own[0]
        return "content"

    def _own_step_slots(self) -> set[str]:
        keys = {slot.key for slot in self.slots if slot.resource in MODEL_RESOURCES}
        if self.parameters:
            keys.add(self.parameters.field_slot)
        if self.arguments:
            keys.update((self.arguments.arg_slot, self.arguments.position_slot, self.arguments.output_slot))
        return keys

    def generated_slots(self, step: str) -> tuple[Slot, ...]:
        """The slots of a step a model may draft: those fed by values. Secrets, references to other
        resources (ids a model cannot know) and catalog choices (flags) are left to people."""
        return tuple(
            slot
            for slot in self.slots
            if self.step_of(slot) == step
            and slot.value_field
            and not slot.resource_kind.sensitive
            and not slot.resource_kind.references
            and not slot.resource_kind.catalog_choice
        )
