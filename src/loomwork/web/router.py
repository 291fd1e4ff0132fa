"""The pages' routes: the app shell and its static files, sign-in and sign-out, and two reads the
pages need beyond the API (the kinds' form layout, and a draft's form state without patching it).

No `from __future__ import annotations`: FastAPI reads the handlers' annotations at definition time.
"""

import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from loomwork.engine.drafts import form_state_view, load_draft
from loomwork.engine.router import ERROR_RESPONSES
from loomwork.errors import Forbidden, NotFound
from loomwork.identity.dependencies import Caller, caller_with, session_cookie
from loomwork.kinds import KINDS_BY_PLURAL
from loomwork.web import forms, sessions

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Everything the pages load comes from this server; icons are data: images, never markup in the page.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
Viewer = Annotated[Caller, Depends(caller_with("viewer", "use the pages"))]


def _require_same_origin(request: Request) -> None:
    """Sign-in sets a cookie, so another site must not be able to post it (login CSRF)."""
    origin = request.headers.get("origin")  # browsers send it on every cross-site POST ("null" from sandboxes)
    if origin and (origin == "null" or urlsplit(origin).netloc != request.headers.get("host")):
        raise Forbidden("Sign in from this site's own sign-in page.", code="csrf_failed")


def _who(principal: Any, csrf: str) -> dict[str, Any]:
    return {"name": principal.name, "role": principal.role, "group_id": str(principal.group_id),
            "csrf_token": csrf}


def build_web_router() -> APIRouter:
    # The pages' own plumbing (cookie sign-in, reads shaped for the editor), not the API: left out of the
    # OpenAPI document, which describes what API clients may rely on.
    router = APIRouter(tags=["web"], responses=ERROR_RESPONSES, include_in_schema=False)

    @router.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={**PAGE_HEADERS, "Cache-Control": "no-store"})

    @router.post("/web/session", operation_id="web_sign_in", summary="Sign in with an API key (form field api_key).")
    def sign_in(request: Request, api_key: Annotated[str, Form(min_length=1, max_length=500)]) -> JSONResponse:
        _require_same_origin(request)
        settings, db = request.app.state.settings, request.app.state.db
        with db.transaction(write=True) as session:
            session_id, principal = sessions.sign_in(session, settings.keyring, api_key.strip())
        response = JSONResponse(_who(principal, sessions.csrf_token(settings.keyring, session_id)))
        response.set_cookie(sessions.COOKIE, session_id, max_age=int(sessions.LIFETIME.total_seconds()), path="/",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    @router.get("/web/session", operation_id="web_session", summary="Who is signed in, and the page's CSRF token.")
    def who_am_i(who: Viewer, session_id: Annotated[str | None, Depends(session_cookie)] = None) -> dict[str, Any]:
        csrf = sessions.csrf_token(who.settings.keyring, session_id) if session_id else ""
        return _who(who.principal, csrf)

    @router.delete("/web/session", operation_id="web_sign_out", summary="Sign out: the session ends on the server.")
    def sign_out(request: Request, session_id: Annotated[str | None, Depends(session_cookie)] = None) -> JSONResponse:
        settings, db = request.app.state.settings, request.app.state.db
        if session_id:
            sessions.require_csrf(settings.keyring, session_id, request.method,
                                  request.headers.get(sessions.CSRF_HEADER))
            with db.transaction(write=True) as session:
                sessions.sign_out(session, settings.keyring, session_id)
        response = JSONResponse({"success": True, "message": "Signed out."})
        response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/web/kinds", operation_id="web_kinds", summary="Each kind's slots, facets and editor steps.")
    def kinds(_who: Viewer) -> list[dict[str, Any]]:
        return forms.kinds_view()

    @router.get("/web/drafts/{plural}/{draft_id}", operation_id="web_draft_state",
                summary="A draft's form state with its waiting proposals, read without patching it.")
    def draft_state(plural: str, draft_id: uuid.UUID, who: Viewer) -> Any:
        kind = KINDS_BY_PLURAL.get(plural)
        if kind is None:
            raise NotFound(f"kind: no artifact kind {plural!r}.", field="kind")
        with who.db.transaction(write=False) as session:
            draft = load_draft(session, kind, who.principal, draft_id)
            return form_state_view(session, kind, who.principal, draft)

    return router


def mount_web(app: FastAPI) -> None:
    app.include_router(build_web_router())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
