"""`POST /api/v5/settings/{get,update}`: which invocation generates with AI (API.md section 11).

The per-kind `generate` operation is derived with the other operations in engine/router.py.
No `from __future__ import annotations`: FastAPI reads the models at definition time.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from loomwork.generation import service
from loomwork.http import ERROR_RESPONSES, LabelName, RequestModel
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
