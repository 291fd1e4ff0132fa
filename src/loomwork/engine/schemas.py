"""Request and response models, generated from an artifact kind's declaration.

Nothing here is written per kind: each model is named after the kind
(`CreatePersonaItem`, `GetPersonaResponse`, ...) so the OpenAPI document reads
like the seeds, but its fields all come from the slots.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    create_model,
)

from loomwork.engine.declaration import ArtifactKind, Slot
from loomwork.engine.proposal_model import Proposal
from loomwork.http import (
    MAX_BULK_ITEMS,
    MAX_IDS,
    MAX_KEY_CHARS,
    MAX_MESSAGE_CHARS,
    Int,
    LabelName,
    RequestModel,
    SearchText,
)


class Option(BaseModel):
    id: uuid.UUID
    value: Any
    label: str
    selected: bool
    pending: bool


class Section(BaseModel):
    options: list[Option]
    total: int = Field(description="How many resources match the section's search, before the cut to 50.")
    selected_ids: list[uuid.UUID]
    search: str | None = None


class Parameter(BaseModel):
    name: str
    parameter_field_id: uuid.UUID | None
    mapped: bool


class ParameterSection(BaseModel):
    parameters: list[Parameter]
    missing: list[str]


IdList = Annotated[list[uuid.UUID], Field(max_length=MAX_IDS)]


class ModelFlagValue(RequestModel):
    """A model's flag given by value: `(type, value)` names a catalog flag (API.md section 4 rule 6)."""

    model_id: uuid.UUID
    type: str = Field(max_length=64)
    value: str | StrictBool = Field(description='The flag\'s value; true/false stand for "true"/"false".')


class ArgDraft(RequestModel):
    """One argument card of a tool's Arguments step (rule 7): the argument, its position and its output."""

    arg_id: uuid.UUID | None = Field(None, description="An existing argument; alone, it is kept as it is.")
    name: str | None = None
    type: str | None = None
    description: str | None = None
    required: StrictBool | None = None
    # Any JSON value an argument of `type` may take; spelled out so the schema says what it accepts.
    default: (
        str | int | float | bool | list[str | int | float | bool | dict[str, Any] | None] | dict[str, Any] | None
    ) = Field(None, description="The argument's default value, of its type.")
    position: Int(ge=0, le=10_000) | None = Field(None, description="Defaults to the card's index.")
    output: dict[str, Any] | None = Field(None, description="An output field {name, type, description}.")


def _slot_fields(slot: Slot) -> dict[str, Any]:
    """The request fields that feed one slot (see API.md section 4, rules 3 and 4)."""
    value_type = slot.resource_kind.python_type
    fields: dict[str, Any] = {}
    if slot.many:
        fields[slot.id_field] = (IdList | None, Field(None, description=f"Replace the {slot.key} selection (ordered)."))
        if slot.id_alias:
            fields[slot.id_alias] = (IdList | None, Field(None, description=f"Older spelling of {slot.id_field}."))
        if slot.append_field:
            fields[slot.append_field] = (
                uuid.UUID | None,
                Field(None, description=f"Add one {slot.resource} to the selection."),
            )
        if slot.value_field:
            fields[slot.value_field] = (
                Annotated[list[value_type], Field(max_length=MAX_IDS)] | None,
                Field(None, description=f"{slot.key} values to create-or-find and append."),
            )
    else:
        fields[slot.id_field] = (uuid.UUID | None, Field(None, description=f"Select a {slot.resource}; null clears."))
        fields[slot.key] = (  # a single slot's value field is its key
            value_type | None,
            Field(None, description=f"A {slot.resource} value to create-or-find and select."),
        )
    return fields


