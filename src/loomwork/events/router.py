"""`POST /api/v5/webhooks/...` (admins, people only) and `POST /api/v5/changes` (the feed, viewers).

No `from __future__ import annotations`: FastAPI reads the models at definition time.
"""

import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from loomwork.events import outbox, webhooks
from loomwork.events.notify import notifier_for
from loomwork.http import ERROR_RESPONSES, Int, RequestModel
from loomwork.identity.dependencies import Caller, caller_with
from loomwork.identity.service import require_live_key
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.principal import Role

MAX_CURSOR = 2**62
MAX_PAGE = 1000
if TYPE_CHECKING:
    KindName = str
    PageSize = int
    FeedPageSize = int
    Offset = int
    Cursor = int
else:
    # The artifact kinds are declarations, so their names make a Literal only at run time; and Int builds its
    # bounded Annotated type at run time too. A type checker cannot read either: to it they are str and int.
    KindName = Literal[tuple(kind.name for kind in ARTIFACT_KINDS)]
    PageSize = Int(ge=1, le=200)
    FeedPageSize = Int(ge=1, le=MAX_PAGE)
    Offset = Int(ge=0)
    Cursor = Int(ge=0)
EVENTS_DOC = (
    "artifact.revision_created {kind, K_id, version, author, via_agent, approved_by}; artifact.deleted "
    "{kind, K_id, version, deleted_by, via_agent}; label.moved {kind, K_id, label, from_version, "
    "to_version}; proposal.created {kind, K_id, draft_id, proposal_id, proposed_by, via_agent}; "
    "proposal.decided {kind, K_id, draft_id, proposal_id, decision, decided_by, proposed_by}."
)


class WebhookCreate(RequestModel):
    url: str = Field(
        max_length=2000,
        pattern=r"^https?://",
        description="http(s); private, loopback and link-local addresses are refused "
        "unless the server runs with LOOMWORK_ALLOW_PRIVATE_URLS=1.",
    )
    events: list[outbox.EventType] = Field(min_length=1, max_length=len(outbox.EVENT_TYPES), description=EVENTS_DOC)
    description: str = Field("", max_length=500)


class WebhookView(BaseModel):
    webhook_id: uuid.UUID
    url: str
    events: list[str]
    description: str
    enabled: bool = Field(description="False once deliveries kept failing; `disabled_reason` says why.")
    disabled_reason: str | None
    failing_since: datetime | None = Field(description="Since when every attempt failed; None while it works.")
    created_at: datetime


class WebhookCreated(WebhookView):
    secret: str = Field(
        description="The signing secret (whsec_...), shown this once: keep it to verify webhook-signature."
    )


class WebhookRef(RequestModel):
    webhook_id: uuid.UUID


class WebhookSearch(RequestModel):
    limit: PageSize = 50
    offset: Offset = 0


class WebhookList(BaseModel):
    webhooks: list[WebhookView]
    total_count: int


class DeliveriesRequest(RequestModel):
    webhook_id: uuid.UUID
    status: Literal["pending", "delivered", "failed"] | None = None
    limit: PageSize = 50
    offset: Offset = 0


class AttemptView(BaseModel):
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; None when it did not answer.")
    error: str | None
    duration_ms: int
    response: str = Field(description="The start of the receiver's answer (at most 1 KiB).")


class DeliveryView(BaseModel):
    delivery_id: uuid.UUID
    message_id: str = Field(description="The webhook-id header: the same on every attempt.")
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: list[AttemptView]
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


class DeliveriesResponse(BaseModel):
    webhook: WebhookView
    deliveries: list[DeliveryView]
    total_count: int


class RedeliverRequest(RequestModel):
    delivery_id: uuid.UUID


class Queued(BaseModel):
    success: bool
    delivery_id: uuid.UUID
    message_id: str


class Deleted(BaseModel):
    success: bool
    webhook_id: uuid.UUID


