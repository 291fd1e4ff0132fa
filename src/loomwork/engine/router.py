"""Builds the HTTP routes of an artifact kind from its declaration.

The router only translates HTTP: it authenticates (a dependency), opens the
request's transaction, calls the service and returns its answer. No `from
__future__ import annotations` here: FastAPI reads the generated models from the
handlers' annotations at definition time.
"""

import inspect
import json
import tempfile
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Header, Path, Query, Response, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from loomwork.bulk_items import run_items
from loomwork.engine import artifacts, bulk, docs, drafts, repository, resolve, revisions, search, sections, transfer
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.operations import operation
from loomwork.engine.schemas import (
    DocsRequest,
    ExportResponse,
    ImportResponse,
    KindSchemas,
    PageRequest,
    RefreshResponse,
    RevisionSchemas,
    build_draft_schemas,
    build_generate_request,
    build_revision_schemas,
    build_schemas,
    build_search_schemas,
)
from loomwork.errors import Invalid, QuotaExceeded
from loomwork.generation import service as generation
from loomwork.http import ERROR_RESPONSES, MAX_MESSAGE_CHARS, ErrorBody, Int, LabelName, RequestModel
from loomwork.identity import service as identity
from loomwork.identity.dependencies import Caller, caller_with

Handler = Callable[..., Any]
if TYPE_CHECKING:
    KindName = str  # build_resolve_many_router makes it the Literal of the kinds it is given
    Version = int
else:
    Version = Int(ge=1)


def with_models(handler: Handler, **annotations: object) -> Handler:
    """Give the handler's parameters their exact annotations, which FastAPI reads from its signature.

    A kind's request models and each operation's caller dependency are built at run time from the declaration,
    so no static annotation can name them: a handler is written with what they are (`body: BaseModel`,
    `who: Caller`), and its signature is given what they are exactly. `None` leaves a parameter as written."""
    signature = inspect.signature(handler)
    parameters = [
        param if annotations.get(param.name) is None else param.replace(annotation=annotations[param.name])
        for param in signature.parameters.values()
    ]
    vars(handler)["__signature__"] = signature.replace(parameters=parameters)
    return handler


def models(**annotations: object) -> Callable[[Handler], Handler]:
    return lambda handler: with_models(handler, **annotations)