def patch_fields(kind: ArtifactKind) -> dict[str, Any]:
    """Every field that changes a form: the slots, then the kind-wide rules (flags, active, pending)."""
    fields: dict[str, Any] = {}
    for slot in kind.slots:
        fields.update(_slot_fields(slot))
    if kind.flag_slot:
        fields["active"] = (
            StrictBool | None,
            Field(None, description=f"Resolved to the {kind.active_flag_type} flag."),
        )
    if kind.model_flag_slot:
        fields["model_flag_values"] = (
            Annotated[list[ModelFlagValue], Field(max_length=MAX_IDS)] | None,
            Field(
                None,
                description="Per (model, flag type): resolve the flag by value and replace the model's flag of that type.",
            ),
        )
    if kind.arguments:
        fields["args_drafts"] = (
            Annotated[list[ArgDraft], Field(max_length=MAX_IDS)] | None,
            Field(
                None,
                description="Argument cards; when present they replace the argument, position and output selections.",
            ),
        )
    fields["pending_ids"] = (
        IdList | None,
        Field(None, description="Selected resource ids whose connections stay pending (inactive)."),
    )
    return fields


@dataclass(frozen=True)
class KindSchemas:
    create_item: type[BaseModel]
    update_item: type[BaseModel]
    create_request: type[BaseModel]
    update_request: type[BaseModel]
    result_item: type[BaseModel]
    results: type[BaseModel]
    get_request: type[BaseModel]
    get_response: type[BaseModel]
    duplicate_request: type[BaseModel]
    duplicate_response: type[BaseModel]
    delete_request: type[BaseModel]
    delete_result: type[BaseModel]
    delete_response: type[BaseModel]


def _model(model_name: str, base: type[BaseModel] = BaseModel, /, **fields: Any) -> type[BaseModel]:
    return create_model(model_name, __base__=base, **fields)


def build_schemas(kind: ArtifactKind) -> KindSchemas:
    title, id_field = kind.title, kind.id_field
    draft_field = (uuid.UUID | None, Field(None, description="Commit this draft's form into the item."))
    message_field = (
        Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)] | None,
        Field(None, description="Why: kept on the revision this item writes."),
    )
    create_item = _model(
        f"Create{title}Item", RequestModel, **patch_fields(kind), draft_id=draft_field, message=message_field
    )
    update_item = _model(
        f"Update{title}Item",
        RequestModel,
        **patch_fields(kind),
        draft_id=draft_field,
        message=message_field,
        **{id_field: (uuid.UUID, ...)},
        expected_version=(
            Int(ge=1) | None,
            Field(None, description=f"Fail the item unless the {kind.name} is at this version."),
        ),
    )

    def bulk(item: type[BaseModel]) -> tuple[object, object]:
        return (Annotated[list[item], Field(max_length=MAX_BULK_ITEMS)], ...)

    result_item = _model(
        f"{title}ResultItem",
        index=(int, ...),
        success=(bool, ...),
        message=(str, ...),
        **{id_field: (uuid.UUID | None, None)},
        version=(int | None, None),
        code=(str | None, None),
        field=(str | None, None),
        current_version=(int | None, None),
    )
    get_fields: dict[str, Any] = {id_field: (uuid.UUID | None, None), "draft_id": (uuid.UUID | None, None)}
    for slot in kind.slots:
        for name in slot.search_fields:
            get_fields[name] = (SearchText | None, None)
        for name in slot.show_selected_fields:
            get_fields[name] = (StrictBool | None, None)
    if kind.parameters:
        get_fields["parameter_ids"] = (IdList | None, Field(None, description="Accepted for compatibility; unused."))
    response_fields: dict[str, Any] = {
        id_field: (uuid.UUID | None, None),
        f"{kind.name}_exists": (bool, ...),
        "version": (int | None, None),
        "draft_id": (uuid.UUID | None, None),
        "draft_version": (int | None, None),
        "actor_name": (str, ...),
        "group_id": (uuid.UUID, ...),
        "can_edit": (bool, ...),
        "disabled_reason": (str | None, None),
        "active": (bool | None, None),
        "pending_ids": (list[uuid.UUID], ...),
        **{f"{step}_show_ai_generate": (bool, False) for step in kind.steps},
        **{slot.section: (Section, ...) for slot in kind.slots},
    }
    if kind.parameters:
        response_fields["parameters"] = (ParameterSection, ...)
    if kind.arguments:
        response_fields["arguments_schema"] = (
            dict[str, Any],
            Field(
                ...,
                description="The live arguments as a JSON Schema object: a model's `parameters`, an MCP `inputSchema`.",
            ),
        )
        response_fields["output_schema"] = (
            dict[str, Any],
            Field(..., description="The outputs as a JSON Schema object."),
        )
    delete_result = _model(
        f"Delete{title}Result",
        index=(int, ...),
        success=(bool, ...),
        message=(str, ...),
        code=(str | None, None),
        **{id_field: (uuid.UUID, ...)},
    )
    return KindSchemas(
        create_item=create_item,
        update_item=update_item,
        create_request=_model(f"Create{title}Request", RequestModel, **{kind.plural: bulk(create_item)}),
        update_request=_model(f"Update{title}Request", RequestModel, **{kind.plural: bulk(update_item)}),
        result_item=result_item,
        results=_model(f"{title}Results", results=(list[result_item], ...)),
        get_request=_model(f"Get{title}Request", RequestModel, **get_fields),
        get_response=_model(f"Get{title}Response", **response_fields),
        duplicate_request=_model(f"Duplicate{title}Request", RequestModel, **{id_field: (uuid.UUID, ...)}),
        duplicate_response=_model(
            f"Duplicate{title}Response",
            success=(bool, ...),
            message=(str, ...),
            version=(int, ...),
            **{id_field: (uuid.UUID, ...)},
        ),
        delete_request=_model(
            f"Delete{title}Request",
            RequestModel,
            **{kind.ids_field: (Annotated[list[uuid.UUID], Field(max_length=MAX_BULK_ITEMS)], ...)},
        ),
        delete_result=delete_result,
        delete_response=_model(f"Delete{title}Response", results=(list[delete_result], ...)),
    )