def _json_number(value: Any) -> Any:
    """JSON Schema's `number`: `true` and "5" are no number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


class ChangesRequest(RequestModel):
    after: Cursor = Field(0, description="The last cursor you have; 0 (default) from the start.")
    kinds: list[KindName] | None = Field(None, max_length=len(ARTIFACT_KINDS), description="Only these artifact kinds.")
    events: list[outbox.EventType] | None = Field(
        None, max_length=len(outbox.EVENT_TYPES), description="Only these events."
    )
    limit: FeedPageSize = 100
    wait_s: Annotated[float, BeforeValidator(_json_number)] = Field(
        0,
        ge=0,
        le=30,
        description="With nothing new, wait up to this long for a change to commit (long poll); 0 answers at once.",
    )


class Change(BaseModel):
    cursor: int = Field(description="Increases by one with each event of the group, in commit order.")
    event: str
    id: uuid.UUID = Field(description="The event's id; deliveries send it as webhook-id `msg_<hex>`.")
    at: datetime
    data: dict[str, Any] = Field(description=EVENTS_DOC)


class ChangesResponse(BaseModel):
    changes: list[Change]
    next_cursor: int = Field(description="Send it as `after` next time.")


def build_events_router() -> APIRouter:
    router = APIRouter(tags=["Webhooks"], responses=ERROR_RESPONSES)
    admin = Annotated[Caller, Depends(caller_with(Role.ADMIN, "manage webhooks", agents=False))]
    viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, "read the change feed"))]

    @router.post(
        "/api/v5/webhooks/create",
        response_model=WebhookCreated,
        operation_id="create_webhook",
        summary="Send the group's events to a URL; answers the signing secret once.",
    )
    def create(body: WebhookCreate, who: admin) -> Any:
        with who.db.transaction(write=True) as session:
            return webhooks.create(session, who.principal, body.url, list(body.events), body.description)

    @router.post(
        "/api/v5/webhooks/search",
        response_model=WebhookList,
        operation_id="search_webhooks",
        summary="The group's webhooks, newest first, with whether each is enabled.",
    )
    def search(who: admin, body: WebhookSearch | None = None) -> Any:
        body = body or WebhookSearch()
        with who.db.transaction(write=False) as session:
            return webhooks.search(session, who.principal, body.limit, body.offset)

    @router.post(
        "/api/v5/webhooks/delete",
        response_model=Deleted,
        operation_id="delete_webhook",
        summary="Delete a webhook and its delivery log.",
    )
    def delete(body: WebhookRef, who: admin) -> Any:
        with who.db.transaction(write=True) as session:
            return webhooks.delete(session, who.principal, body.webhook_id)

    @router.post(
        "/api/v5/webhooks/deliveries",
        response_model=DeliveriesResponse,
        operation_id="webhook_deliveries",
        summary="A webhook's deliveries, newest first, each with its attempts (status code and time).",
    )
    def deliveries(body: DeliveriesRequest, who: admin) -> Any:
        with who.db.transaction(write=False) as session:
            return webhooks.deliveries(session, who.principal, body.webhook_id, body.status, body.limit, body.offset)

    @router.post(
        "/api/v5/webhooks/test",
        response_model=Queued,
        operation_id="test_webhook",
        summary="Send a `webhook.test` message to this webhook alone.",
    )
    def test(body: WebhookRef, who: admin) -> Any:
        with who.db.transaction(write=True) as session:
            return webhooks.send_test(session, who.principal, body.webhook_id)

    @router.post(
        "/api/v5/webhooks/redeliver",
        response_model=Queued,
        operation_id="redeliver_webhook",
        summary="Send a delivery again now (same webhook-id); enables its webhook again.",
    )
    def redeliver(body: RedeliverRequest, who: admin) -> Any:
        with who.db.transaction(write=True) as session:
            return webhooks.redeliver(session, who.principal, body.delivery_id)

    @router.post(
        "/api/v5/changes",
        response_model=ChangesResponse,
        operation_id="changes",
        tags=["Changes"],
        summary="The group's events in commit order after a cursor; can long-poll.",
    )
    async def changes(request: Request, who: viewer, body: ChangesRequest | None = None) -> Any:
        wanted = body or ChangesRequest()
        group_id, key_id = who.principal.group_id, who.principal.key_id

        def read(waited: bool = False) -> outbox.ChangesPage:
            with who.db.transaction(write=False) as session:
                if waited and key_id is not None:  # revoked or expired while it waited: the answer is 401
                    require_live_key(session, key_id)
                return outbox.read_changes(session, group_id, wanted.after, wanted.kinds, wanted.events, wanted.limit)

        page = await run_in_threadpool(read)
        wait_s = min(wanted.wait_s, request.app.state.settings.changes_max_wait_s)
        loop_deadline = None
        while not page["changes"] and wait_s > 0:
            loop_deadline = loop_deadline or time.monotonic() + wait_s
            remaining = loop_deadline - time.monotonic()
            if remaining <= 0:
                break
            # Wait on the last cursor seen (a filtered page may have moved past events it skipped).
            await notifier_for(who.db).wait(group_id, page["next_cursor"], remaining)
            page = await run_in_threadpool(read, True)
            wanted = wanted.model_copy(update={"after": page["next_cursor"]}) if not page["changes"] else wanted
        return page

    return router
