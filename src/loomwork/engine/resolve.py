"""Resolve, the runtime read (API.md section 9): one artifact's live values by field, at a label or version.

`resolve()` answers from a per-process cache keyed by (group, kind, id or name, label, version). No worker
serves a version older than a change (a revision, a label move, a delete) that has been answered:
- The `change_clock` row moves with each such change: in its transaction on SQLite (writers are serial),
  just after its commit and before its answer on PostgreSQL (engine/revisions.py). Each resolve reads the
  clock first (one primary-key read, in the request's own transaction), and an entry filled under another
  value is stale. Data read after the clock is at least as new as it.
- PostgreSQL also sends a notification on `loomwork_resolve` at each such commit; a listener thread per
  process LISTENs and empties the cache on each one, so a process that died between a commit and its tick
  leaves no stale entry behind.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from loomwork.db.dialect import Dialect, dialect_of
from loomwork.db.scoping import in_group
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState
from loomwork.engine.models import Artifact, ChangeClock, Connection, Label
from loomwork.engine.repository import get_artifact
from loomwork.engine.revisions import LABEL_PATTERN, LATEST, NOTIFY_CHANNEL, decode_state, load_revision
from loomwork.engine.sections import argument_schemas, template_parameters
from loomwork.errors import Conflict, Invalid, LoomworkError, NotFound
from loomwork.principal import Principal
from loomwork.resources import service as resources
from loomwork.resources.kinds import RESOURCE_KINDS, RejectedValue

log = logging.getLogger(__name__)
CACHE_ENTRIES = 10_000
_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]+")
# (group, kind, id or name, label, version): what a resolve was asked.
CacheKey = tuple[uuid.UUID, str, str, str | None, int | None]


# --- the compact config -------------------------------------------------------------------------------------


def config_of(session: Session, kind: ArtifactKind, group_id: uuid.UUID, state: FormState) -> dict[str, Any]:
    """The live values by field, derived from the declaration; pending connections are left out.

    Flags become `active` and `flags: {type: value}`; the declaration's hooks add the special shapes:
    TemplateParameters the `variables` the text uses, ToolArguments the `function` a model takes, and a
    model_flag slot folds models, their flags, positions and rubrics into `models`."""
    live = FormState({key: [rid for rid in ids if rid not in state.pending] for key, ids in state.slots.items()})
    values = resources.load(session, group_id, live.all_ids())
    folded = _folded_slots(kind)
    config: dict[str, Any] = {}
    for slot in kind.slots:
        shown = [values[rid].public for rid in live.ids(slot.key) if rid in values]
        if slot.resource == "flag":
            flags = {flag["type"]: flag["value"] for flag in shown}
            config["active"] = flags[kind.active_flag_type] == "true" if kind.active_flag_type in flags else None
            config["flags"] = flags
        elif slot.key not in folded:
            config[slot.field] = slot.shown(shown)
    if kind.parameters:
        config["variables"] = [p["name"] for p in template_parameters(kind.parameters, live, values)["parameters"]]
    if kind.arguments:
        schemas = argument_schemas(kind.arguments, live, values)
        name = config.get("name") or kind.name
        config["function"] = {
            "name": _FUNCTION_NAME.sub("_", name).strip("_")[:64] or kind.name,
            "description": config.get("description") or "",
            "parameters": schemas["arguments_schema"],
        }
        config["output_schema"] = schemas["output_schema"]
    if kind.model_flag_slot:
        config["models"] = _models(session, kind, group_id, live, values)
    return config


def _folded_slots(kind: ArtifactKind) -> set[str]:
    """Slots whose values appear inside a hook's shape rather than as a field of their own."""
    folded: set[str] = set()
    if kind.arguments:
        folded.add(kind.arguments.position_slot)  # the order of `args` and of the schema's properties
    if kind.model_flag_slot:
        folded |= {s.key for s in kind.slots if s.resource in ("model", "model_flag", "model_position", "model_rubric")}
    return folded