class PageRequest(RequestModel):
    page_size: Int(ge=1, le=200) | None = None
    page_offset: Int(ge=0) | None = None


@dataclass(frozen=True)
class DraftSchemas:
    request: type[BaseModel]
    form_state: type[BaseModel]
    response: type[BaseModel]
    list_entry: type[BaseModel]
    list_response: type[BaseModel]
    rebase_request: type[BaseModel]
    rebase_response: type[BaseModel]
    discard_request: type[BaseModel]
    discard_response: type[BaseModel]


class RebaseConflict(BaseModel):
    field: str = Field(description="The field both sides changed since the draft's base.")
    base: Any = Field(description="Its value at the base version, as a person reads it.")
    theirs: Any = Field(description="Its value in the artifact now.")
    mine: Any = Field(description="Its value in your draft.")


class DiscardDraftRequest(RequestModel):
    draft_id: uuid.UUID = Field(description="Your draft to throw away.")


class DiscardDraftResponse(BaseModel):
    draft_id: uuid.UUID
    discarded: bool
    withdrawn_proposals: int = Field(description="How many waiting proposals the draft held; they are withdrawn.")


@functools.cache  # one set of models per kind: the router declares them and the drafts service renders with them
def build_draft_schemas(kind: ArtifactKind) -> DraftSchemas:
    title, id_field = kind.title, kind.id_field
    key_type = Annotated[str, Field(min_length=1, max_length=MAX_KEY_CHARS)]
    request = _model(
        f"Patch{title}DraftRequest",
        RequestModel,
        draft_id=(uuid.UUID | None, Field(None, description="The draft to patch; omitted: a new draft.")),
        input_draft_id=(uuid.UUID | None, Field(None, description="Legacy alias of draft_id.")),
        **{id_field: (uuid.UUID | None, Field(None, description=f"On a new draft: start from this {kind.name}."))},
        expected_version=(
            Int(ge=0) | None,
            Field(None, description="Fail with 409 unless the draft is at this version."),
        ),
        idempotency_key=(
            key_type | None,
            Field(None, description="The entry's id: replays, and names a proposal to ack."),
        ),
        soft=(StrictBool | None, Field(None, description="Stage the patch as a dormant proposal.")),
        accept=(StrictBool | None, Field(None, description="With idempotency_key: accept or reject a proposal.")),
        **patch_fields(kind),
    )
    state_fields: dict[str, Any] = {
        "draft_id": (uuid.UUID, ...),
        id_field: (uuid.UUID | None, None),
        "version": (int, ...),
        "status": (str, ...),
        "base_version": (int | None, Field(None, description="The artifact version the draft builds on (null: new).")),
        "behind_by": (int, Field(0, description="How many versions the artifact has moved since; rebase to catch up.")),
        "active": (bool | None, None),
        "pending_ids": (list[uuid.UUID], ...),
        "proposals": (list[Proposal], ...),
    }
    for slot in kind.slots:
        value_type = slot.resource_kind.python_type
        if slot.many:
            state_fields[slot.id_field] = (list[uuid.UUID], ...)
            state_fields[slot.field] = (list[value_type], ...)
        else:
            state_fields[slot.id_field] = (uuid.UUID | None, None)
            state_fields[slot.field] = (value_type | None, None)
    form_state = _model(f"{title}DraftFormState", **state_fields)
    response = _model(
        f"Patch{title}DraftResponse",
        success=(bool, ...),
        draft_id=(uuid.UUID, ...),
        idempotency_key=(str, ...),
        new_version=(int, ...),
        message=(str, ...),
        form_state=(form_state, ...),
    )
    list_entry = _model(
        f"Get{title}DraftResponse",
        draft_id=(uuid.UUID, ...),
        **{id_field: (uuid.UUID | None, None)},
        version=(int, ...),
        status=(str, ...),
        name=(str | None, None),
        waiting_proposals=(int, ...),
        created_at=(datetime, ...),
        updated_at=(datetime, ...),
    )
    rebase_request = _model(
        f"Rebase{title}DraftRequest",
        RequestModel,
        draft_id=(uuid.UUID, Field(..., description="Your draft to replay onto the current version.")),
        resolutions=(
            Annotated[dict[Annotated[str, Field(max_length=64)], Literal["mine", "theirs"]], Field(max_length=64)]
            | None,
            Field(None, description='For each conflicting field, the side to keep: "mine" or "theirs".'),
        ),
        idempotency_key=(
            Annotated[str, Field(min_length=1, max_length=MAX_KEY_CHARS)] | None,
            Field(None, description="Answered back as the response's idempotency_key (a rebase stores no entry)."),
        ),
    )
    rebase_response = _model(
        f"Rebase{title}DraftResponse",
        response,
        conflicts=(list[RebaseConflict], Field(description="Always empty on success: every conflict was resolved.")),
    )
    return DraftSchemas(
        request,
        form_state,
        response,
        list_entry,
        _model(f"Get{title}DraftsResponse", entries=(list[list_entry], ...)),
        rebase_request,
        rebase_response,
        DiscardDraftRequest,
        DiscardDraftResponse,
    )


