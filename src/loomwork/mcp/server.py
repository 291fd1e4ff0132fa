"""The Loomwork MCP server (the official `mcp` SDK's low-level server) and its two transports.

- Streamable HTTP at `/mcp` on the API's own server: the caller's API key comes in the same
  headers as for the HTTP API (`X-Api-Key` or `Authorization: Bearer`).
- stdio (`LOOMWORK_API_KEY=KEY loomwork mcp`): one key for the whole session.

Either way a tool call is a request to the API, made in process with the caller's key and
`X-MCP`, so the engine treats it as an agent's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import anyio.to_thread
import httpx2
import mcp_types as types
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from loomwork import __version__
from loomwork.errors import Unauthenticated
from loomwork.identity.dependencies import principal_from_headers
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.mcp.tools import McpTool, build_tools

AGENT_HEADER = {"X-MCP": "loomwork-mcp"}
INSTRUCTIONS = (
    "Loomwork keeps the configuration of AI agents: personas, tools, evals and invocations. Search and "
    "read them; propose changes with `propose` (its fields: `docs`). A proposal waits for a person to accept "
    "it. Read a live config with `resolve` or `resolve_many`, or the resources loomwork://{kind}/{id}[@{label}]."
)

KeyOf = Callable[[ServerRequestContext[Any, Any]], "str | None"]


def _key_from_request(ctx: ServerRequestContext[Any, Any]) -> str | None:
    request = ctx.request
    if request is None:
        return None
    headers: Headers = request.headers
    if headers.get("x-api-key"):
        return headers["x-api-key"]
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def build_server(api: FastAPI, key_of: KeyOf) -> Server[Any]:
    """An MCP server whose tools call `api` in process with the key `key_of` finds for each request."""
    tools = build_tools(full=api.state.settings.mcp_tools == "full")
    listing = [types.Tool(name=t.name, description=t.description, input_schema=t.input_schema) for t in tools.values()]

    async def list_tools(_ctx: ServerRequestContext[Any, Any], _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listing)

    templates = _resource_templates()

    async def list_resources(_ctx: ServerRequestContext[Any, Any], _params: Any) -> types.ListResourcesResult:
        # Artifacts are reached through the templates; listing every one of them would be a search.
        return types.ListResourcesResult(resources=[])

    async def list_resource_templates(
        _ctx: ServerRequestContext[Any, Any], _params: Any
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=templates)

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        plural, id_or_name, label = _parse_resource_uri(uri)
        key = key_of(ctx)
        if not key:
            raise MCPError(
                types.INVALID_REQUEST,
                "No API key: send it as X-Api-Key or Authorization: Bearer, or start with LOOMWORK_API_KEY set.",
            )
        status, answer = await _request(
            api,
            "GET",
            f"/api/v5/resolve/{plural}/{quote(id_or_name, safe='')}",
            key,
            params={"label": label} if label else None,
        )
        if status >= 400:
            raise MCPError(
                types.INVALID_PARAMS,
                f"HTTP {status}: {json.dumps(answer, ensure_ascii=False)}",
                data={"uri": uri, "status": status, **answer},
            )
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=json.dumps(answer, ensure_ascii=False)
                )
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = tools.get(params.name)
        if tool is None:
            return _error(f"There is no tool {params.name!r}; list the tools to see them.")
        key = key_of(ctx)
        if not key:
            return _error(
                "No API key: send it as X-Api-Key or Authorization: Bearer, or start with LOOMWORK_API_KEY set."
            )
        return await _call_api(api, tool, key, dict(params.arguments or {}))

    return Server(
        "loomwork",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
    )


def _resource_templates() -> list[types.ResourceTemplate]:
    """Each kind's artifacts as resources: the resolve answer at the latest version or at a label."""
    templates = []
    for kind in ARTIFACT_KINDS:
        templates += [
            types.ResourceTemplate(
                name=f"{kind.name}",
                title=f"A {kind.name}'s live config",
                uri_template=f"loomwork://{kind.plural}/{{id}}",
                mime_type="application/json",
                description=f"The {kind.name}'s resolved config at its newest version (the "
                f"{kind.plural}_resolve answer); id is its id or exact name.",
            ),
            types.ResourceTemplate(
                name=f"{kind.name}_at_label",
                title=f"A {kind.name}'s config at a label",
                uri_template=f"loomwork://{kind.plural}/{{id}}@{{label}}",
                mime_type="application/json",
                description=f"The {kind.name}'s resolved config at the version a label "
                f"(production, staging, ...) names.",
            ),
        ]
    return templates