def _models(
    session: Session,
    kind: ArtifactKind,
    group_id: uuid.UUID,
    live: FormState,
    values: dict[uuid.UUID, resources.ResourceValue],
) -> list[dict[str, Any]]:
    """Each model (the model slot's, then any a model flag names) with its flags, position and rubric;
    positions and rubrics pair with the models by their order."""

    def slot_values(resource: str) -> list[resources.ResourceValue]:
        return [values[rid] for s in kind.slots if s.resource == resource for rid in live.ids(s.key) if rid in values]

    rows = slot_values("model_flag")
    referenced = {uuid.UUID(row.value[f]) for row in rows for f in ("model_id", "flag_id")}
    targets = resources.load(session, group_id, referenced) if referenced else {}
    order = [row.id for row in slot_values("model")]
    flags: dict[uuid.UUID, dict[str, str]] = {}
    for row in rows:
        model_id, flag_id = uuid.UUID(row.value["model_id"]), uuid.UUID(row.value["flag_id"])
        if model_id not in targets or flag_id not in targets:
            continue
        if model_id not in order:
            order.append(model_id)
            values.setdefault(model_id, targets[model_id])
        flag = targets[flag_id].value
        flags.setdefault(model_id, {})[flag["type"]] = flag["value"]
    positions, rubrics = slot_values("model_position"), slot_values("model_rubric")
    return [
        {
            "id": model_id,
            "model": values[model_id].public,
            "flags": flags.get(model_id, {}),
            "position": positions[i].public if i < len(positions) else None,
            "rubric": rubrics[i].public if i < len(rubrics) else None,
        }
        for i, model_id in enumerate(order)
    ]


# --- resolve ------------------------------------------------------------------------------------------------


