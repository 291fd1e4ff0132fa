"""The resource routes, derived from the resource kinds' declarations like the artifact routes are
from the artifact kinds': `/api/v5/resources/{plural}/{search,create,get,delete}` for every kind.

No `from __future__ import annotations`: FastAPI reads the generated models at definition time.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, create_model

from loomwork.catalog import service as catalog
from loomwork.http import ERROR_RESPONSES, MAX_BULK_ITEMS, Int, RequestModel, SearchText
from loomwork.identity.dependencies import Caller, caller_with
from loomwork.principal import Role
from loomwork.resources.kinds import RESOURCE_KINDS, ResourceKind

if TYPE_CHECKING:
    PageSize = int
    PageOffset = int
else:
    # Int builds its bounded Annotated type at run time, which a type checker cannot read: to it they are ints.
    PageSize = Int(ge=1, le=200)
    PageOffset = Int(ge=0)


class UsageCount(BaseModel):
    active: int = Field(description="Artifacts that use it live.")
    pending: int = Field(description="Artifacts that hold it pending (not live).")


class ResourceUser(BaseModel):
    type: str = Field(description="artifact, draft (an open draft's form) or resource (one that points at it).")
    id: uuid.UUID
    kind: str
    name: str | None
    slot: str
    active: bool


class ResourceItem(BaseModel):
    id: uuid.UUID
    kind: str
    value: Any = Field(description="The normalised value; a key's secret shows only its last four characters.")
    label: str
    created_at: datetime


class SearchedResource(ResourceItem):
    used_by: dict[str, UsageCount] = Field(description="Per artifact kind (persona, tool, ...): how many use it.")


class ResourceWithUsers(ResourceItem):
    users: list[ResourceUser]


class ResourceSearchRequest(RequestModel):
    search: SearchText | None = Field(
        None, description="Every word must occur in the value (case-insensitive); at most 16 words."
    )
    page_size: PageSize | None = Field(None, description="1 to 200; default 25.")
    page_offset: PageOffset | None = None


class ResourceGetRequest(RequestModel):
    id: uuid.UUID


class ResourceDeleteRequest(RequestModel):
    ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_BULK_ITEMS)]


class CreatedResource(BaseModel):
    index: int
    success: bool
    message: str
    code: str | None = None
    field: str | None = None
    id: uuid.UUID | None = None
    kind: str | None = None
    value: Any = None
    label: str | None = None
    created_at: datetime | None = None
    created: bool | None = Field(None, description="False when the value already existed (dedupe).")


class DeletedResource(BaseModel):
    index: int
    id: uuid.UUID
    success: bool
    message: str
    code: str | None = Field(None, description="not_found, or in_use with the users that still hold it.")
    field: str | None = None
    users: list[ResourceUser] | None = None


class CreateResults(BaseModel):
    results: list[CreatedResource]


class DeleteResults(BaseModel):
    results: list[DeletedResource]


def _title(kind: ResourceKind) -> str:
    return "".join(part.capitalize() for part in kind.plural.split("_"))


def build_resource_router(kind: ResourceKind) -> APIRouter:
    base, title = f"/api/v5/resources/{kind.plural}", _title(kind)
    router = APIRouter(tags=["Resources"], responses=ERROR_RESPONSES)
    # The field is named after the kind (`colors`, `names`, ...), so the models are built, not declared.
    search_fields: dict[str, Any] = {kind.plural: (list[SearchedResource], ...), "total_count": (int, ...)}
    search_response = create_model(f"Search{title}Response", **search_fields)
    item_type: Any = kind.python_type
    create_fields: dict[str, Any] = {
        kind.plural: (
            Annotated[list[item_type], Field(min_length=1, max_length=MAX_BULK_ITEMS)],
            Field(..., description=f"Values to create-or-find. {kind.description}"),
        )
    }
    create_request = create_model(f"Create{title}Request", __base__=RequestModel, **create_fields)
    viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, f"read {kind.plural}"))]
    editor = Annotated[Caller, Depends(caller_with(Role.EDITOR, f"change {kind.plural}", agents=False))]

    def route(name: str, response_model: Any, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return router.post(
            f"{base}/{name}",
            response_model=response_model,
            operation_id=f"{name}_{kind.name}_resources",
            summary=summary,
        )

    @route("search", search_response, f"Search {kind.plural}: text, paging, and how many artifacts use each.")
    def search(who: viewer, body: ResourceSearchRequest | None = None) -> Any:
        body = body or ResourceSearchRequest()
        with who.db.transaction(write=False) as session:
            return catalog.search(
                session, kind, who.principal, body.search, body.page_size or 25, body.page_offset or 0
            )

    @route("create", CreateResults, f"Create {kind.plural} in bulk; each value is validated, normalised and deduped.")
    def create(body: create_request, who: editor) -> Any:
        with who.db.transaction(write=True) as session:
            return catalog.create(session, kind, who.principal, getattr(body, kind.plural))

    @route("get", ResourceWithUsers, f"One {kind.name} and every artifact, draft and resource that uses it.")
    def get(body: ResourceGetRequest, who: viewer) -> Any:
        with who.db.transaction(write=False) as session:
            return catalog.get(session, kind, who.principal, body.id)

    @route("delete", DeleteResults, f"Delete {kind.plural} in bulk; one still in use fails with in_use.")
    def delete(body: ResourceDeleteRequest, who: editor) -> Any:
        with who.db.transaction(write=True) as session:
            return catalog.delete_many(session, kind, who.principal, body.ids)

    return router


def build_resource_routers() -> list[APIRouter]:
    return [build_resource_router(kind) for kind in RESOURCE_KINDS.values()]