class FacetOption(BaseModel):
    id: uuid.UUID
    label: str
    count: int = Field(description="Matches under all the other filters (disjunctive facets).")
    selected: bool


class ListFilterSection(BaseModel):
    options: list[FacetOption]
    total: int = Field(description="How many options have matches, before the cut to 50.")
    search: str | None = None


class ImportField(BaseModel):
    name: str
    description: str
    multiple: bool
    required: bool


class ExportResponse(BaseModel):
    upload_id: uuid.UUID
    file_name: str
    row_count: int


class ImportResult(BaseModel):
    line: int
    success: bool
    message: str
    code: str | None = None
    field: str | None = None
    id: uuid.UUID | None = None
    version: int | None = None
    outcome: Literal["created", "updated", "unchanged"] | None = Field(
        default=None,
        description="What the row did (null when it failed): unchanged writes no version, event or audit entry.",
    )


class ImportResponse(BaseModel):
    created: int
    updated: int
    unchanged: int = Field(description="Rows that named an artifact and changed nothing in it.")
    failed: int
    results: list[ImportResult]


class RefreshResponse(BaseModel):
    success: bool
    refreshed_views: list[str]
    invalidated_tags: list[str]


class DocsField(BaseModel):
    name: str
    type: str
    description: str
    required: bool = False


class DocsResponse(BaseModel):
    name: str
    type: str
    description: str
    fields: list[DocsField]


class OperationInfo(BaseModel):
    name: str
    method: str
    path: str
    summary: str
    role: str
    allowed: bool
    agents: bool


class DocsPageMetadata(BaseModel):
    entity_id: uuid.UUID
    title: str | None
    version: int
    updated_at: datetime


class DocsRequest(RequestModel):
    entity_id: uuid.UUID | None = None


