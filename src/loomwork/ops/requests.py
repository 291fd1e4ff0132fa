"""One ASGI layer around the whole app: the request id, the request metrics and the access log line.

It wraps the app outside Starlette's ServerErrorMiddleware, so a 500 is counted, logged and carries
`X-Request-Id` like any other answer. The caller's ids come from `request.state.principal`, which
`current_caller` sets; nothing from the headers' values (keys) or the body is ever read here.
"""

from __future__ import annotations

import logging
import re
import uuid
from time import perf_counter
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loomwork.http import says_agent
from loomwork.ops.context import REQUEST_ID
from loomwork.ops.metrics import HTTP_IN_PROGRESS, HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-Id"
# An incoming id is kept only when it is this plain: it goes into logs and headers verbatim.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
UNMATCHED = "<unmatched>"  # every path no route matches shares one label
# The methods the metrics name; any other (the HTTP parser lets a client invent them) counts as OTHER_METHOD,
# so no client can add series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

access_log = logging.getLogger("loomwork.access")


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if SANE_REQUEST_ID.fullmatch(text) else None
    return None


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_template(scope: Scope) -> str:
    """The matched route's template (`/api/v5/uploads/{upload_id}`), a mount's prefix, or UNMATCHED."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestObserver:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or uuid.uuid4().hex
        parent_id = REQUEST_ID.get()  # set when MCP calls the API in process, inside its own request
        # Each request runs in its own task, so this never leaks into another request; it stays set
        # after the app returns so that uvicorn's "Exception in ASGI application" line carries it too.
        REQUEST_ID.set(request_id)
        scope.setdefault("state", {})  # where current_caller leaves the principal (request.state)
        status = 500  # until a response starts: an exception before it is answered 500
        started = perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            HTTP_IN_PROGRESS.dec()
            duration = perf_counter() - started
            route, method = route_template(scope), scope["method"]
            HTTP_REQUESTS.labels(route=route, method=method_label(method), status=str(status)).inc()
            HTTP_LATENCY.labels(route=route, method=method_label(method)).observe(duration)
            access_log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={"fields": _line(scope, request_id, parent_id, method, route, status, duration)},
            )


def _line(
    scope: Scope, request_id: str, parent_id: str | None, method: str, route: str, status: int, duration: float
) -> dict[str, Any]:
    principal = scope["state"].get("principal")
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(duration * 1000, 2),
        "group_id": str(principal.group_id) if principal else None,
        "profile_id": str(principal.profile_id) if principal else None,
        "via_agent": bool(principal.via_agent) if principal else _agent_header(scope),
    }
    if parent_id:
        fields["parent_request_id"] = parent_id
    return fields


def _agent_header(scope: Scope) -> bool:
    return says_agent(value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-mcp")


def observe_requests(app: Any) -> None:
    """Put RequestObserver around `app`'s whole middleware stack (ServerErrorMiddleware included)."""
    build = app.build_middleware_stack
    app.loomwork_unobserved_build = build  # so tracing can slide its middleware in beneath (ops.tracing)

    def build_observed() -> ASGIApp:
        return RequestObserver(build())

    app.build_middleware_stack = build_observed
