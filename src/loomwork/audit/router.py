"""`POST /api/v5/audit/search`: the group's audit trail, for admins.

No `from __future__ import annotations`: FastAPI reads the models at definition time.
"""

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from loomwork.audit import service
from loomwork.http import ERROR_RESPONSES, Int, RequestModel
from loomwork.identity.dependencies import Caller, caller_with
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.principal import Role

MAX_PAGE = 500
if TYPE_CHECKING:
    ArtifactKindName = str
    PageSize = int
    Offset = int
else:
    # The artifact kinds are declarations, so their names make a Literal only at run time; and Int builds its
    # bounded Annotated type at run time too. A type checker cannot read either: to it they are str and int.
    ArtifactKindName = Literal[tuple(kind.name for kind in ARTIFACT_KINDS)]
    PageSize = Int(ge=1, le=MAX_PAGE)
    Offset = Int(ge=0)
ACTIONS = (
    "create, update, duplicate, delete, import_create, import_update (artifacts); propose, accept, reject "
    "(draft proposals); resource_create, resource_delete (resources)"
)


class AuditSearchRequest(RequestModel):
    artifact_id: uuid.UUID | None = Field(None, description="Only events of this artifact.")
    artifact_kind: ArtifactKindName | None = Field(None, description="Only events of this artifact kind.")
    profile_id: uuid.UUID | None = Field(None, description="Only events of this profile.")
    since: datetime | None = Field(None, description="ISO 8601; events at or after it. No zone means UTC.")
    until: datetime | None = Field(None, description="ISO 8601; events before it. No zone means UTC.")
    limit: PageSize = Field(50, description=f"1 to {MAX_PAGE}; default 50.")
    offset: Offset = Field(0, description="How many newer events to skip.")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso_8601(cls, value: Any) -> Any:
        """Only ISO 8601 text (a bare number would silently be read as a Unix time), in UTC."""
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise PydanticCustomError("iso_datetime", "must be an ISO 8601 date-time, such as 2026-11-29T13:00:00Z")
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError("iso_datetime", "is out of range once converted to UTC") from None


class AuditEventItem(BaseModel):
    id: int = Field(description="Increases with every event written.")
    at: datetime = Field(description="When the change was made (UTC).")
    action: str = Field(description=ACTIONS)
    kind: str = Field(description="The artifact kind, or for resource events the resource kind.")
    artifact_id: uuid.UUID | None = Field(description="None for resource events and proposals on a new artifact.")
    draft_id: uuid.UUID | None = Field(description="The draft committed, proposed to or decided on.")
    profile_id: uuid.UUID | None
    profile_name: str = Field(description="The profile's name when it acted.")
    via_agent: bool = Field(description="Whether an AI agent acted: an agent profile's key, or X-MCP on a person's.")
    key_id: uuid.UUID | None = Field(description="The API key the change was made with (None from the command line).")
    changes: dict[str, Any] = Field(
        description="create/duplicate/import_create: `values` set; update/import_update: "
        "`fields` with `before` and `after`; delete: `values` removed; propose: "
        "`proposal` and its `patch`; accept/reject: `proposal` and `accepted`; "
        "resource events: the resource's `id` and `label`."
    )


class AuditSearchResponse(BaseModel):
    events: list[AuditEventItem]
    total_count: int = Field(description="Every event the filters match.")


def build_audit_router() -> APIRouter:
    router = APIRouter(tags=["Audit"], responses=ERROR_RESPONSES)
    admin = Annotated[Caller, Depends(caller_with(Role.ADMIN, "read the audit trail", agents=False))]

    @router.post(
        "/api/v5/audit/search",
        response_model=AuditSearchResponse,
        operation_id="search_audit",
        summary="Who changed, proposed or decided what, when, and whether through an agent; newest first.",
    )
    def search(who: admin, body: AuditSearchRequest | None = None) -> Any:
        body = body or AuditSearchRequest()
        with who.db.transaction(write=False) as session:
            return service.search(session, who.principal, body.model_dump(), body.limit, body.offset)

    return router
