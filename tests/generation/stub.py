"""An OpenAI-compatible model server for the tests: it answers what a test sets and records every
request it received, so a test can check what Loomwork sent (the key, the model, the schema)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.routing import Route

from conftest import Api, serving

SECRET = "sk-stub-0123456789-very-secret"
MODEL = "stub-model"


@dataclasses.dataclass
class Stub:
    """What the model server answers next, and every request it received."""

    answer: Any = None
    status: int = 200
    delay_s: float = 0.0
    raw: str | None = None
    error: str = "the stub is down"  # the message of a non-200 answer
    usage: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    )
    received: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tool_calls: list[dict[str, Any]] | None = None  # [{name, arguments (a JSON text)}] in the answer
    pieces: list[str] | None = None  # with `stream`: the content in these deltas
    release: threading.Event = dataclasses.field(default_factory=threading.Event)  # ends every delay at once

    async def completions(self, request: Request) -> Any:
        body = await request.json()
        self.received.append(
            {"body": body, "authorization": request.headers.get("authorization"), "host": request.headers.get("host")}
        )
        deadline = time.monotonic() + self.delay_s
        while time.monotonic() < deadline and not self.release.is_set():  # slow, until a test lets it answer
            await asyncio.sleep(0.05)
        if self.status != 200:
            return JSONResponse({"error": {"message": self.error, "type": "server_error"}}, status_code=self.status)
        content = self.raw if self.raw is not None else json.dumps(self.answer)
        if body.get("stream"):
            return StreamingResponse(self._chunks(body, content), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": call} for i, call in enumerate(self.tool_calls)
            ]
        return JSONResponse(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                "usage": self.usage,
            }
        )

    async def _chunks(self, body: dict[str, Any], content: str) -> Any:
        def chunk(delta: dict[str, Any], usage: dict[str, int] | None = None) -> str:
            choices = [{"index": 0, "delta": delta, "finish_reason": None}] if delta else []
            data = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
            return "data: " + json.dumps({**data, "choices": choices, "usage": usage}) + "\n\n"

        yield chunk({"role": "assistant", "content": ""})
        for piece in self.pieces if self.pieces is not None else [content]:
            yield chunk({"content": piece})
            await asyncio.sleep(0.01)
        yield chunk({}, self.usage)
        yield "data: [DONE]\n\n"


@contextmanager
def stub_model_server() -> Iterator[tuple[str, list[Stub]]]:
    """Serves on a loopback port; the test swaps `current[0]` for a fresh Stub to set the next answers."""
    current: list[Stub] = [Stub()]

    async def completions(request: Request) -> Any:
        return await current[0].completions(request)

    async def other(_request: Request) -> Any:
        return PlainTextResponse("not here", status_code=404)

    async def moved(_request: Request) -> Any:  # an endpoint that sends the POST elsewhere
        return RedirectResponse("/v1/chat/completions", status_code=307)

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/moved/v1/chat/completions", moved, methods=["POST"]),
            Route("/{path:path}", other),
        ]
    )
    with serving(app) as url:
        yield url, current


def make_generator(admin: Api, endpoint: str) -> str:
    model_id = admin.post("/api/v5/resources/models/create", {"models": [MODEL]}).json()["results"][0]["id"]
    return admin.create(
        "invocations",
        name="Drafting model",
        endpoint=endpoint,
        key={"name": "stub", "secret": SECRET},
        temperature_level="0.3",
        reasoning_level="low",
        model_flag_values=[{"model_id": model_id, "type": "invocation_role", "value": "primary"}],
    )
