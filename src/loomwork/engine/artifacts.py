"""The artifact service: create, update, duplicate, delete and read artifacts of any kind.

Services flush, never commit: the router's transaction commits once per request.
Bulk operations run each item in a savepoint, so a failed item changes nothing
while the others go through.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from loomwork.db.base import utcnow
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState, apply_patch
from loomwork.engine.models import Artifact, Connection
from loomwork.errors import Conflict, Invalid, LoomworkError, NotFound
from loomwork.identity.service import Principal
from loomwork.resources import service as resources
from loomwork.resources.kinds import RESOURCE_KINDS

MAX_BULK_ITEMS = 1000
connection_table = Connection.__table__


@dataclass(frozen=True)
class ArtifactRow:
    id: uuid.UUID
    version: int


def get_artifact(session: Session, kind: ArtifactKind, group_id: uuid.UUID, artifact_id: uuid.UUID,
                 field: str | None = None, *, lock: bool = False) -> ArtifactRow:
    """The artifact's id and version; `lock` holds its row until commit (PostgreSQL; SQLite writers are serial)."""
    query = select(Artifact.id, Artifact.version).where(
        Artifact.id == artifact_id, Artifact.group_id == group_id, Artifact.kind == kind.name
    )
    row = session.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"No {kind.name} with id {artifact_id}.", field=field or kind.id_field)
    return ArtifactRow(row.id, row.version)


def load_states(session: Session, artifact_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, FormState]:
    """The connections of many artifacts in one query."""
    ids = list(artifact_ids)
    states = {aid: FormState() for aid in ids}
    if not ids:
        return states
    rows = session.execute(
        select(Connection.artifact_id, Connection.slot, Connection.resource_id, Connection.active)
        .where(Connection.artifact_id.in_(ids))
        .order_by(Connection.artifact_id, Connection.slot, Connection.position)
    )
    for artifact_id, slot, resource_id, active in rows:
        state = states[artifact_id]
        state.slots.setdefault(slot, []).append(resource_id)
        if not active:
            state.pending.add(resource_id)
    return states


def load_state(session: Session, artifact_id: uuid.UUID) -> FormState:
    return load_states(session, [artifact_id])[artifact_id]


def write_state(session: Session, artifact_id: uuid.UUID, state: FormState) -> None:
    session.execute(delete(Connection).where(Connection.artifact_id == artifact_id))
    rows = [
        {"artifact_id": artifact_id, "slot": slot, "position": position, "resource_id": rid,
         "active": rid not in state.pending}
        for slot, ids in state.slots.items()
        for position, rid in enumerate(ids)
    ]
    if rows:
        session.execute(insert(connection_table), rows)


def require_complete(kind: ArtifactKind, state: FormState) -> None:
    for slot in kind.slots:
        if slot.required and not state.ids(slot.key):
            raise Invalid(
                f"{slot.value_field}: a {kind.name} needs a {slot.key} (give {slot.value_field} or {slot.id_field}).",
                field=slot.value_field,
            )


def insert_artifact(session: Session, kind: ArtifactKind, principal: Principal, state: FormState) -> ArtifactRow:
    require_complete(kind, state)
    now = utcnow()
    artifact_id = uuid.uuid4()
    session.execute(
        insert(Artifact.__table__).values(
            id=artifact_id, group_id=principal.group_id, kind=kind.name, version=1, created_at=now,
            updated_at=now, created_by=principal.profile_id, updated_by=principal.profile_id,
        )
    )
    write_state(session, artifact_id, state)
    return ArtifactRow(artifact_id, 1)


def commit_state(
    session: Session, kind: ArtifactKind, principal: Principal, current: ArtifactRow, state: FormState,
    expected_version: int | None,
) -> ArtifactRow:
    """Write a new state with an atomic version check: the UPDATE only matches the version we read."""
    if expected_version is not None and expected_version != current.version:
        raise _version_conflict(kind, current.version, expected_version)
    require_complete(kind, state)
    result = session.execute(
        update(Artifact)
        .where(Artifact.id == current.id, Artifact.version == current.version)
        .values(version=Artifact.version + 1, updated_at=utcnow(), updated_by=principal.profile_id)
    )
    if result.rowcount != 1:  # someone committed between our read and this write
        latest = session.scalar(select(Artifact.version).where(Artifact.id == current.id))
        raise _version_conflict(kind, latest, expected_version)
    write_state(session, current.id, state)
    return ArtifactRow(current.id, current.version + 1)


def _version_conflict(kind: ArtifactKind, current: int | None, expected: int | None) -> Conflict:
    return Conflict(
        f"The {kind.name} is at version {current}, not {expected}; reload it and apply your change again.",
        code="version_conflict", current_version=current,
    )


def create_item(session: Session, kind: ArtifactKind, principal: Principal, item: dict[str, Any]) -> ArtifactRow:
    state = apply_patch(session, principal.group_id, kind, FormState(), item)
    return insert_artifact(session, kind, principal, state)


def update_item(session: Session, kind: ArtifactKind, principal: Principal, item: dict[str, Any]) -> ArtifactRow:
    current = get_artifact(session, kind, principal.group_id, item[kind.id_field], lock=True)
    before = load_state(session, current.id)
    state = apply_patch(session, principal.group_id, kind, before, item)
    if state == before.normalised() and item.get("expected_version") in (None, current.version):
        return current  # nothing changed: no new version
    return commit_state(session, kind, principal, current, state, item.get("expected_version"))


def duplicate(session: Session, kind: ArtifactKind, principal: Principal, artifact_id: uuid.UUID) -> ArtifactRow:
    source = get_artifact(session, kind, principal.group_id, artifact_id)
    state = load_state(session, source.id)
    names = resources.load(session, principal.group_id, state.ids("name"))
    base = names[state.ids("name")[0]].value if state.ids("name") else kind.title
    copy_name = resources.normalise_value(RESOURCE_KINDS["name"], f"{base} (copy)", "name")
    state.slots["name"] = resources.find_or_create(session, principal.group_id, RESOURCE_KINDS["name"], [copy_name])
    return insert_artifact(session, kind, principal, state)


def delete_one(session: Session, kind: ArtifactKind, principal: Principal, artifact_id: uuid.UUID) -> None:
    get_artifact(session, kind, principal.group_id, artifact_id, lock=True)
    session.execute(delete(Artifact).where(Artifact.id == artifact_id))


def run_items(
    session: Session, items: Sequence[Any], operation: Callable[[Any], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run each item in its own savepoint: a failure rolls back that item only and is reported in its result."""
    results = []
    for index, item in enumerate(items):
        try:
            with session.begin_nested():
                outcome = operation(item)
            results.append({"index": index, "success": True, "code": None, "field": None, **outcome})
        except LoomworkError as error:
            body = error.body()
            results.append({"index": index, "success": False, "message": body.pop("detail"), **body})
    return results
