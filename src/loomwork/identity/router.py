"""`/api/v5/profiles/{search,create}` and `/api/v5/keys/{search,create,revoke}` (API.md section 7).

Agents are refused all of it but the profile list: keys and profiles are managed by people.
No `from __future__ import annotations`: FastAPI reads the models at definition time.
"""

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from loomwork.http import ERROR_RESPONSES, MAX_BULK_ITEMS, Int, RequestModel
from loomwork.identity import management
from loomwork.identity.dependencies import Caller, caller_with
from loomwork.principal import Role

Name = Annotated[str, Field(min_length=1, max_length=200)]


def _iso_8601_utc(value: Any) -> Any:
    """ISO 8601 text only (a bare number would be read as a Unix time), in UTC; no zone means UTC."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        if parsed is not None:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise PydanticCustomError("iso_datetime", "must be an ISO 8601 date-time, such as 2027-01-31T12:00:00Z")


UtcDateTime = Annotated[datetime, BeforeValidator(_iso_8601_utc)]
ProfileType = Literal["person", "agent"]
if TYPE_CHECKING:
    PageSize = int
    PageOffset = int
else:
    # Int builds its bounded Annotated type at run time, which a type checker cannot read: to it they are ints.
    PageSize = Int(ge=1, le=200)
    PageOffset = Int(ge=0)


class ProfileSearchRequest(RequestModel):
    type: ProfileType | None = Field(None, description="Only people or only agents.")
    search: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="Every word must occur in the name (case-insensitive)."
    )
    page_size: PageSize | None = Field(None, description="1 to 200; default 50.")
    page_offset: PageOffset | None = None


class ProfileCreateRequest(RequestModel):
    name: Name = Field(description="Unique in the group.")
    type: ProfileType = Field(description="person, or agent (an AI agent: it proposes, people decide).")
    role: Literal[Role.VIEWER, Role.EDITOR, Role.ADMIN] = Field(
        description="An agent is a viewer or an editor, never an admin."
    )
    sponsor_profile_id: uuid.UUID | None = Field(
        None, description="An agent's sponsor: the person of the group who answers for it. Agents only."
    )


class ProfileItem(BaseModel):
    profile_id: uuid.UUID
    name: str
    type: str = Field(description="person or agent.")
    role: str
    sponsor_profile_id: uuid.UUID | None = Field(description="An agent's sponsor; None for a person.")
    sponsor_name: str | None
    created_at: datetime


class ProfileSearchResponse(BaseModel):
    profiles: list[ProfileItem]
    total_count: int


class KeySearchRequest(RequestModel):
    profile_id: uuid.UUID | None = Field(None, description="Only this profile's keys (one you may manage).")
    include_revoked: bool = Field(False, description="List revoked keys too.")


class KeyCreateRequest(RequestModel):
    profile_id: uuid.UUID = Field(description="Yours, an agent's you sponsor, or (admins) any of the group.")
    name: Name = Field(description="What the key is for, so it can be recognised later.")
    expires_at: UtcDateTime | None = Field(
        None,
        description="ISO 8601; the key stops working then (401 key_expired). Must be in the future; no zone means UTC.",
    )


class KeyRevokeRequest(RequestModel):
    key_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_BULK_ITEMS)]


class KeyItem(BaseModel):
    key_id: uuid.UUID
    profile_id: uuid.UUID
    profile_name: str
    profile_type: str
    name: str
    prefix: str = Field(description="The key's first 12 characters, to recognise it; never the secret.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="To the minute.")
    revoked_at: datetime | None


class CreatedKey(KeyItem):
    key: str = Field(description="The secret: shown this once, never again.")


class KeySearchResponse(BaseModel):
    keys: list[KeyItem]


class RevokedKey(BaseModel):
    index: int
    key_id: uuid.UUID
    success: bool
    message: str
    code: str | None = Field(None, description="not_found: no key of yours (or that you manage) has this id.")
    field: str | None = None
    revoked_at: datetime | None = None


class KeyRevokeResponse(BaseModel):
    results: list[RevokedKey]


def build_identity_router() -> APIRouter:
    router = APIRouter(tags=["Profiles and keys"], responses=ERROR_RESPONSES)
    viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, "list profiles"))]
    admin = Annotated[Caller, Depends(caller_with(Role.ADMIN, "create profiles", agents=False))]
    keys = Annotated[Caller, Depends(caller_with(Role.VIEWER, "manage keys", agents=False))]

    @router.post(
        "/api/v5/profiles/search",
        response_model=ProfileSearchResponse,
        operation_id="search_profiles",
        summary="The group's people and agents, by name; an agent names its sponsor.",
    )
    def search_profiles(who: viewer, body: ProfileSearchRequest | None = None) -> Any:
        body = body or ProfileSearchRequest()
        with who.db.transaction(write=False) as session:
            return management.search_profiles(
                session, who.principal, body.type, body.search, body.page_size or 50, body.page_offset or 0
            )

    @router.post(
        "/api/v5/profiles/create",
        response_model=ProfileItem,
        operation_id="create_profile",
        summary="Add a person or an agent (with its sponsor) to the group. Admins only.",
    )
    def create_profile(body: ProfileCreateRequest, who: admin) -> Any:
        with who.db.transaction(write=True) as session:
            return management.create_profile(
                session, who.principal, body.name, body.type, body.role, body.sponsor_profile_id
            )

    @router.post(
        "/api/v5/keys/search",
        response_model=KeySearchResponse,
        operation_id="search_keys",
        summary="The keys you may manage, newest first: never a secret, only its prefix.",
    )
    def search_keys(who: keys, body: KeySearchRequest | None = None) -> Any:
        body = body or KeySearchRequest()
        with who.db.transaction(write=False) as session:
            return management.search_keys(session, who.principal, body.profile_id, body.include_revoked)

    @router.post(
        "/api/v5/keys/create",
        response_model=CreatedKey,
        operation_id="create_key",
        summary="Make a key for a profile you manage; the secret is in this answer only.",
    )
    def create_key(body: KeyCreateRequest, who: keys) -> Any:
        with who.db.transaction(write=True) as session:
            return management.create_key(
                session, who.settings.keyring, who.principal, body.profile_id, body.name, body.expires_at
            )

    @router.post(
        "/api/v5/keys/revoke",
        response_model=KeyRevokeResponse,
        operation_id="revoke_keys",
        summary="Revoke keys (401 key_revoked from then on) and end their page sessions; a result per key.",
    )
    def revoke_keys(body: KeyRevokeRequest, who: keys) -> Any:
        with who.db.transaction(write=True) as session:
            return management.revoke_keys(session, who.principal, body.key_ids)

    return router
