"""The pages' routes: the app shell and its static files, sign-in and sign-out, and three reads the
pages need beyond the API (the kinds' form layout, a draft's form state without patching it, and one
artifact's recent changes for its own page).

No `from __future__ import annotations`: FastAPI reads the handlers' annotations at definition time.
"""

import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from loomwork.audit import service as audit
from loomwork.engine.drafts import form_state_view, load_draft
from loomwork.engine.repository import get_artifact
from loomwork.errors import Forbidden, NotFound
from loomwork.http import ERROR_RESPONSES, says_agent
from loomwork.identity import sessions
from loomwork.identity.dependencies import Caller, caller_with, session_cookie
from loomwork.kinds import KINDS_BY_PLURAL
from loomwork.principal import Role
from loomwork.web import forms

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Everything the pages load comes from this server; icons are data: images, never markup in the page.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Fields of a draft patch that say how to apply it, not what changes.
PATCH_PLUMBING = frozenset({"draft_id", "input_draft_id", "expected_version", "idempotency_key", "soft", "accept"})
Viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, "use the pages"))]


def _require_same_origin(request: Request) -> None:
    """Sign-in sets a cookie, so another site must not be able to post it (login CSRF)."""
    origin = request.headers.get("origin")  # browsers send it on every cross-site POST ("null" from sandboxes)
    if origin and (origin == "null" or urlsplit(origin).netloc != request.headers.get("host")):
        raise Forbidden("Sign in from this site's own sign-in page.", code="csrf_failed")


def _who(principal: Any, csrf: str) -> dict[str, Any]:
    return {
        "name": principal.name,
        "role": principal.role,
        "group_id": str(principal.group_id),
        "profile_id": str(principal.profile_id),
        "csrf_token": csrf,
    }


def build_web_router() -> APIRouter:
    # The pages' own plumbing (cookie sign-in, reads shaped for the editor), not the API: left out of the
    # OpenAPI document, which describes what API clients may rely on.
    router = APIRouter(tags=["web"], responses=ERROR_RESPONSES, include_in_schema=False)

    @router.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={**PAGE_HEADERS, "Cache-Control": "no-store"})

    @router.post("/web/session", operation_id="web_sign_in", summary="Sign in with an API key (form field api_key).")
    def sign_in(
        request: Request,
        api_key: Annotated[str, Form(min_length=1, max_length=500)],
    ) -> JSONResponse:
        _require_same_origin(request)
        settings, db = request.app.state.settings, request.app.state.db
        with db.transaction(write=True) as session:
            session_id, principal = sessions.sign_in(
                session, settings.keyring, api_key.strip(), via_agent=says_agent(request.headers.getlist("x-mcp"))
            )
        request.state.principal = principal  # the sign-in's log line names who signed in
        response = JSONResponse(_who(principal, sessions.csrf_token(settings.keyring, session_id)))
        response.set_cookie(
            sessions.COOKIE,
            session_id,
            max_age=int(sessions.LIFETIME.total_seconds()),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.get("/web/session", operation_id="web_session", summary="Who is signed in, and the page's CSRF token.")
    def who_am_i(who: Viewer, session_id: Annotated[str | None, Depends(session_cookie)] = None) -> dict[str, Any]:
        csrf = sessions.csrf_token(who.settings.keyring, session_id) if session_id else ""
        return _who(who.principal, csrf)

    @router.delete("/web/session", operation_id="web_sign_out", summary="Sign out: the session ends on the server.")
    def sign_out(request: Request, session_id: Annotated[str | None, Depends(session_cookie)] = None) -> JSONResponse:
        settings, db = request.app.state.settings, request.app.state.db
        if session_id:
            sessions.require_csrf(
                settings.keyring, session_id, request.method, request.headers.get(sessions.CSRF_HEADER)
            )
            with db.transaction(write=True) as session:
                sessions.sign_out(session, settings.keyring, session_id)
        response = JSONResponse({"success": True, "message": "Signed out."})
        response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/web/kinds", operation_id="web_kinds", summary="Each kind's slots, facets and editor steps.")
    def kinds(_who: Viewer) -> list[dict[str, Any]]:
        return forms.kinds_view()

    @router.get(
        "/web/drafts/{plural}/{draft_id}",
        operation_id="web_draft_state",
        summary="A draft's form state with its waiting proposals, read without patching it.",
    )
    def draft_state(plural: str, draft_id: uuid.UUID, who: Viewer) -> Any:
        kind = KINDS_BY_PLURAL.get(plural)
        if kind is None:
            raise NotFound(f"kind: no artifact kind {plural!r}.", field="kind")
        with who.db.transaction(write=False) as session:
            draft = load_draft(session, kind, who.principal, draft_id)
            return form_state_view(session, kind, who.principal, draft)

    @router.get(
        "/web/artifacts/{plural}/{artifact_id}/events",
        operation_id="web_artifact_events",
        summary="One artifact's recent changes, for its page: who did what, when, to which fields.",
    )
    def artifact_events(
        plural: str, artifact_id: uuid.UUID, who: Viewer, limit: Annotated[int, Query(ge=1, le=50)] = 10
    ) -> dict[str, Any]:
        kind = KINDS_BY_PLURAL.get(plural)
        if kind is None:
            raise NotFound(f"kind: no artifact kind {plural!r}.", field="kind")
        with who.db.transaction(write=False) as session:
            get_artifact(session, kind, who.principal.group_id, artifact_id)  # another group's id: 404
            found = audit.search(session, who.principal, {"artifact_id": artifact_id}, limit, 0)
        return {
            "events": [_event_summary(kind.id_field, event) for event in found["events"]],
            "total_count": found["total_count"],
        }

    return router


def _event_summary(id_field: str, event: dict[str, Any]) -> dict[str, Any]:
    """The group's whole trail stays admin-only (POST /api/v5/audit/search); anyone who may read an artifact
    may see who changed it, when, and which fields, as its history (API.md section 9) will show them too.
    The values are left out: a proposal's patch may carry what its proposal hides until it is accepted."""
    changes = event["changes"]
    patch = {name for name in changes.get("patch") or {} if name not in PATCH_PLUMBING and name != id_field}
    fields = sorted(changes.get("fields") or changes.get("values") or patch)
    return {
        "at": event["at"],
        "action": event["action"],
        "profile_name": event["profile_name"],
        "via_agent": event["via_agent"],
        "fields": fields,
        **({"accepted": changes["accepted"]} if "accepted" in changes else {}),
    }


def mount_web(app: FastAPI) -> None:
    app.include_router(build_web_router())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