def build_router(kind: ArtifactKind, hidden_flag_types: tuple[str, ...]) -> APIRouter:
    schemas: KindSchemas = build_schemas(kind)
    draft_schemas = build_draft_schemas(kind)
    search_schemas = build_search_schemas(kind)
    revision_schemas = build_revision_schemas(kind)
    base = f"/api/v5/artifacts/{kind.plural}"
    router = APIRouter(tags=[f"{kind.title}s"], responses=ERROR_RESPONSES)

    def caller(name: str) -> object:
        """The `who` parameter's annotation: the caller, authorised for the operation's role and action."""
        op = operation(name)
        dependency = caller_with(op.role, op.action_for(kind), agents=op.agents)
        return Annotated[Caller, Depends(dependency)]

    def route(
        name: str,
        response_model: type[BaseModel],
        path: str | None = None,
        method: str | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        *,
        body: type[BaseModel] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register a handler of operation `name`; its `body` is read as the kind's `body` model."""
        op = operation(name)
        register = router.api_route(
            path or f"{base}/{name}",
            methods=[method or op.method],
            response_model=response_model,
            operation_id=f"{name.replace('/', '_')}_{kind.name}" + ("_legacy" if path else ""),
            summary=op.summary.format(name=kind.name, plural=kind.plural),
            responses=responses,
        )
        return lambda handler: register(with_models(handler, body=body, who=caller(name)))

    @route("get", schemas.get_response, body=schemas.get_request)
    def get(body: BaseModel, who: Caller) -> Any:
        with who.db.transaction(write=False) as session:
            view = sections.form_view(session, kind, who.principal, body.model_dump(), hidden_flag_types)
            view.update(generation.ai_generate_flags(session, kind, who.principal))
            return view

    def answer(verb: str) -> Callable[[repository.ArtifactRow], dict[str, Any]]:
        return lambda row: {kind.id_field: row.id, "version": row.version, "message": f"{verb} {kind.name}."}

    def write_items(
        items: list[Any], who: Caller, run: Callable[[Any, list[dict[str, Any]]], list[Any]]
    ) -> dict[str, Any]:
        """Run a bulk create or update in one transaction; `run(session, items)` gives a result per item."""
        dumped = [item.model_dump(exclude_unset=True) for item in items]
        with who.db.transaction(write=True) as session:
            results = run(session, dumped)
        for result, item in zip(results, dumped):
            if item.get(kind.id_field):  # a failed update still names its target
                result.setdefault(kind.id_field, item[kind.id_field])
        return {"results": results}

    @route("create", schemas.results, body=schemas.create_request)
    def create(body: BaseModel, who: Caller) -> Any:
        def run(session: Any, items: list[dict[str, Any]]) -> list[Any]:  # batched: engine/bulk.py
            return bulk.create_items(session, kind, who.principal, items, answer("Created"))

        return write_items(getattr(body, kind.plural), who, run)

    @route("update", schemas.results, body=schemas.update_request)
    def update(body: BaseModel, who: Caller) -> Any:
        def run(session: Any, items: list[dict[str, Any]]) -> list[Any]:  # each item in its own savepoint
            updated = answer("Updated")
            return run_items(
                session, items, lambda item: updated(artifacts.update_item(session, kind, who.principal, item))
            )

        return write_items(getattr(body, kind.plural), who, run)

    @route("duplicate", schemas.duplicate_response, body=schemas.duplicate_request)
    def duplicate(body: BaseModel, who: Caller) -> Any:
        with who.db.transaction(write=True) as session:
            row = artifacts.duplicate(session, kind, who.principal, getattr(body, kind.id_field))
        return {
            "success": True,
            kind.id_field: row.id,
            "version": row.version,
            "message": f"Duplicated {kind.name} {getattr(body, kind.id_field)}.",
        }

    @route("delete", schemas.delete_response, body=schemas.delete_request)
    def delete(body: BaseModel, who: Caller) -> Any:
        ids = getattr(body, kind.ids_field)
        with who.db.transaction(write=True) as session:

            def delete_one(artifact_id: Any) -> dict[str, Any]:
                artifacts.delete_one(session, kind, who.principal, artifact_id)
                return {"message": f"Deleted {kind.name}."}

            results = run_items(session, ids, delete_one)
        for result, artifact_id in zip(results, ids):
            result[kind.id_field] = artifact_id
        return {"results": results}

    @route("draft", draft_schemas.response, body=draft_schemas.request)
    def patch_draft(body: BaseModel, who: Caller) -> Any:
        patch = drafts.DraftPatch.parse(kind, body.model_dump(exclude_unset=True))
        with who.db.transaction(write=True) as session:
            text = drafts.patch_draft(session, kind, who.principal, patch)
        # The stored text itself, so a replay is byte-identical to the first answer.
        return Response(text, media_type="application/json")

    if kind.legacy_draft_path:  # the seeds' older route, served by the same handler
        route("draft", draft_schemas.response, path=kind.legacy_draft_path, method="POST", body=draft_schemas.request)(
            patch_draft
        )

    generate_request = build_generate_request(kind)

    @router.post(
        f"{base}/generate",
        response_model=draft_schemas.response,
        operation_id=f"generate_{kind.name}",
        summary=operation("generate").summary.format(name=kind.name, plural=kind.plural),
        responses={
            429: {"model": ErrorBody, "description": generation.TooManyGenerations.meaning},
            502: {"model": ErrorBody, "description": generation.GeneratorFailed.meaning},
        },
    )
    @models(body=generate_request, who=caller("generate"))
    async def generate(body: BaseModel, who: Caller) -> Any:  # async: a slow model holds no request thread
        request = body.model_dump(exclude_unset=True)
        text = await generation.generate(who.db, who.settings, kind, who.principal, request)
        return Response(text, media_type="application/json")

    @route("draft/rebase", draft_schemas.rebase_response, body=draft_schemas.rebase_request)
    def rebase_draft(body: BaseModel, who: Caller) -> Any:
        request = body.model_dump()
        with who.db.transaction(write=True) as session:
            text = drafts.rebase(
                session,
                kind,
                who.principal,
                request["draft_id"],
                request["resolutions"] or {},
                request["idempotency_key"] or "",
            )
        return {**json.loads(text), "conflicts": []}

    @route("draft/discard", draft_schemas.discard_response, body=draft_schemas.discard_request)
    def discard_draft(body: BaseModel, who: Caller) -> Any:
        request = body.model_dump()
        with who.db.transaction(write=True) as session:
            return drafts.discard(session, kind, who.principal, request["draft_id"])

    @route("drafts", draft_schemas.list_response)
    def list_drafts(who: Caller, body: PageRequest | None = None) -> Any:
        page = body or PageRequest()
        with who.db.transaction(write=False) as session:
            return {
                "entries": drafts.list_drafts(session, kind, who.principal, page.page_size or 50, page.page_offset or 0)
            }

    @route("search", search_schemas.search_response, body=search_schemas.search_request)
    def search_artifacts(body: BaseModel, who: Caller) -> Any:
        request = body.model_dump()
        page_size, page_offset = request["page_size"] or 25, request["page_offset"] or 0
        with who.db.transaction(write=False) as session:
            response = search.search(session, kind, who.principal, request, page_size, page_offset)
        response["import_fields"] = transfer.import_fields(kind)
        return response

    @route("docs", search_schemas.docs_response)
    def kind_docs(who: Caller, body: DocsRequest | None = None) -> Any:
        with who.db.transaction(write=False) as session:
            return docs.kind_docs(session, kind, who.principal, body.entity_id if body else None)

    @route(
        "export",
        ExportResponse,
        responses={QuotaExceeded.status: {"model": ErrorBody, "description": QuotaExceeded.meaning}},
        body=search_schemas.export_request,
    )
    def export(body: BaseModel, who: Caller) -> Any:
        # Read in one snapshot outside the write lock, into a file on disk; only the upload row is written
        # under the lock (one export of 100,000 used to hold it for seconds and stop every group's writers).
        with tempfile.TemporaryFile() as out:
            with who.db.transaction(write=False, snapshot=True) as session:
                count = transfer.export_csv(session, kind, who.principal, body.model_dump(), out)
            with who.db.transaction(write=True) as session:
                return transfer.store_export(session, kind, who.principal, out, count)

    @route("import", ImportResponse)
    def import_csv(
        file: Annotated[UploadFile, File(description="CSV with the import_fields columns.")], who: Caller
    ) -> Any:
        rows = transfer.read_csv(kind, file.file.read())
        # A batch of rows per transaction, so the other groups' writers get their turns (SQLite has one).
        return transfer.import_in_batches(who.db, kind, who.principal, rows)

    @route("refresh", RefreshResponse)
    def refresh(who: Caller) -> Any:
        with who.db.transaction(write=True) as session:
            views = search.rebuild(session, kind, who.principal.group_id)
        # No caches are kept yet: every read goes to the database, so there is no tag to drop.
        return {"success": True, "refreshed_views": views, "invalidated_tags": []}

    add_revision_routes(router, kind, route, caller, revision_schemas)
    return router


def add_revision_routes(
    router: APIRouter,
    kind: ArtifactKind,
    route: Callable[..., Callable[[Handler], Handler]],
    caller: Callable[[str], object],
    schemas: RevisionSchemas,
) -> None:
    """History, revision, diff, rollback, label and resolve (API.md section 9)."""
    id_field = kind.id_field

    @route("history", schemas.history_response, body=schemas.history_request)
    def history(body: BaseModel, who: Caller) -> Any:
        request = body.model_dump()
        page_size, page_offset = request["page_size"] or 25, request["page_offset"] or 0
        with who.db.transaction(write=False) as session:
            return revisions.history(session, kind, who.principal, request[id_field], page_size, page_offset)

    @route("revision", schemas.revision_response, body=schemas.revision_request)
    def revision(body: BaseModel, who: Caller) -> Any:
        request = body.model_dump()
        with who.db.transaction(write=False) as session:
            row = repository.get_artifact(session, kind, who.principal.group_id, request[id_field])
            found = revisions.load_revision(session, kind, row.id, request["version"])
            labels = [
                name for name, version in revisions.labels_of(session, row.id).items() if version == found.version
            ]
            config = resolve.config_of(session, kind, who.principal.group_id, revisions.decode_state(found.state))
            return {
                id_field: row.id,
                **revisions.metadata(found, identity.people(session, who.principal.group_id, [found.approved_by])),
                "labels": labels,
                "etag": found.content_hash,
                "config": config,
            }

    @route("diff", schemas.diff_response, body=schemas.diff_request)
    def diff(body: BaseModel, who: Caller) -> Any:
        request = body.model_dump()
        with who.db.transaction(write=False) as session:
            return revisions.diff(
                session, kind, who.principal, request[id_field], request["from_version"], request["to_version"]
            )

    @route("rollback", schemas.rollback_response, body=schemas.rollback_request)
    def rollback(body: BaseModel, who: Caller) -> Any:
        request = body.model_dump()
        with who.db.transaction(write=True) as session:
            row = artifacts.rollback(
                session,
                kind,
                who.principal,
                request[id_field],
                request["to_version"],
                request["expected_version"],
                request["message"],
            )
        return {
            "success": True,
            id_field: row.id,
            "version": row.version,
            "message": f"Rolled back {kind.name} to version {request['to_version']} as version {row.version}.",
        }

    @route("label", schemas.label_response, body=schemas.label_request)
    def label(body: BaseModel, who: Caller) -> Any:
        given = body.model_dump(exclude_unset=True)
        with who.db.transaction(write=True) as session:
            return revisions.move_label(
                session,
                kind,
                who.principal,
                given[id_field],
                given["label"],
                given["version"],
                expected=given.get("expected_version"),
                check_expected="expected_version" in given,
            )

    @route("resolve", schemas.resolve_response, body=schemas.resolve_request)
    def resolve_post(body: BaseModel, who: Caller) -> Any:
        request = body.model_dump()
        target = request[id_field] or request["name"]
        if (request[id_field] is None) == (request["name"] is None):
            raise Invalid(
                f"{id_field}: give the {kind.name}'s id or its exact name (one of {id_field} and name).", field=id_field
            )
        with who.db.transaction(write=False) as session:
            return resolve.resolve(session, kind, who.principal, target, request["label"], request["version"])

    op = operation("resolve")

    @router.get(
        f"/api/v5/resolve/{kind.plural}/{{id_or_name}}",
        operation_id=f"resolve_{kind.name}_get",
        summary=op.summary.format(name=kind.name, plural=kind.plural) + " Sends an ETag; If-None-Match: 304.",
        response_model=schemas.resolve_response,
        responses={304: {"description": "Not modified: the If-None-Match ETag is still current."}},
    )
    @models(who=caller("resolve"))
    def resolve_get(
        who: Caller,
        id_or_name: Annotated[str, Path(max_length=MAX_MESSAGE_CHARS, description="The id or the exact current name.")],
        label: Annotated[LabelName | None, Query(description="Default latest.")] = None,
        version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=1024)] = None,
    ) -> Any:
        with who.db.transaction(write=False) as session:
            answer = resolve.resolve(session, kind, who.principal, id_or_name, label, version)
        etag = f'"{answer["etag"]}"'
        if if_none_match and _etag_matches(if_none_match, answer["etag"]):
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(jsonable_encoder(answer), headers={"ETag": etag, "Cache-Control": "no-cache"})


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match: `*` or any listed tag, weak or strong (RFC 9110 uses the weak comparison here)."""
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return "*" in tags or etag in tags


MAX_RESOLVE_ITEMS = 100


def build_resolve_many_router(kinds: Sequence[ArtifactKind]) -> APIRouter:
    """`POST /api/v5/resolve` (API.md section 14): many artifacts of any kinds in one read, each answered on its
    own, with one ETag for the whole answer."""
    by_name = {kind.name: kind for kind in kinds}
    if not TYPE_CHECKING:  # the kinds are given at run time: a type checker cannot read their Literal
        KindName = Literal[tuple(by_name)]  # noqa: N806 - a type, named as one

    class ResolveManyItem(RequestModel):
        kind: KindName = Field(description="The artifact kind: " + ", ".join(by_name) + ".")
        id: uuid.UUID | None = Field(None, description="The artifact's id (or give its name).")
        name: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)] | None = Field(
            None, description="The exact current name."
        )
        label: LabelName | None = Field(None, description="Default latest: the newest version.")
        version: Version | None = Field(None, description="A version; wins over label.")

    class ResolveManyRequest(RequestModel):
        items: list[ResolveManyItem] = Field(min_length=1, max_length=MAX_RESOLVE_ITEMS)

    class ResolveManyResult(BaseModel):
        index: int
        success: bool
        kind: str | None = Field(None, description="On success: the kind resolved.")
        id: uuid.UUID | None = Field(None, description="On success: the artifact's id.")
        version: int | None = None
        label: str | None = Field(None, description="The label resolved; null when a version was asked for.")
        etag: str | None = Field(None, description="On success: the revision's content hash.")
        config: dict[str, Any] | None = Field(None, description="On success: the live values by field.")
        status: int | None = Field(None, description="On failure: the HTTP status this item alone would answer.")
        code: str | None = Field(None, description="On failure: the error's code (not_found, ambiguous_name, ...).")
        detail: str | None = Field(None, description="On failure: what was wrong, as a sentence.")

    class ResolveManyResponse(BaseModel):
        results: list[ResolveManyResult]
        etag: str = Field(description="A hash of every item's ETag or error; also sent as the ETag header.")

    router = APIRouter(tags=["resolve"], responses=ERROR_RESPONSES)
    op = operation("resolve")

    @router.post(
        "/api/v5/resolve",
        operation_id="resolve_many",
        summary="Resolve up to 100 artifacts of any kinds in one read; If-None-Match with the answer's ETag: 304.",
        response_model=ResolveManyResponse,
        responses={304: {"description": "Not modified: no item's answer changed since that ETag."}},
    )
    def resolve_many(
        body: ResolveManyRequest,
        who: Annotated[Caller, Depends(caller_with(op.role, "resolve artifacts", agents=op.agents))],
        if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=1024)] = None,
    ) -> Any:
        items = [resolve.ResolveItem(item.kind, item.id or item.name, item.label, item.version) for item in body.items]
        with who.db.transaction(write=False) as session:
            answer = resolve.resolve_many(session, by_name, who.principal, items)
        etag = f'"{answer["etag"]}"'
        if if_none_match and _etag_matches(if_none_match, answer["etag"]):
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(jsonable_encoder(answer), headers={"ETag": etag, "Cache-Control": "no-cache"})

    return router
