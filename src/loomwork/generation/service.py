"""Generate with AI: settings, the `*_show_ai_generate` flags, and drafting a step through the group's
own invocation (API.md section 11).

A generation reads what it needs in a short read transaction, calls the model with no transaction
open, then stores the answer as a proposal of the group's generator profile in one write transaction.
A failed or invalid answer raises `GeneratorFailed` (502) before anything is written.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import anyio.to_thread
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.config import Settings
from loomwork.db.base import utcnow
from loomwork.db.database import Database
from loomwork.db.scoping import in_group
from loomwork.engine import drafts, revisions
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState
from loomwork.engine.repository import get_artifact, load_state
from loomwork.errors import Conflict, Invalid, LoomworkError, NotFound
from loomwork.generation.models import GroupSettings
from loomwork.identity.models import Profile
from loomwork.kinds.invocation import INVOCATION
from loomwork.principal import Principal, Role
from loomwork.resources import secrets
from loomwork.resources import service as resources
from loomwork.resources.service import ResourceValue
from loomwork.urlsafety import AsyncPinnedTransport, check_url

if TYPE_CHECKING:  # the SDK itself is imported on first generation (see _complete)
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.shared_params import ResponseFormatJSONSchema

GENERATOR_NAME = "AI generator"
LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
# The levels OpenAI-compatible servers take as `reasoning_effort`; any other level is not sent.
REASONING_EFFORTS = frozenset({"minimal", "low", "medium", "high"})
# What of a failing endpoint's own words a person sees: enough to act on, never a whole page.
MAX_REASON_CHARS = 300
MAX_ITEMS_PER_FIELD = 20


class GeneratorFailed(LoomworkError):
    status = 502
    code = "generator_failed"
    meaning = "The group's AI generator failed or answered with something unusable; nothing was written."


@dataclass(frozen=True)
class Generator:
    """What one call needs, read from the invocation at the version in force."""

    invocation_id: uuid.UUID
    invocation_version: int
    endpoint: str
    model: str
    key: dict[str, Any] | None  # the stored key (encrypted, bound to an origin); decrypted only for the call
    temperature: float | None
    reasoning_effort: str | None


# --- settings ---------------------------------------------------------------------------------------------


def _settings_row(session: Session, group_id: uuid.UUID) -> GroupSettings | None:
    return session.get(GroupSettings, group_id)


def settings_view(session: Session, group_id: uuid.UUID) -> dict[str, Any]:
    row = _settings_row(session, group_id)
    if row is None or row.generator_invocation_id is None:
        return {"ai_generator": None}
    generator = read_generator(session, group_id, row)
    names = _slot_values(session, group_id, INVOCATION, load_state(session, generator.invocation_id))  # its name now
    return {
        "ai_generator": {
            "invocation_id": generator.invocation_id,
            "label": row.generator_label,
            "invocation_name": names.get("name"),
            "invocation_version": generator.invocation_version,
            "endpoint": generator.endpoint,
            "model": generator.model,
            "generator_profile_id": row.generator_profile_id,
        }
    }


def update_settings(
    session: Session, principal: Principal, ai_generator: dict[str, Any] | None, allow_private_urls: bool
) -> dict[str, Any]:
    row = _settings_row(session, principal.group_id)
    if row is None:
        row = GroupSettings(group_id=principal.group_id)
        session.add(row)
    if ai_generator is None:
        row.generator_invocation_id, row.generator_label, row.generator_version = None, None, None
    else:
        label = ai_generator.get("label")
        if label is not None and (label == "latest" or not LABEL.fullmatch(label)):
            raise Invalid(
                "ai_generator.label: a label is lowercase letters, digits, - and _ (at most 64), "
                "starting with a letter; leave it out to follow the newest version.",
                field="ai_generator.label",
            )
        invocation = get_artifact(
            session, INVOCATION, principal.group_id, ai_generator["invocation_id"], field="ai_generator.invocation_id"
        )
        row.generator_invocation_id, row.generator_label = invocation.id, label
        row.generator_version = _version_to_pin(session, invocation.id, invocation.version, label)
        # Refuse now what a generation would refuse later, while the person is here to fix it.
        try:
            generator = read_generator(session, principal.group_id, row)
        except GeneratorFailed as failed:
            raise Invalid(f"ai_generator.invocation_id: {failed.detail}", field="ai_generator.invocation_id") from None
        check_url(generator.endpoint, "ai_generator.invocation_id", allow_private=allow_private_urls)
        _check_key(generator, "ai_generator.invocation_id")
        if row.generator_profile_id is None:
            row.generator_profile_id = _new_generator_profile(session, principal.group_id, principal.profile_id)
    row.updated_at, row.updated_by = utcnow(), principal.profile_id
    session.flush()
    audit.record(
        session,
        principal,
        "settings",
        "settings",
        {
            "ai_generator": None
            if ai_generator is None
            else {"invocation_id": str(ai_generator["invocation_id"]), "label": ai_generator.get("label")}
        },
    )
    return settings_view(session, principal.group_id)


def _version_to_pin(session: Session, invocation_id: uuid.UUID, newest: int, label: str | None) -> int:
    """The version the generator runs until an admin sets it again: the label's version now, else the newest."""
    if label is None:
        return newest
    labelled = revisions.labels_of(session, invocation_id).get(label)
    if labelled is None:
        raise Invalid(
            f"ai_generator.label: the invocation has no label {label!r}; name one it has, or leave it out "
            "to run its newest version.",
            field="ai_generator.label",
        )
    return labelled


