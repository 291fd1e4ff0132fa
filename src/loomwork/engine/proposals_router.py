"""`POST /api/v5/proposals/{search,decide}`: the review queue (API.md section 8).

No `from __future__ import annotations`: FastAPI reads the models at definition time.
"""

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field, StrictBool

from loomwork.bulk_items import run_items
from loomwork.engine import proposals
from loomwork.engine.declaration import ArtifactKind
from loomwork.http import ERROR_RESPONSES, Int, RequestModel
from loomwork.identity.dependencies import Caller, caller_with
from loomwork.principal import Role

MAX_REASON_CHARS = 2000
MAX_DECISIONS = 100
MAX_PAGE = 200
if TYPE_CHECKING:
    KindName = str  # build_proposals_router makes it the Literal of the kinds it is given
    ProposalStatus = str
    PageSize = int
    Offset = int
    Version = int
else:
    # Int builds its bounded Annotated type at run time, and the statuses are a tuple of the service's: a type
    # checker can read neither, so to it they are int and str.
    ProposalStatus = Literal[proposals.STATUSES]
    PageSize = Int(ge=1, le=MAX_PAGE)
    Offset = Int(ge=0)
    Version = Int(ge=1)


class Person(BaseModel):
    profile_id: uuid.UUID | None
    name: str | None
    type: str | None = Field(None, description="person or agent.")


class Change(BaseModel):
    field: str = Field(description="The form field, as the draft's form state names it (name, departments, key, ...).")
    now: Any = Field(description="The live artifact's value (null or [] for a new artifact): readable, never an id.")
    proposed: Any = Field(description="The value after the change: names, labels, a key masked, an icon sanitized.")


class ProposalView(BaseModel):
    proposal_id: uuid.UUID
    draft_id: uuid.UUID
    kind: str
    artifact_id: uuid.UUID | None = Field(description="The artifact the draft edits (or, once committed, created).")
    artifact_name: str | None
    proposer: Person
    via_agent: bool
    created_at: datetime
    status: str = Field(description="waiting, accepted, rejected, or stale (its draft was committed meanwhile).")
    base_version: int | None = Field(description="The artifact version the draft started from (null: new).")
    idempotency_key: str = Field(description="The entry's key in its draft (what an ack names).")
    decided_by: Person | None
    decided_at: datetime | None
    reason: str | None = Field(description="The reviewer's reason, when one was given.")
    changes: list[Change]


class Committed(BaseModel):
    artifact_id: uuid.UUID
    kind: str
    version: int


def build_proposals_router(kinds: Sequence[ArtifactKind]) -> APIRouter:
    by_name = {kind.name: kind for kind in kinds}
    if not TYPE_CHECKING:  # the kinds are given at run time: their names make a Literal a type checker cannot read
        KindName = Literal[tuple(by_name)]  # noqa: N806 - a type, named as one

    class ProposalSearchRequest(RequestModel):
        status: ProposalStatus | None = Field(None, description="waiting, accepted, rejected or stale; omitted: all.")
        kind: KindName | None = Field(None, description="Only proposals for this artifact kind.")
        artifact_id: uuid.UUID | None = Field(None, description="Only proposals for this artifact.")
        proposer_profile_id: uuid.UUID | None = Field(None, description="Only this profile's proposals.")
        mine: StrictBool | None = Field(None, description="Only the caller's own proposals (what an agent reads).")
        page_size: PageSize | None = Field(None, description=f"1 to {MAX_PAGE}; default 25.")
        page_offset: Offset | None = None

    class ProposalSearchResponse(BaseModel):
        proposals: list[ProposalView]
        total_count: int

    class ProposalDecideRequest(RequestModel):
        proposal_id: uuid.UUID
        decision: Literal["accept", "reject"]
        reason: Annotated[str, Field(max_length=MAX_REASON_CHARS)] | None = Field(
            None, description="Why; kept with the decision and shown to the proposer."
        )
        commit: StrictBool | None = Field(
            None,
            description="After accepting, commit the draft (create or update). Default: true for an agent's draft.",
        )
        expected_version: Version | None = Field(
            None, description="With commit on an edit: the artifact's version it must still be at (else 409)."
        )

    class ProposalDecideResponse(BaseModel):
        success: bool
        message: str
        proposal: ProposalView
        committed: Committed | None = Field(description="The artifact the accept committed, or null.")

    class ProposalDecideManyRequest(RequestModel):
        decisions: list[ProposalDecideRequest] = Field(min_length=1, max_length=MAX_DECISIONS)

    class DecisionResult(BaseModel):
        index: int
        success: bool
        message: str
        proposal: ProposalView | None = Field(None, description="On success: the proposal as decided.")
        committed: Committed | None = Field(None, description="On success: the artifact the accept committed.")
        code: str | None = Field(None, description="On failure: why (already_decided, draft_committed, ...).")
        field: str | None = None
        current_version: int | None = Field(None, description="On a version_conflict: the version to reload.")

    class ProposalDecideManyResponse(BaseModel):
        results: list[DecisionResult]

    def reply(data: dict[str, Any]) -> str:
        return ProposalDecideResponse.model_validate(data).model_dump_json()

    router = APIRouter(tags=["Proposals"], responses=ERROR_RESPONSES)
    viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, "read the review queue"))]
    editor = Annotated[Caller, Depends(caller_with(Role.EDITOR, "decide proposals", agents=False))]

    @router.post(
        "/api/v5/proposals/search",
        response_model=ProposalSearchResponse,
        operation_id="search_proposals",
        summary="The group's proposals, newest first, each with the live value against the proposed one.",
    )
    def search(who: viewer, body: ProposalSearchRequest | None = None) -> Any:
        body = body or ProposalSearchRequest()
        with who.db.transaction(write=False) as session:
            return proposals.search(
                session, by_name, who.principal, body.model_dump(), body.page_size or 25, body.page_offset or 0
            )

    @router.post(
        "/api/v5/proposals/decide",
        response_model=ProposalDecideResponse | ProposalDecideManyResponse,
        operation_id="decide_proposal",
        summary="Accept (and, for an agent's draft, commit) or reject a proposal, or up to 100 at once "
        "(`decisions`: each decided on its own, in order). People only.",
    )
    def decide(body: ProposalDecideRequest | ProposalDecideManyRequest, who: editor) -> Any:
        if isinstance(body, ProposalDecideManyRequest):
            with who.db.transaction(write=True) as session:
                results = run_items(
                    session,
                    [decision.model_dump(exclude_unset=True) for decision in body.decisions],
                    lambda request: json.loads(proposals.decide(session, by_name, who.principal, request, reply)),
                )
            return {"results": results}
        with who.db.transaction(write=True) as session:
            text = proposals.decide(session, by_name, who.principal, body.model_dump(exclude_unset=True), reply)
        # The stored text itself, so the same decision again answers byte for byte as the first time.
        return Response(text, media_type="application/json")

    return router