@dataclass(frozen=True)
class SearchSchemas:
    search_request: type[BaseModel]
    search_response: type[BaseModel]
    export_request: type[BaseModel]
    docs_response: type[BaseModel]


def _filter_fields(kind: ArtifactKind) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "search": (
            SearchText | None,
            Field(None, description="Every word must occur in the name, description or text slots."),
        )
    }
    for facet in kind.facets:
        fields[facet.ids_field] = (
            IdList | None,
            Field(None, description=f"Only {kind.plural} with any of these ({facet.slot})."),
        )
    return fields


def build_search_schemas(kind: ArtifactKind) -> SearchSchemas:
    title = kind.title
    search_request = _model(
        f"Search{title}Request",
        RequestModel,
        **_filter_fields(kind),
        **{facet.search_field: (SearchText | None, None) for facet in kind.facets},
        page_size=(Int(ge=1, le=200) | None, Field(None, description="1 to 200; default 25.")),
        page_offset=(Int(ge=0) | None, None),
    )
    item_fields: dict[str, Any] = {
        kind.id_field: (uuid.UUID, ...),
        "version": (int, ...),
        "updated_at": (datetime, ...),
        "active": (bool | None, None),
    }
    for slot in kind.slots:
        value_type = slot.resource_kind.python_type
        item_fields[slot.field] = (list[value_type], ...) if slot.many else (value_type | None, None)
    list_item = _model(f"List{title}ApiItem", **item_fields)
    search_response = _model(
        f"Search{title}Response",
        actor_name=(str, ...),
        **{kind.plural: (list[list_item], ...)},
        **{facet.filter_field: (ListFilterSection, ...) for facet in kind.facets},
        total_count=(int, ...),
        import_fields=(list[ImportField], ...),
    )
    export_request = _model(
        f"Export{title}Request",
        RequestModel,
        **{kind.id_field: (uuid.UUID | None, None)},
        **_filter_fields(kind),
        # A list exports what it shows, and its body carries the text typed in a facet's box: taken, so the export
        # answers, and without effect, since that text narrows the facet's options, never the rows.
        **{
            facet.search_field: (SearchText | None, Field(None, description="As search takes it; changes no row."))
            for facet in kind.facets
        },
    )
    docs_response = _model(
        f"{title}DocsResponse",
        name=(str, ...),
        type=(str, ...),
        description=(str, ...),
        artifact=(DocsResponse | None, None),
        entries=(list[DocsResponse], ...),
        resources=(list[DocsResponse], ...),
        permissions=(list[OperationInfo], ...),
        api_operations=(list[OperationInfo], ...),
        page_metadata=(DocsPageMetadata | None, None),
    )
    return SearchSchemas(search_request, search_response, export_request, docs_response)


MAX_HINT_CHARS = 2_000


def build_generate_request(kind: ArtifactKind) -> type[BaseModel]:
    """`generate`: which draft (or artifact, or a new draft), which step, and the person's hint."""
    steps = tuple(step for step in kind.steps if kind.generated_slots(step))
    return _model(
        f"Generate{kind.title}Request",
        RequestModel,
        draft_id=(uuid.UUID | None, Field(None, description="Propose into this draft of yours; omitted: a new draft.")),
        **{kind.id_field: (uuid.UUID | None, Field(None, description=f"On a new draft: start from this {kind.name}."))},
        step=(Literal[steps], Field(description="The editor step whose fields the model drafts.")),
        hint=(
            Annotated[str, Field(max_length=MAX_HINT_CHARS)] | None,
            Field(None, description="What the person wants, in their words."),
        ),
    )


# --- revisions, labels and resolve (API.md section 9) ----------------------------------------------------------


class Author(BaseModel):
    profile_id: uuid.UUID | None
    name: str
    type: str = Field(description="person or agent")


class RevisionInfo(BaseModel):
    version: int
    created_at: datetime
    author: Author
    via_agent: bool
    approved_by: Author | None = Field(description="The person who accepted the agent's proposal this commits.")
    operation: str = Field(description="create, update, draft_commit, import, duplicate, rollback or baseline")
    message: str | None


class HistoryEntry(RevisionInfo):
    labels: list[str] = Field(description="The labels pointing at this version.")


class Change(BaseModel):
    field: str
    before: Any
    after: Any
    added: list[Any]
    removed: list[Any]


