"""create_app(): the FastAPI application with its routers, error handlers and limits."""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib.resources
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loomwork import __version__, ops, uploads
from loomwork.audit.router import build_audit_router
from loomwork.catalog.router import build_resource_routers
from loomwork.config import Settings, load_settings
from loomwork.db.database import Database
from loomwork.engine import drafts
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.operations import operation
from loomwork.engine.proposals_router import build_proposals_router
from loomwork.engine.router import build_resolve_many_router, build_router
from loomwork.errors import Forbidden, LoomworkError, Unauthenticated
from loomwork.events.delivery import DeliveryWorker
from loomwork.events.notify import notifier_for
from loomwork.events.router import build_events_router
from loomwork.generation.router import build_settings_router, build_try_router
from loomwork.gitops import schema as gitops_schema
from loomwork.http import ERROR_RESPONSES, ErrorBody
from loomwork.identity.dependencies import Caller, caller_with, principal_from_headers
from loomwork.identity.router import build_identity_router
from loomwork.kinds import ARTIFACT_KINDS, hidden_flag_types
from loomwork.mcp.server import mount_streamable_http
from loomwork.openapi_links import add_links, declare_access
from loomwork.ops.backup import hold_database
from loomwork.principal import Principal, Role
from loomwork.resources import secrets
from loomwork.web.router import mount_web

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, detail: str, code: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code, **extra}, status_code=status)


