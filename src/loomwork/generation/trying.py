"""Try a persona through an invocation before it goes live (API.md section 15).

The same outbound path as generation (service.py): a short read transaction, then the chat completion awaited
with no transaction open (the key decrypted only for its bound origin, sent over `AsyncPinnedTransport`), then
the run and its audit event in one write transaction. Runs count against generation's limits (`SLOTS`): one
budget of outbound model calls per worker and per group.
"""

from __future__ import annotations

import importlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.config import Settings
from loomwork.db.database import Database
from loomwork.db.scoping import in_group
from loomwork.engine import drafts, revisions
from loomwork.engine.form import FormState
from loomwork.engine.repository import get_artifact, load_state
from loomwork.engine.resolve import config_of
from loomwork.errors import Invalid, LoomworkError, NotFound
from loomwork.generation.models import PersonaRun
from loomwork.generation.service import (
    MAX_REASON_CHARS,
    SLOTS,
    Generator,
    GeneratorFailed,
    _check_key,
    _live,
    read_invocation,
)
from loomwork.kinds.invocation import INVOCATION
from loomwork.kinds.persona import PERSONA
from loomwork.kinds.tool import TOOL
from loomwork.principal import Principal
from loomwork.resources import secrets
from loomwork.resources import service as resources
from loomwork.urlsafety import AsyncPinnedTransport

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")  # as engine/sections.py reads them


class InvocationFailed(LoomworkError):
    status = 502
    code = "invocation_failed"
    meaning = "The invocation's endpoint failed or answered with something unusable; the run was not stored."


@dataclass(frozen=True)
class _Prepared:
    invocation: Generator
    persona_id: uuid.UUID | None
    persona_version: int | None
    persona_label: str | None
    draft_id: uuid.UUID | None
    system: str
    tools: list[dict[str, Any]]


def _persona_state(
    session: Session, principal: Principal, request: dict[str, Any]
) -> tuple[FormState, uuid.UUID | None, int | None, str | None]:
    """The persona's form at the version asked (its label's, else its newest), or the caller's own draft."""
    draft_id, persona_id = request.get("draft_id"), request.get("persona_id")
    version, label = request.get("version"), request.get("label")
    if draft_id is not None:
        draft = drafts.load_draft(session, PERSONA, principal, draft_id)  # only the owner's; others' are 404
        if persona_id is not None or version is not None or label is not None:
            raise Invalid(
                "draft_id: a draft runs its own form; leave out persona_id, version and label.", field="draft_id"
            )
        drafts.require_open(session, PERSONA, draft)
        return FormState.from_json(draft.form_state), draft.target_id, None, None
    if persona_id is None:
        raise Invalid("persona_id: give a persona_id or a draft_id (one of them).", field="persona_id")
    if version is not None and label is not None:
        raise Invalid("version: give a version or a label, not both.", field="version")
    row = get_artifact(session, PERSONA, principal.group_id, persona_id)
    if label is not None and label != "latest":
        labelled = revisions.labels_of(session, row.id).get(label)
        if labelled is None:
            raise NotFound(f"label: the persona has no label {label!r}.", field="label")
        version = labelled
    version = version or row.version
    state = revisions.decode_state(revisions.load_revision(session, PERSONA, row.id, version).state)
    return state, row.id, version, label


def fill(template: str, variables: dict[str, str]) -> str:
    """The instructions with every {{variable}} filled; a variable without a value is 422 naming it."""
    missing = [name for name in dict.fromkeys(_VARIABLE.findall(template)) if name not in variables]
    if missing:
        raise Invalid(
            f"variables.{missing[0]}: the instructions use {{{{{missing[0]}}}}}; give it a value"
            + (f" (also missing: {', '.join(missing[1:])})." if missing[1:] else "."),
            field=f"variables.{missing[0]}",
        )
    return _VARIABLE.sub(lambda m: variables[m.group(1)], template)


def _prepare(db: Database, principal: Principal, request: dict[str, Any]) -> _Prepared:
    with db.transaction(write=False) as session:
        state, persona_id, version, label = _persona_state(session, principal, request)
        invocation = get_artifact(session, INVOCATION, principal.group_id, request["invocation_id"])
        tools = []
        for tool_id in request.get("tool_ids") or []:
            tool = get_artifact(session, TOOL, principal.group_id, tool_id, field="tool_ids")
            tools.append(config_of(session, TOOL, principal.group_id, load_state(session, tool.id))["function"])
        values = resources.load(session, principal.group_id, state.all_ids())
        instructions = _live(state, values, "instructions")
        system = fill(instructions[0].value if instructions else "", request.get("variables") or {})
        try:
            called = read_invocation(session, principal.group_id, invocation.id, invocation.version)
        except GeneratorFailed as failed:
            raise InvocationFailed(failed.detail.replace("generator invocation", "invocation")) from None
        _check_key(called, "invocation_id")  # 409 key_origin_mismatch before anything is sent
        return _Prepared(called, persona_id, version, label, request.get("draft_id"), system, tools)


