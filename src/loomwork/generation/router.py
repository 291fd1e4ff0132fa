"""`POST /api/v5/settings/{get,update}`: which invocation generates with AI (API.md section 11).

The per-kind `generate` operation is derived with the other operations in engine/router.py.
No `from __future__ import annotations`: FastAPI reads the models at definition time.
"""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from loomwork.generation import service, trying
from loomwork.http import ERROR_RESPONSES, MAX_MESSAGE_CHARS, ErrorBody, Int, LabelName, RequestModel
from loomwork.identity.dependencies import Caller, caller_with
from loomwork.principal import Role


class AiGeneratorSetting(RequestModel):
    invocation_id: uuid.UUID = Field(
        description="The invocation that generates: its endpoint, key, model "
        "(the model flagged invocation_role primary), temperature and "
        "reasoning level."
    )
    label: LabelName | None = Field(
        None,
        description="Run the version this label of the invocation (production) names now, instead of its newest "
        "version. Either way the version is pinned here: moving the label or updating the invocation later "
        "changes nothing until an admin sets the generator again.",
    )


class SettingsUpdateRequest(RequestModel):
    ai_generator: AiGeneratorSetting | None = Field(description="The generator; null switches generation off.")


class AiGeneratorView(BaseModel):
    invocation_id: uuid.UUID
    label: str | None
    invocation_name: str | None
    invocation_version: int = Field(description="The version generation runs, pinned when an admin set it.")
    endpoint: str
    model: str
    generator_profile_id: uuid.UUID | None = Field(description="The agent profile generated proposals come from.")


class SettingsResponse(BaseModel):
    ai_generator: AiGeneratorView | None


def build_settings_router() -> APIRouter:
    router = APIRouter(tags=["Settings"], responses=ERROR_RESPONSES)
    viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, "read the group's settings"))]
    admin = Annotated[Caller, Depends(caller_with(Role.ADMIN, "change the group's settings", agents=False))]

    @router.post(
        "/api/v5/settings/get",
        response_model=SettingsResponse,
        operation_id="get_settings",
        summary="The group's settings: which invocation generates with AI.",
    )
    def get_settings(who: viewer) -> Any:
        with who.db.transaction(write=False) as session:
            return service.settings_view(session, who.principal.group_id)

    @router.post(
        "/api/v5/settings/update",
        response_model=SettingsResponse,
        operation_id="update_settings",
        summary="Name the invocation that generates with AI (null switches it off).",
    )
    def update_settings(body: SettingsUpdateRequest, who: admin) -> Any:
        setting = body.ai_generator.model_dump() if body.ai_generator else None
        with who.db.transaction(write=True) as session:
            return service.update_settings(session, who.principal, setting, who.settings.allow_private_urls)

    return router


# --- personas/try and personas/runs (API.md section 15) -------------------------------------------------------

if TYPE_CHECKING:  # Int() builds an annotated type at run time, which a type checker cannot read
    Version = int
    PageSize = int
    PageOffset = int
else:
    Version = Int(ge=1)
    PageSize = Int(ge=1, le=200)
    PageOffset = Int(ge=0)


class TryMessage(RequestModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class TryRequest(RequestModel):
    persona_id: uuid.UUID | None = Field(None, description="The persona to run (or draft_id).")
    draft_id: uuid.UUID | None = Field(None, description="Run your own persona draft's form as it is now.")
    version: Version | None = Field(None, description="The persona's version; default its newest.")
    label: LabelName | None = Field(None, description="The version this label names now (or version).")
    invocation_id: uuid.UUID = Field(description="The invocation whose endpoint, key, model and parameters run it.")
    variables: (
        dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]] | None
    ) = Field(None, description="A value for each {{variable}} of the instructions.", max_length=200)
    messages: list[TryMessage] = Field(max_length=200, description="The chat after the system message.")
    tool_ids: list[uuid.UUID] | None = Field(None, max_length=64, description="Tools sent as functions.")
    stream: bool = Field(False, description="Answer text/event-stream: delta events, then a run event.")


class TryPersona(BaseModel):
    id: uuid.UUID | None
    version: int | None
    label: str | None


class TryInvocation(BaseModel):
    id: uuid.UUID | None
    version: int


class TryToolCall(BaseModel):
    name: str
    arguments: Any


class TryReply(BaseModel):
    content: str
    tool_calls: list[TryToolCall]


class TryUsage(BaseModel):
    prompt_tokens: int | None
    completion_tokens: int | None


class TryResponse(BaseModel):
    run_id: uuid.UUID
    persona: TryPersona
    draft_id: uuid.UUID | None
    invocation: TryInvocation
    system: str
    reply: TryReply
    usage: TryUsage
    latency_ms: int


class RunsRequest(RequestModel):
    persona_id: uuid.UUID
    page_size: PageSize | None = None
    page_offset: PageOffset | None = None


class TryInput(BaseModel):
    variables: dict[str, str]
    messages: list[dict[str, Any]]
    tool_ids: list[uuid.UUID]


class RunView(TryResponse):
    input: TryInput
    created_at: datetime
    profile_id: uuid.UUID | None = Field(description="Who ran it.")


class RunsResponse(BaseModel):
    total_count: int
    runs: list[RunView]


def build_try_router() -> APIRouter:
    router = APIRouter(tags=["Personas"], responses=ERROR_RESPONSES)
    editor = Annotated[Caller, Depends(caller_with(Role.EDITOR, "try personas", agents=False))]
    viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, "read persona runs"))]

    @router.post(
        "/api/v5/artifacts/personas/try",
        response_model=TryResponse,
        operation_id="try_persona",
        summary="Run a persona version through an invocation (people only); the run is stored and audited.",
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "With stream: delta events, then run."},
            429: {"model": ErrorBody, "description": service.TooManyGenerations.meaning},
            502: {"model": ErrorBody, "description": trying.InvocationFailed.meaning},
        },
    )
    async def try_persona(body: TryRequest, who: editor) -> Any:  # async: a slow model holds no request thread
        request = body.model_dump(exclude_unset=True)
        request["messages"] = [m.model_dump() for m in body.messages]
        answer = await trying.try_persona(who.db, who.settings, who.principal, request)
        if body.stream:
            return StreamingResponse(answer, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return answer

    @router.post(
        "/api/v5/artifacts/personas/runs",
        response_model=RunsResponse,
        operation_id="runs_persona",
        summary="A persona's recent try runs, newest first, with their input and reply.",
    )
    def persona_runs(body: RunsRequest, who: viewer) -> Any:
        with who.db.transaction(write=False) as session:
            return trying.list_runs(
                session, who.principal, body.persona_id, body.page_size or 25, body.page_offset or 0
            )

    return router