def _parse_resource_uri(uri: str) -> tuple[str, str, str | None]:
    """`loomwork://{plural}/{id}[@{label}]` -> (plural, id or name, label); a clear error otherwise."""
    parts = urlsplit(uri)
    plurals = [kind.plural for kind in ARTIFACT_KINDS]
    target, _, label = parts.path.removeprefix("/").partition("@")
    if parts.scheme != "loomwork" or parts.netloc not in plurals or not target or "/" in target or parts.query:
        raise MCPError(
            types.INVALID_PARAMS,
            f"Unknown resource {uri!r}: use loomwork://{{kind}}/{{id}} or "
            f"loomwork://{{kind}}/{{id}}@{{label}}, kind one of {', '.join(plurals)}.",
        )
    return parts.netloc, unquote(target), unquote(label) or None


async def _request(
    api: FastAPI, method: str, path: str, key: str, body: Any = None, params: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """One request to the API, in process, as the agent of `key`: (status, JSON answer)."""
    transport = httpx2.ASGITransport(app=api)
    async with httpx2.AsyncClient(transport=transport, base_url="http://loomwork.internal") as client:
        response = await client.request(
            method, path, json=body, params=params, headers={"X-Api-Key": key, **AGENT_HEADER}
        )
    try:
        answer = response.json()
    except ValueError:
        answer = {"detail": response.text}
    return response.status_code, answer


async def _call_api(api: FastAPI, tool: McpTool, key: str, arguments: dict[str, Any]) -> types.CallToolResult:
    path, part = tool.path, None
    if tool.path_argument:
        part = arguments.pop(tool.path_argument, None)
        allowed = tool.input_schema["properties"][tool.path_argument]["enum"]
        if not isinstance(part, str) or part not in allowed:
            return _error(f"{tool.path_argument}: must be one of {', '.join(allowed)}, not {part!r}.")
        path = path.replace("{" + tool.path_argument + "}", part)
    status, answer = await _request(api, tool.method, path, key, body=tool.body(arguments, part))
    text = json.dumps(answer, ensure_ascii=False)
    if status >= 400:
        return types.CallToolResult(
            content=[types.TextContent(text=f"HTTP {status}: {text}")], structured_content=answer, is_error=True
        )
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=answer)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


class _RequireKey:
    """Check the caller's key before any MCP work, streams included: no key, or one that is not valid,
    revoked or expired, is 401 with the API's error body. A key is all /mcp takes (no page session)."""

    def __init__(self, api: FastAPI, app: StreamableHTTPASGIApp) -> None:
        self.api = api
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await anyio.to_thread.run_sync(self.refusal, Headers(scope=scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            if scope["method"] == "GET":
                # Stateless: nothing is ever sent on a standing stream, so none is opened (the transport's
                # way of saying so is 405). Open, it pinged every 15 s and held its connection for good.
                no_stream = JSONResponse(
                    {
                        "detail": "This MCP server is stateless and opens no event stream: POST each request.",
                        "code": "method_not_allowed",
                    },
                    status_code=405,
                    headers={"Allow": "POST, DELETE"},
                )
                await no_stream(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: Headers) -> JSONResponse | None:
        try:
            principal_from_headers(self.api, headers, cookie=False)
        except Unauthenticated as refused:
            return JSONResponse(refused.body(), status_code=refused.status, headers={"WWW-Authenticate": "Bearer"})
        return None


def mount_streamable_http(api: FastAPI, path: str = "/mcp") -> Callable[[], AbstractAsyncContextManager[None]]:
    """Serve MCP at `path` on the API's server; returns the context manager the app's lifespan must enter."""
    # Stateless: every request carries its key, so no session needs to outlive a request.
    manager = StreamableHTTPSessionManager(app=build_server(api, _key_from_request), stateless=True, json_response=True)
    api.add_route(
        path,
        # Starlette serves an endpoint that is no function as an ASGI app; add_route's annotation omits that case.
        _RequireKey(api, StreamableHTTPASGIApp(manager)),  # type: ignore[arg-type]
        methods=["GET", "POST", "DELETE"],
        include_in_schema=False,
    )

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        async with manager.run():
            yield

    return running


async def serve_stdio(api: FastAPI, key: str) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(api, lambda _ctx: key)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