def _failed(reason: str, key: str) -> InvocationFailed:
    said = secrets.scrub(reason[: MAX_REASON_CHARS * 4], key)
    return InvocationFailed(said[: MAX_REASON_CHARS + 40])


class _Call:
    """One chat completion through the invocation, streamed or not; the key lives in this object only."""

    def __init__(self, ready: _Prepared, settings: Settings, request: dict[str, Any]) -> None:
        self.ready, self.settings, self.request = ready, settings, request
        self.key = "none"
        self.content: list[str] = []
        self.tool_calls: dict[int, dict[str, str]] = {}
        self.usage: dict[str, int | None] = {"prompt_tokens": None, "completion_tokens": None}
        self.started = time.monotonic()
        self.latency_ms = 0

    def translate(self, openai: Any, error: Exception) -> InvocationFailed:
        endpoint = self.ready.invocation.endpoint
        if isinstance(error, Invalid):  # the endpoint's address, checked right before the request
            return _failed(f"The invocation's {error.detail}", self.key)
        if isinstance(error, openai.APITimeoutError):
            return _failed(
                f"The invocation's endpoint {endpoint} did not answer within {self.settings.generator_timeout_s:g} s.",
                self.key,
            )
        if isinstance(error, openai.APIConnectionError):
            return _failed(f"The invocation's endpoint {endpoint} cannot be reached.", self.key)
        if isinstance(error, openai.APIStatusError):
            said = str(getattr(error, "message", "") or "")
            return _failed(f"The invocation's endpoint answered HTTP {error.status_code}: {said}", self.key)
        return _failed(f"The invocation's call failed: {error}", self.key)

    async def start(self) -> Any:
        """Sends the request; a refused or failing endpoint raises `InvocationFailed` here, before any answer."""
        import httpx2

        self.openai = openai = await anyio.to_thread.run_sync(importlib.import_module, "openai")
        called = self.ready.invocation
        self.key = secrets.decrypt_for(called.key, called.endpoint) if called.key else "none"
        extra: dict[str, Any] = {}
        if called.temperature is not None:
            extra["temperature"] = called.temperature
        if called.reasoning_effort:
            extra["reasoning_effort"] = called.reasoning_effort
        if self.ready.tools:
            extra["tools"] = [{"type": "function", "function": f} for f in self.ready.tools]
        if self.request.get("stream"):
            extra["stream"] = True
            extra["stream_options"] = {"include_usage": True}
        transport = AsyncPinnedTransport("endpoint", allow_private=self.settings.allow_private_urls)
        self.client = openai.AsyncOpenAI(
            api_key=self.key,
            base_url=called.endpoint,
            timeout=self.settings.generator_timeout_s,
            max_retries=self.settings.generator_retries,
            http_client=httpx2.AsyncClient(transport=transport, follow_redirects=False, trust_env=False),
        )
        messages = [{"role": "system", "content": self.ready.system}, *self.request["messages"]]
        self.started = time.monotonic()
        try:
            return await self.client.chat.completions.create(model=called.model, messages=messages, **extra)
        except Exception as error:
            await self.client.close()
            if isinstance(error, openai.OpenAIError | Invalid):
                raise self.translate(openai, error) from None
            raise

    def take(self, completion: Any) -> None:
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice else None
        if message is None:
            raise InvocationFailed("The invocation's endpoint answered with no choice.")
        self.content.append(message.content or "")
        for index, call in enumerate(message.tool_calls or []):
            self.tool_calls[index] = {"name": call.function.name, "arguments": call.function.arguments or ""}
        self._usage(completion.usage)

    def _usage(self, usage: Any) -> None:
        if usage is not None:
            self.usage = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}

    async def deltas(self, stream: Any) -> AsyncIterator[str]:
        try:
            async for chunk in stream:
                self._usage(getattr(chunk, "usage", None))
                for choice in chunk.choices or []:
                    delta = choice.delta
                    if delta is None:
                        continue
                    for call in delta.tool_calls or []:
                        held = self.tool_calls.setdefault(call.index, {"name": "", "arguments": ""})
                        if call.function is not None:
                            held["name"] += call.function.name or ""
                            held["arguments"] += call.function.arguments or ""
                    if delta.content:
                        self.content.append(delta.content)
                        yield delta.content
        except (self.openai.OpenAIError, Invalid) as error:
            raise self.translate(self.openai, error) from None

    def reply(self) -> dict[str, Any]:
        self.latency_ms = int((time.monotonic() - self.started) * 1000)
        calls = []
        for _index, call in sorted(self.tool_calls.items()):
            try:
                arguments: Any = json.loads(call["arguments"]) if call["arguments"] else {}
            except ValueError:
                arguments = call["arguments"]  # what the model sent, as it sent it
            calls.append({"name": call["name"], "arguments": arguments})
        return {"content": "".join(self.content), "tool_calls": calls}