class BodySizeLimit:
    """Refuse bodies over the limit with 413 before any handler reads them (declared or streamed).

    Only the real import routes take the larger import limit. Past the first `unchecked_bytes`, a body is
    read on only for a caller whose API key or session is valid (anyone else gets their 401 at once) and, on
    an import route, who may import (`import_paths` maps each to its check: a viewer or an agent gets the
    route's 403 at once, so no one who cannot import makes the server read 64 MiB)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_import_bytes: int,
        import_paths: Mapping[str, Callable[[Principal], None]],
        unchecked_bytes: int = 64 * 1024,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_import_bytes = max_import_bytes
        self.import_paths = import_paths
        self.unchecked_bytes = unchecked_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_import_bytes if scope["path"] in self.import_paths else self.max_bytes
        too_large = error_response(413, f"The request body is larger than {limit:,} bytes.", "body_too_large")
        declared = dict(scope.get("headers", [])).get(b"content-length") or b""
        declared_size = int(declared) if declared.isdigit() else 0
        if declared_size > limit:
            await too_large(scope, receive, send)
            return
        checked = False
        chunks: list[bytes] = []
        size = 0
        while True:
            if not checked and max(size, declared_size) > self.unchecked_bytes:
                checked = True
                refusal = await anyio.to_thread.run_sync(self.refusal, scope)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def refusal(self, scope: Scope) -> JSONResponse | None:
        """The 401 or 403 the caller gets before its large body is read; None when it may send it."""
        try:
            principal = principal_from_headers(scope["app"], Headers(scope=scope))
            may_send = self.import_paths.get(scope["path"])
            if may_send is not None:
                may_send(principal)
        except (Unauthenticated, Forbidden) as refused:
            return JSONResponse(jsonable_encoder(refused.body()), status_code=refused.status)
        return None


def may_import(kind: ArtifactKind) -> Callable[[Principal], None]:
    """The import route's own role and agent check, for the body-size limit to make before the body."""
    return functools.partial(operation("import").authorise, kind=kind)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "header", "path")]
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name or "body"


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"field": _field_name(tuple(e.get("loc", ()))), "reason": e.get("msg", "is invalid")} for e in exc.errors()
    ]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        errors = [{"field": "body", "reason": "is not valid JSON"}]
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
    return error_response(
        422, detail or "The request is invalid.", "invalid", field=errors[0]["field"] if errors else None, errors=errors
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoomworkError)
    def _loomwork_error(_request: Request, exc: LoomworkError) -> JSONResponse:
        return JSONResponse(jsonable_encoder(exc.body()), status_code=exc.status, headers=exc.headers())

    app.exception_handler(RequestValidationError)(_validation_error)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's word for a body it could not decode at all (nested past Python's limit, say).
            return error_response(
                422,
                "body: the request body cannot be parsed as JSON (is it nested too deeply?).",
                "invalid",
                field="body",
            )
        if exc.status_code == 400:
            # Starlette's word for a multipart body it cannot split ("Invalid multipart data."): bad input, which
            # the API answers with 422 naming the field, like any other (the OpenAPI document lists no 400).
            return error_response(
                422, f"body: the multipart form cannot be read ({exc.detail})", "invalid", field="body"
            )
        code = HTTP_CODES.get(exc.status_code, "error")
        response = error_response(exc.status_code, str(exc.detail), code)
        response.headers.update(exc.headers or {})  # a 405 names the allowed methods in `Allow` (RFC 9110)
        return response

    @app.exception_handler(IntegrityError)
    def _integrity_error(_request: Request, _exc: IntegrityError) -> JSONResponse:
        return error_response(409, "The change conflicts with data written at the same time; try again.", "conflict")

    @app.exception_handler(OperationalError)
    def _database_busy(_request: Request, exc: OperationalError) -> JSONResponse:
        if "locked" not in str(exc.orig).lower() and "busy" not in str(exc.orig).lower():
            raise exc
        # Another process held SQLite's write lock past the busy timeout: a capacity limit, not bad input.
        response = error_response(
            503, "The database is busy with other writers; try again in a moment.", "database_busy"
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(RecursionError)
    def _too_deep(_request: Request, _exc: RecursionError) -> JSONResponse:
        return error_response(422, "body: the JSON is nested too deeply.", "invalid", field="body")


def settle_memory() -> None:
    """Once the app has started: its modules, models and schemas (some 300,000 objects) live as long as the
    process, yet each full collection walked them all again, 180 ms about every 50 requests of `get`. Frozen,
    the collector leaves them alone and looks only at what requests make."""
    gc.collect()
    gc.freeze()


REFERENCE_ASSETS = "/docs/assets"


def mount_api_reference(app: FastAPI) -> None:
    """/docs (Swagger UI), whose script and style come from the `fastapi-offline` package on this machine: the
    API reference works without internet (FastAPI's default loads them from a CDN). No /redoc: its page fetches
    a logo from its maker's CDN whatever it is told."""
    assets = importlib.resources.files("fastapi_offline") / "static"
    app.mount(REFERENCE_ASSETS, StaticFiles(directory=str(assets)), name="reference-assets")
    favicon = f"{REFERENCE_ASSETS}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Loomwork API reference",
            swagger_js_url=f"{REFERENCE_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{REFERENCE_ASSETS}/swagger-ui.css",
            swagger_favicon_url=favicon,
        )


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or load_settings()
    db = db or Database(settings.database_url)
    secrets.configure(settings.keyring)  # provider keys are encrypted under the server secret
    uploads.configure(
        uploads.Limits(settings.upload_ttl_seconds, settings.upload_quota_count, settings.upload_quota_bytes)
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Each worker holds its SQLite database while it serves: `loomwork restore` refuses to replace it.
        hold = hold_database(app.state.db.url)
        # Webhook deliveries run beside the server (`loomwork deliver` runs them alone); on shutdown (SIGTERM)
        # the attempt in progress finishes first.
        worker = DeliveryWorker(app.state.db, app.state.settings) if app.state.settings.delivery_worker else None
        if worker:
            worker.start()
        sweeps = (uploads.sweep_expired, functools.partial(drafts.sweep_abandoned, ttl_days=settings.draft_ttl_days))
        sweeper = asyncio.create_task(
            uploads.sweep_forever(app.state.db, min(settings.upload_ttl_seconds, 600), sweeps)
        )
        try:
            async with mcp_running():
                settle_memory()
                yield
        finally:
            if worker:
                await anyio.to_thread.run_sync(worker.shutdown)
            notifier_for(app.state.db).close()
            sweeper.cancel()
            gc.unfreeze()  # what this app held may go now (tests start many apps in one process)
        app.state.db.dispose()
        if hold:
            hold.release()

    app = FastAPI(
        title="Loomwork",
        version=__version__,
        description="One home for the configuration of AI agents: personas, tools, evals and invocations.",
        lifespan=lifespan,
        docs_url=None,  # served below from files in the project's own dependencies, never from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        max_import_bytes=settings.max_import_bytes,
        import_paths={f"/api/v5/artifacts/{kind.plural}/import": may_import(kind) for kind in ARTIFACT_KINDS},
    )
    ops.install(app, db)  # request ids, the access log, metrics, and traces when OTEL_* asks

    for kind in ARTIFACT_KINDS:
        app.include_router(build_router(kind, hidden_flag_types(kind)))
    for router in build_resource_routers():
        app.include_router(router)
    app.include_router(build_audit_router())
    app.include_router(build_settings_router())
    app.include_router(build_try_router())
    app.include_router(build_identity_router())
    app.include_router(build_proposals_router(ARTIFACT_KINDS))
    app.include_router(build_resolve_many_router(ARTIFACT_KINDS))
    app.include_router(build_events_router())
    build_openapi = app.openapi

    def openapi_with_links() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(build_openapi())  # create -> get/update/draft/delete, for fuzzing
        return app.openapi_schema

    app.openapi = openapi_with_links  # type: ignore[method-assign]
    mcp_running = mount_streamable_http(app)  # agents' door, at /mcp
    mount_web(app)  # people's door: the pages at / and /static

    @app.get(
        "/api/v5/uploads/{upload_id}",
        tags=["uploads"],
        operation_id="download_upload",
        responses={**ERROR_RESPONSES, 200: {"content": {"text/csv": {}}, "description": "The file."}},
        response_class=Response,
    )
    def download_upload(
        upload_id: uuid.UUID, who: Annotated[Caller, Depends(caller_with(Role.VIEWER, "download uploads"))]
    ) -> Response:
        with who.db.transaction(write=False) as session:
            upload = uploads.fetch(session, who.principal.group_id, upload_id)
        return StreamingResponse(
            uploads.chunks(who.db, upload.id),
            media_type=upload.content_type,
            headers={
                "Content-Disposition": f'attachment; filename="{upload.file_name}"',
                "Content-Length": str(upload.size_bytes),
            },
        )

    @app.get(
        "/api/v5/gitops/schemas/{kind}", tags=["gitops"], operation_id="gitops_file_schema", responses=ERROR_RESPONSES
    )
    def gitops_file_schema(
        kind: Literal["personas", "tools", "evals", "invocations"],
        who: Annotated[Caller, Depends(caller_with(Role.VIEWER, "read file schemas"))],
    ) -> dict[str, Any]:
        """The JSON Schema of a kind's YAML file in a `loomwork pull` folder, for editors (`pull` writes it too)."""
        return gitops_schema.schema_of(kind)

    mount_api_reference(app)

    @app.get("/healthz", tags=["health"], operation_id="healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        operation_id="readyz",
        responses={503: {"model": ErrorBody, "description": "Database unreachable."}},
    )
    def readyz(request: Request) -> JSONResponse:
        database: Database = request.app.state.db
        try:
            with database.transaction(write=False) as session:
                session.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError):  # the database or the way to it is down: not ready
            return error_response(503, "The database does not answer.", "not_ready")
        return JSONResponse({"status": "ready", "database": database.dialect})

    # x-loomwork-role and x-loomwork-agents on each operation, before the first request: FastAPI keeps what it
    # knows of an included router's routes from then on, and a later change would not reach the document.
    declare_access(app.routes)
    return app