def _new_generator_profile(session: Session, group_id: uuid.UUID, sponsor_id: uuid.UUID | None) -> uuid.UUID:
    """The agent that generation proposes as: an agent profile of its own, sponsored by the admin who set the
    generator, so the queue and the audit trail say who proposed, and it can never decide."""
    taken = set(
        session.scalars(
            select(Profile.name).where(in_group(Profile, group_id), Profile.name.like(f"{GENERATOR_NAME}%"))
        )
    )
    name = next(n for n in (GENERATOR_NAME, *(f"{GENERATOR_NAME} {i}" for i in range(2, 1000))) if n not in taken)
    profile = Profile(
        id=uuid.uuid4(), group_id=group_id, name=name, role=Role.EDITOR, type="agent", sponsor_profile_id=sponsor_id
    )
    session.add(profile)
    session.flush()
    return profile.id


def ai_generate_flags(session: Session, kind: ArtifactKind, principal: Principal) -> dict[str, bool]:
    """`{step}_show_ai_generate`: a generator is set, the caller may edit, and the step has fields to draft."""
    may_edit = principal.has_role(Role.EDITOR) and not principal.via_agent
    configured = (
        may_edit
        and session.scalar(
            select(GroupSettings.generator_invocation_id).where(in_group(GroupSettings, principal.group_id))
        )
        is not None
    )
    return {f"{step}_show_ai_generate": bool(configured and kind.generated_slots(step)) for step in kind.steps}


# --- the invocation that generates -------------------------------------------------------------------------


def _live(state: FormState, values: dict[uuid.UUID, ResourceValue], slot_key: str) -> list[ResourceValue]:
    return [values[rid] for rid in state.ids(slot_key) if rid in values and rid not in state.pending]


def _slot_values(session: Session, group_id: uuid.UUID, kind: ArtifactKind, state: FormState) -> dict[str, Any]:
    """The form's live values as a person reads them, by the field that sets them (secrets left out)."""
    values = resources.load(session, group_id, state.all_ids())
    shown: dict[str, Any] = {}
    for slot in kind.slots:
        if slot.resource_kind.sensitive:
            continue
        live = [row.label if slot.resource_kind.references else row.public for row in _live(state, values, slot.key)]
        if live:  # by the field a model answers with, which `step_schema` names
            shown[slot.value_field or slot.id_field] = slot.shown(live)
    return shown


def read_generator(session: Session, group_id: uuid.UUID, row: GroupSettings) -> Generator:
    assert row.generator_invocation_id is not None
    invocation = get_artifact(
        session, INVOCATION, group_id, row.generator_invocation_id, field="ai_generator.invocation_id"
    )
    version = row.generator_version
    if version is None:  # never left unset by settings/update; a row from before versions were pinned
        raise GeneratorFailed("The generator names no version of its invocation: an admin sets it again.")
    return read_invocation(session, group_id, invocation.id, version)