def _store(
    db: Database, principal: Principal, ready: _Prepared, request: dict[str, Any], call: _Call
) -> dict[str, Any]:
    reply = call.reply()
    called = ready.invocation
    run_input = {
        "variables": request.get("variables") or {},
        "messages": request["messages"],
        "tool_ids": [str(t) for t in request.get("tool_ids") or []],
    }
    with db.transaction(write=True) as session:
        run = PersonaRun(
            id=uuid.uuid4(),
            group_id=principal.group_id,
            persona_id=ready.persona_id,
            persona_version=ready.persona_version,
            persona_label=ready.persona_label,
            draft_id=ready.draft_id,
            invocation_id=called.invocation_id,
            invocation_version=called.invocation_version,
            profile_id=principal.profile_id,
            input=run_input,
            system=ready.system,
            reply=reply,
            prompt_tokens=call.usage["prompt_tokens"],
            completion_tokens=call.usage["completion_tokens"],
            latency_ms=call.latency_ms,
        )
        session.add(run)
        session.flush()
        audit.record(
            session,
            principal,
            "try",
            PERSONA.name,
            {
                "run_id": str(run.id),
                "persona_version": ready.persona_version,
                "label": ready.persona_label,
                "invocation_id": str(called.invocation_id),
                "invocation_version": called.invocation_version,
                "model": called.model,
                **call.usage,
            },
            artifact_id=ready.persona_id,
            draft_id=ready.draft_id,
        )
        return run_view(run)


def run_view(run: PersonaRun) -> dict[str, Any]:
    return {
        "run_id": str(run.id),
        "persona": {
            "id": run.persona_id and str(run.persona_id),
            "version": run.persona_version,
            "label": run.persona_label,
        },
        "draft_id": run.draft_id and str(run.draft_id),
        "invocation": {"id": run.invocation_id and str(run.invocation_id), "version": run.invocation_version},
        "system": run.system,
        "reply": run.reply,
        "usage": {"prompt_tokens": run.prompt_tokens, "completion_tokens": run.completion_tokens},
        "latency_ms": run.latency_ms,
    }


async def try_persona(db: Database, settings: Settings, principal: Principal, request: dict[str, Any]) -> Any:
    """The run's answer (a dict), or with `stream` an async iterator of SSE text: the reply's deltas, then the
    answer as an event of its own. Everything a person can fix (404, 422, 409, the endpoint refusing the
    request) is raised before the first byte."""
    slots = ExitStack()
    slots.enter_context(SLOTS.hold(principal.group_id, settings))
    try:
        ready = await anyio.to_thread.run_sync(_prepare, db, principal, request)
        call = _Call(ready, settings, request)
        answer = await call.start()
        if not request.get("stream"):
            try:
                call.take(answer)
            finally:
                await call.client.close()
            return await anyio.to_thread.run_sync(_store, db, principal, ready, request, call)
    except BaseException:
        slots.close()
        raise

    async def events() -> AsyncIterator[str]:
        try:
            async for text in call.deltas(answer):
                yield _event("delta", {"content": text})
            run = await anyio.to_thread.run_sync(_store, db, principal, ready, request, call)
            yield _event("run", run)
        except InvocationFailed as failed:
            yield _event("error", {"code": failed.code, "detail": failed.detail})
        finally:
            await call.client.close()
            slots.close()

    return events()


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def list_runs(
    session: Session, principal: Principal, persona_id: uuid.UUID, page_size: int, page_offset: int
) -> dict[str, Any]:
    row = get_artifact(session, PERSONA, principal.group_id, persona_id)
    where = (in_group(PersonaRun, principal.group_id), PersonaRun.persona_id == row.id)
    total = session.scalar(select(func.count()).select_from(PersonaRun).where(*where)) or 0
    runs = session.scalars(
        select(PersonaRun)
        .where(*where)
        .order_by(PersonaRun.created_at.desc(), PersonaRun.id.desc())
        .limit(page_size)
        .offset(page_offset)
    )
    return {
        "total_count": total,
        "runs": [
            {**run_view(run), "input": run.input, "created_at": run.created_at, "profile_id": run.profile_id}
            for run in runs
        ],
    }