def _one_of(*fields: str) -> type[RequestModel]:
    """A request base whose schema says that exactly one of `fields` is given (the router checks it too)."""

    class OneOf(RequestModel):
        model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [f]} for f in fields]})

    return OneOf


@dataclass(frozen=True)
class RevisionSchemas:
    history_request: type[BaseModel]
    history_response: type[BaseModel]
    revision_request: type[BaseModel]
    revision_response: type[BaseModel]
    diff_request: type[BaseModel]
    diff_response: type[BaseModel]
    rollback_request: type[BaseModel]
    rollback_response: type[BaseModel]
    label_request: type[BaseModel]
    label_response: type[BaseModel]
    resolve_request: type[BaseModel]
    resolve_response: type[BaseModel]


def build_revision_schemas(kind: ArtifactKind) -> RevisionSchemas:
    title, id_field = kind.title, kind.id_field
    the_id = {id_field: (uuid.UUID, ...)}
    version_type = Int(ge=1)
    at = {
        "label": (LabelName | None, Field(None, description="Default latest: the newest version.")),
        "version": (version_type | None, Field(None, description="A version; wins over label.")),
    }
    resolve_response = _model(
        f"Resolve{title}Response",
        **the_id,
        kind=(str, ...),
        version=(int, ...),
        label=(str | None, Field(None, description="The label resolved; null when a version was asked for.")),
        etag=(str, Field(..., description="The revision's content hash; the GET form sends it as ETag.")),
        config=(dict[str, Any], Field(..., description="The live values by field, ready to hand to a model.")),
    )
    return RevisionSchemas(
        history_request=_model(
            f"{title}HistoryRequest",
            RequestModel,
            **the_id,
            page_size=(Int(ge=1, le=200) | None, Field(None, description="1 to 200; default 25.")),
            page_offset=(Int(ge=0) | None, None),
        ),
        history_response=_model(
            f"{title}HistoryResponse",
            **the_id,
            version=(int, ...),
            labels=(dict[str, int], Field(..., description="Every label and its version.")),
            revisions=(list[HistoryEntry], ...),
            total_count=(int, ...),
        ),
        revision_request=_model(f"{title}RevisionRequest", RequestModel, **the_id, version=(version_type, ...)),
        revision_response=_model(
            f"{title}RevisionResponse",
            RevisionInfo,
            **the_id,
            labels=(list[str], ...),
            etag=(str, ...),
            config=(dict[str, Any], ...),
        ),
        diff_request=_model(
            f"{title}DiffRequest",
            RequestModel,
            **the_id,
            from_version=(version_type, ...),
            to_version=(version_type, ...),
        ),
        diff_response=_model(
            f"{title}DiffResponse",
            **the_id,
            from_version=(int, ...),
            to_version=(int, ...),
            changes=(list[Change], ...),
        ),
        rollback_request=_model(
            f"Rollback{title}Request",
            RequestModel,
            **the_id,
            to_version=(version_type, ...),
            expected_version=(
                version_type | None,
                Field(None, description=f"Fail unless the {kind.name} is at this version."),
            ),
            message=(Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)] | None, None),
        ),
        rollback_response=_model(
            f"Rollback{title}Response", success=(bool, ...), message=(str, ...), version=(int, ...), **the_id
        ),
        label_request=_model(
            f"Label{title}Request",
            RequestModel,
            **the_id,
            label=(LabelName, ...),
            version=(version_type | None, Field(..., description="The version to point at; null removes the label.")),
            expected_version=(
                version_type | None,
                Field(
                    None, description="Compare-and-set: the version the label points at now (null: it must not exist)."
                ),
            ),
        ),
        label_response=_model(
            f"Label{title}Response",
            **the_id,
            label=(str, ...),
            version=(int | None, ...),
            previous_version=(int | None, ...),
        ),
        resolve_request=_model(
            # Not nullable: a null would count as given in the schema's oneOf.
            f"Resolve{title}Request",
            _one_of(id_field, "name"),
            **{id_field: (uuid.UUID, None)},
            name=(
                Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)],
                Field(None, description="The exact current name."),
            ),
            **at,
        ),
        resolve_response=resolve_response,
    )