def read_invocation(session: Session, group_id: uuid.UUID, invocation_id: uuid.UUID, version: int) -> Generator:
    """What a call through this version of an invocation needs (generation's and `personas/try`'s)."""
    # The version's own state (revisions keep each version whole), never the invocation as it is now.
    state = revisions.decode_state(revisions.load_revision(session, INVOCATION, invocation_id, version).state)
    values = resources.load(session, group_id, state.all_ids())
    endpoint = _live(state, values, "endpoint")
    if not endpoint:
        raise GeneratorFailed(
            "The generator invocation has no endpoint: give it the URL of an "
            "OpenAI-compatible server (for example http://localhost:11434/v1)."
        )
    model = _model_name(session, group_id, _live(state, values, "model_flag"))
    key = _live(state, values, "key")
    temperature = _live(state, values, "temperature_level")
    reasoning = _live(state, values, "reasoning_level")
    return Generator(
        invocation_id=invocation_id,
        invocation_version=version,
        endpoint=endpoint[0].value,
        model=model,
        key=key[0].value if key else None,
        temperature=_number(temperature[0].value) if temperature else None,
        reasoning_effort=reasoning[0].value.lower()
        if reasoning and reasoning[0].value.lower() in REASONING_EFFORTS
        else None,
    )


def _check_key(generator: Generator, field: str) -> None:
    """409 `key_origin_mismatch` when the invocation's key is not bound to its endpoint's origin."""
    if generator.key is not None:
        secrets.check_origin(generator.key, generator.endpoint, field)


def _model_name(session: Session, group_id: uuid.UUID, model_flags: list[ResourceValue]) -> str:
    """The model the invocation calls: the one flagged `invocation_role: primary`, else its first model."""
    if not model_flags:
        raise GeneratorFailed(
            "The generator invocation names no model: give it a model flag, for example "
            'model_flag_values: [{"model_id": ..., "type": "invocation_role", "value": "primary"}].'
        )
    ids = {uuid.UUID(row.value[f]) for row in model_flags for f in ("model_id", "flag_id")}
    linked = resources.load(session, group_id, ids)

    def is_primary(row: ResourceValue) -> bool:
        flag = linked.get(uuid.UUID(row.value["flag_id"]))
        return flag is not None and flag.value == {"type": "invocation_role", "value": "primary"}

    chosen = next((row for row in model_flags if is_primary(row)), model_flags[0])
    return str(linked[uuid.UUID(chosen.value["model_id"])].value)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 2 else None


# --- generate ----------------------------------------------------------------------------------------------