def resolve(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    id_or_name: uuid.UUID | str,
    label: str | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """`{K_id, kind, version, label, etag, config}` of the artifact named by id or exact current name, at
    `version` when given, else at `label` (default `latest`). Cached per process (see the module doc)."""
    if version is None:
        label = label or LATEST
        if label != LATEST and not LABEL_PATTERN.match(label):
            raise Invalid("label: a label is a lowercase letter, then up to 63 of a-z, 0-9, _ and -.", field="label")
    cache = cache_for(session.get_bind().engine)
    key: CacheKey = (principal.group_id, kind.name, str(id_or_name), label, version)
    token = cache.token(session)
    if token is not None:
        hit = cache.get(key, token)
        if hit is not None:
            return hit
    answer = _resolve_uncached(session, kind, principal, id_or_name, label, version)
    if token is not None:
        cache.put(key, token, answer)
    return answer


@dataclass(frozen=True)
class ResolveItem:
    """One item of a batch read: which kind, by id or exact name (`target`; None when neither was given)."""

    kind: str
    target: uuid.UUID | str | None
    label: str | None = None
    version: int | None = None


def resolve_many(
    session: Session, kinds: Mapping[str, ArtifactKind], principal: Principal, items: Sequence[ResolveItem]
) -> dict[str, Any]:
    """`{results, etag}` (API.md section 14): each item resolved on its own, from the same cache as `resolve`;
    an item that fails answers its status, code and detail, and the others still answer. Every failure is
    raised before any SQL error could spoil the shared read transaction (ids, names and labels are checked
    in Python or found missing by a query that simply answers nothing).

    `etag` hashes every item's ETag or error in order, so a client holding a whole set revalidates it at once."""
    results: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            kind = kinds[item.kind]
            if item.target is None:
                raise Invalid(f"items[{index}]: give the {item.kind}'s id or its exact name (one of id and name).")
            answer = resolve(session, kind, principal, item.target, item.label, item.version)
        except LoomworkError as error:
            results.append({"index": index, "success": False, "status": error.status, **error.body()})
            continue
        found = {key: value for key, value in answer.items() if key != kind.id_field}
        results.append({"index": index, "success": True, "id": answer[kind.id_field], **found})
    return {"results": results, "etag": batch_etag(results)}


def batch_etag(results: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for result in results:
        part = result["etag"] if result["success"] else f"{result['status']} {result['code']} {result['detail']}"
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()[:40]


def _resolve_uncached(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    id_or_name: uuid.UUID | str,
    label: str | None,
    version: int | None,
) -> dict[str, Any]:
    artifact_id = _find(session, kind, principal.group_id, id_or_name)
    if version is None:
        if label == LATEST:
            version = get_artifact(session, kind, principal.group_id, artifact_id).version
        else:
            version = session.scalar(select(Label.version).where(Label.artifact_id == artifact_id, Label.name == label))
            if version is None:
                raise NotFound(f"label: the {kind.name} {artifact_id} has no label {label}.", field="label")
    found = load_revision(session, kind, artifact_id, version)
    return {
        kind.id_field: artifact_id,
        "kind": kind.name,
        "version": version,
        "label": label,
        "etag": found.content_hash,
        "config": config_of(session, kind, principal.group_id, decode_state(found.state)),
    }


def _find(session: Session, kind: ArtifactKind, group_id: uuid.UUID, id_or_name: uuid.UUID | str) -> uuid.UUID:
    """An artifact by id, or by its exact current name: none is 404, two or more 409 ambiguous_name."""
    if isinstance(id_or_name, uuid.UUID):
        return get_artifact(session, kind, group_id, id_or_name).id
    try:
        return get_artifact(session, kind, group_id, uuid.UUID(id_or_name)).id
    except ValueError:
        pass
    name_kind = RESOURCE_KINDS[kind.name_slot.resource]
    try:  # text no name can hold (a NUL, a lone surrogate from a URL) never reaches SQL
        id_or_name.encode("utf-8")
        exact = "\x00" not in id_or_name and name_kind.normalise(id_or_name) == id_or_name
    except (RejectedValue, UnicodeEncodeError):
        exact = False
    name_id = resources.find_existing(session, group_id, name_kind, id_or_name) if exact else None
    ids = (
        []
        if name_id is None
        else list(
            session.scalars(
                select(Connection.artifact_id)
                .join(Artifact, Artifact.id == Connection.artifact_id)
                .where(
                    Connection.resource_id == name_id,
                    Connection.slot == kind.name_slot.key,
                    Connection.active.is_(True),
                    in_group(Artifact, group_id),
                    Artifact.kind == kind.name,
                )
                .order_by(Connection.artifact_id)
                .limit(100)
            )
        )
    )
    if not ids:
        raise NotFound(f"No {kind.name} with the id or exact name {id_or_name!r}.", field="name")
    if len(ids) > 1:
        raise Conflict(
            f"{len(ids)} {kind.plural} are named {id_or_name!r}; resolve one of them by id.",
            code="ambiguous_name",
            field="name",
            **{kind.ids_field: [str(i) for i in ids]},
        )
    return ids[0]


# --- the per-process cache ----------------------------------------------------------------------------------


class ResolveCache:
    """Answers by key, each tagged with the change token it was filled under; a bounded LRU."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = dialect_of(engine)
        self.entries: OrderedDict[CacheKey, tuple[int, dict[str, Any]]] = OrderedDict()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self._listener: threading.Thread | None = None

    def token(self, session: Session) -> int | None:
        """The change clock, read in the request's own transaction before the data: an entry filled now holds
        data at least this new."""
        if self.dialect is Dialect.POSTGRESQL:
            self._start_listener()
        return session.scalar(select(ChangeClock.value).where(ChangeClock.id == 1))

    def get(self, key: CacheKey, token: int) -> dict[str, Any] | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] != token:
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: CacheKey, token: int, answer: dict[str, Any]) -> None:
        with self.lock:
            self.entries[key] = (token, answer)
            self.entries.move_to_end(key)
            while len(self.entries) > CACHE_ENTRIES:
                self.entries.popitem(last=False)

    def invalidate(self) -> None:
        with self.lock:
            self.entries.clear()

    # PostgreSQL: LISTEN on a connection of its own, in a daemon thread.

    def _start_listener(self) -> None:
        if self._listener is not None:
            return
        with self.lock:
            if self._listener is None:
                event.listen(self.engine, "engine_disposed", lambda _engine: self.stop())
                self._listener = threading.Thread(target=self._listen, name="loomwork-resolve-listener", daemon=True)
                self._listener.start()

    def _listen(self) -> None:
        while not self.stopped.is_set():
            try:
                raw = self.engine.raw_connection()
                try:
                    driver = raw.driver_connection
                    if not isinstance(driver, psycopg.Connection):  # the engine's URL names psycopg on PostgreSQL
                        raise LoomworkError(f"The resolve cache listens through psycopg, not {type(driver).__name__}.")
                    driver.autocommit = True
                    driver.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.invalidate()  # anything may have changed while nobody listened
                    while not self.stopped.is_set():  # wakes each second to see whether the engine is gone
                        for _notice in driver.notifies(timeout=1.0):
                            self.invalidate()
                finally:
                    raw.invalidate()  # never back into the pool: it is listening
            except Exception:
                self.invalidate()
                log.warning("resolve cache listener lost its connection; retrying", exc_info=True)
                self.stopped.wait(1)

    def stop(self) -> None:
        self.stopped.set()
        with _caches_lock:
            if _caches.get(id(self.engine)) is self:
                del _caches[id(self.engine)]


_caches: dict[int, ResolveCache] = {}
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> ResolveCache:
    found = _caches.get(id(engine))
    if found is None or found.engine is not engine:
        with _caches_lock:
            found = _caches.get(id(engine))
            if found is None or found.engine is not engine:
                found = _caches[id(engine)] = ResolveCache(engine)
    return found