def step_schema(kind: ArtifactKind, step: str) -> dict[str, Any]:
    """The JSON Schema the model's answer must match: the step's value fields, derived from the declaration."""
    properties: dict[str, Any] = {}
    for slot in kind.generated_slots(step):
        if slot.value_field is None:  # generated_slots keeps only slots fed by values
            continue
        value = {**slot.resource_kind.value_schema, "description": slot.description or slot.key}
        properties[slot.value_field] = (
            {
                "type": "array",
                "items": slot.resource_kind.value_schema,
                "maxItems": MAX_ITEMS_PER_FIELD,
                "description": slot.description or slot.section,
            }
            if slot.many
            else value
        )
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _messages(
    kind: ArtifactKind, step: str, current: dict[str, Any], hint: str | None
) -> list[ChatCompletionMessageParam]:
    fields = ", ".join(slot.value_field for slot in kind.generated_slots(step) if slot.value_field)
    system = (
        f"You draft configuration for a {kind.name} in Loomwork, a registry of AI agent configuration. "
        f"A {kind.name} is: {kind.description} "
        f"Propose values for these fields only: {fields}. Answer with one JSON object that matches the JSON "
        "Schema you were given; leave out any field you would keep as it is. A person reviews your proposal."
    )
    user = json.dumps(
        {"current_values": current, "step": step, "request": hint or "Fill in this step."}, ensure_ascii=False
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


class TokenUsage(TypedDict):
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None


async def _complete(
    generator: Generator, settings: Settings, kind: ArtifactKind, step: str, messages: list[ChatCompletionMessageParam]
) -> tuple[dict[str, Any], TokenUsage]:
    """One chat completion asking for JSON, awaited on the event loop (no thread waits on the model), answered
    as the step's patch; the key lives in this call only."""
    import httpx2

    # The SDK is large: loaded on first generation, not with every worker, and in a thread, not on the loop.
    openai = await anyio.to_thread.run_sync(importlib.import_module, "openai")

    # The one gate every outbound use of a key passes: sent only to the origin it was bound to when entered.
    key = secrets.decrypt_for(generator.key, generator.endpoint) if generator.key else "none"
    extra: dict[str, Any] = {}
    if generator.temperature is not None:
        extra["temperature"] = generator.temperature
    if generator.reasoning_effort:
        extra["reasoning_effort"] = generator.reasoning_effort
    # The endpoint is resolved and checked again for each request, and the request goes to the checked
    # address (a name that now points inside is refused); a redirect is an answer, never followed.
    transport = AsyncPinnedTransport("endpoint", allow_private=settings.allow_private_urls)
    client = openai.AsyncOpenAI(
        api_key=key,
        base_url=generator.endpoint,
        timeout=settings.generator_timeout_s,
        max_retries=settings.generator_retries,
        http_client=httpx2.AsyncClient(transport=transport, follow_redirects=False, trust_env=False),
    )
    response_format: ResponseFormatJSONSchema = {
        "type": "json_schema",
        "json_schema": {"name": f"{kind.name}_{step}", "schema": step_schema(kind, step), "strict": False},
    }
    try:
        completion = await client.chat.completions.create(
            model=generator.model, messages=messages, response_format=response_format, **extra
        )
    except Invalid as refused:  # the endpoint's address, checked right before the request (PinnedTransport)
        raise _failed(f"The generator's {refused.detail}", key) from None
    except openai.APITimeoutError:
        raise _failed(
            f"The generator at {generator.endpoint} did not answer within {settings.generator_timeout_s:g} s.", key
        ) from None
    except openai.APIConnectionError:
        raise _failed(f"The generator at {generator.endpoint} cannot be reached.", key) from None
    except openai.APIStatusError as error:
        said = str(getattr(error, "message", "") or "")
        raise _failed(f"The generator answered HTTP {error.status_code}: {said}", key) from None
    except openai.OpenAIError as error:
        raise _failed(f"The generator call failed: {error}", key) from None
    finally:
        await client.close()
    choice = completion.choices[0] if completion.choices else None
    text = choice.message.content if choice and choice.message else None
    if not text:
        raise GeneratorFailed("The generator answered with no content.")
    try:
        answer = json.loads(text)
    except ValueError:
        raise GeneratorFailed("The generator's answer is not JSON.") from None
    if not isinstance(answer, dict):
        raise GeneratorFailed("The generator's answer is not a JSON object.")
    try:
        patch = _patch_from_answer(kind, step, answer)
    except GeneratorFailed as failed:  # it names the answer's own fields, which the endpoint chose
        raise _failed(failed.detail, key) from None
    usage = completion.usage
    tokens: TokenUsage = {
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
    }
    return patch, tokens


def _failed(reason: str, key: str) -> GeneratorFailed:
    """502 with the endpoint's own words, cut short and with no part of the key (whole, partial or encoded)."""
    said = secrets.scrub(reason[: MAX_REASON_CHARS * 4], key)
    return GeneratorFailed(said[: MAX_REASON_CHARS + 40])


def _patch_from_answer(kind: ArtifactKind, step: str, answer: dict[str, Any]) -> dict[str, Any]:
    allowed = {slot.value_field for slot in kind.generated_slots(step)}
    unknown = sorted(set(answer) - allowed)
    if unknown:
        raise GeneratorFailed(f"The generator's answer has fields outside the {step} step: {', '.join(unknown)}.")
    patch = {field: value for field, value in answer.items() if value not in (None, [], "")}
    if not patch:
        raise GeneratorFailed("The generator proposed no change; try again with a hint.")
    return patch


def _current_form(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    draft_id: uuid.UUID | None,
    artifact_id: uuid.UUID | None,
) -> FormState:
    """The form the proposal is drafted against; unknown or others' ids are 404 before any call is made."""
    if draft_id is not None:
        draft = drafts.load_draft(session, kind, principal, draft_id)
        drafts.require_open(session, kind, draft)
        return FormState.from_json(draft.form_state)
    if artifact_id is not None:
        return load_state(session, get_artifact(session, kind, principal.group_id, artifact_id).id)
    return FormState()


class TooManyGenerations(LoomworkError):
    status = 429
    code = "too_many_generations"
    meaning = "As many generations as allowed are under way (in this worker or for this group); try again soon."

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class GenerationSlots:
    """How many generations run at once in this worker process, in all and per group: past either bound a
    generation is refused at once (429) rather than queued, so slow endpoints cannot pile up work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._by_group: Counter[uuid.UUID] = Counter()

    @contextmanager
    def hold(self, group_id: uuid.UUID, settings: Settings) -> Iterator[None]:
        with self._lock:
            if self._running >= settings.max_generations:
                raise TooManyGenerations(
                    f"{self._running} generations are under way on this server, its limit "
                    "(LOOMWORK_MAX_GENERATIONS); try again in a few seconds."
                )
            if self._by_group[group_id] >= settings.max_generations_per_group:
                raise TooManyGenerations(
                    f"Your group has {self._by_group[group_id]} generations under way, its limit "
                    "(LOOMWORK_MAX_GENERATIONS_PER_GROUP); try again when one is done."
                )
            self._running += 1
            self._by_group[group_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._by_group[group_id] -= 1
                if not self._by_group[group_id]:
                    del self._by_group[group_id]


SLOTS = GenerationSlots()


@dataclass(frozen=True)
class _Prepared:
    generator: Generator
    generator_profile: uuid.UUID | None
    current: dict[str, Any]


def _prepare(
    db: Database, kind: ArtifactKind, principal: Principal, draft_id: uuid.UUID | None, artifact_id: uuid.UUID | None
) -> _Prepared:
    """The short read before the call: the form, the generator and its pinned version, the key's origin."""
    with db.transaction(write=False) as session:
        form = _current_form(session, kind, principal, draft_id, artifact_id)  # unknown ids: 404 first
        row = _settings_row(session, principal.group_id)
        if row is None or row.generator_invocation_id is None:
            raise Conflict(
                "No AI generator is set for this group; an admin names one with settings/update.",
                code="generator_not_configured",
            )
        generator = read_generator(session, principal.group_id, row)
        _check_key(generator, "key")
        return _Prepared(generator, row.generator_profile_id, _slot_values(session, principal.group_id, kind, form))


async def generate(
    db: Database,
    settings: Settings,
    kind: ArtifactKind,
    principal: Principal,
    request: dict[str, Any],
) -> str:
    """Draft one step with the group's generator; the answer becomes a proposal in the caller's draft.

    Runs on the event loop: the database work goes to worker threads for its moments, and the model call is
    awaited, so a slow endpoint holds none of the threads that serve other requests."""
    step, hint = request["step"], request.get("hint")
    draft_id, artifact_id = request.get("draft_id"), request.get(kind.id_field)
    if not kind.generated_slots(step):
        raise Invalid(f"step: the {step} step of a {kind.name} has no field a model may draft.", field="step")
    with SLOTS.hold(principal.group_id, settings):
        ready = await anyio.to_thread.run_sync(_prepare, db, kind, principal, draft_id, artifact_id)
        messages = _messages(kind, step, ready.current, hint)
        patch, tokens = await _complete(ready.generator, settings, kind, step, messages)
        target = {"draft_id": draft_id} if draft_id else ({kind.id_field: artifact_id} if artifact_id else {})
        try:
            typed = drafts.parse_patch(kind, {**target, **patch, "soft": True})
        except ValidationError as invalid:
            first = invalid.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise GeneratorFailed(f"The generator's answer is not valid: {where}: {first.get('msg')}.") from None
        return await anyio.to_thread.run_sync(_store, db, kind, principal, ready, typed, step, tokens)


def _store(
    db: Database,
    kind: ArtifactKind,
    principal: Principal,
    ready: _Prepared,
    typed: drafts.DraftPatch,
    step: str,
    tokens: TokenUsage,
) -> str:
    """The answer as a proposal of the generator profile, and the audit event, in one write transaction."""
    generator = ready.generator
    with db.transaction(write=True) as session:
        proposer = _generator_principal(session, principal.group_id, ready.generator_profile)
        try:
            text = drafts.patch_draft(session, kind, principal, typed, proposer=proposer)
        except Invalid as invalid:  # the values themselves (a color that is no color, say)
            raise GeneratorFailed(f"The generator's answer is not valid: {invalid.detail}") from None
        answer_body = json.loads(text)
        audit.record(
            session,
            principal,
            "generate",
            kind.name,
            {
                "step": step,
                "proposal": answer_body["idempotency_key"],
                "invocation_id": str(generator.invocation_id),
                "invocation_version": generator.invocation_version,
                "model": generator.model,
                **tokens,
            },
            artifact_id=answer_body["form_state"].get(kind.id_field)
            and uuid.UUID(answer_body["form_state"][kind.id_field]),
            draft_id=uuid.UUID(answer_body["draft_id"]),
        )
    return text


def _generator_principal(session: Session, group_id: uuid.UUID, profile_id: uuid.UUID | None) -> Principal:
    profile = session.get(Profile, profile_id) if profile_id else None
    if profile is None:  # the profile was removed since: make it again
        row = _settings_row(session, group_id)
        profile = session.get(Profile, _new_generator_profile(session, group_id, row.updated_by if row else None))
        if profile is None:
            raise NotFound("The generator profile could not be made.")
        if row is not None:
            row.generator_profile_id = profile.id
    return Principal(
        profile_id=profile.id,
        group_id=group_id,
        name=profile.name,
        role=profile.role,
        profile_type=profile.type,
        via_agent=True,
    )
