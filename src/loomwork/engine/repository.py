"""The SQL for artifacts and their connections; services call these, never write SQL themselves."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from loomwork.db.base import utcnow
from loomwork.db.bulk_insert import insert_many
from loomwork.db.scoping import in_group
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState
from loomwork.engine.models import Artifact, Connection
from loomwork.errors import NotFound
from loomwork.resources.service import publish

connection_table: Table = Connection.__table__
artifact_table: Table = Artifact.__table__


@dataclass(frozen=True)
class ArtifactRow:
    id: uuid.UUID
    version: int


def get_artifact(
    session: Session,
    kind: ArtifactKind,
    group_id: uuid.UUID,
    artifact_id: uuid.UUID,
    field: str | None = None,
    *,
    lock: bool = False,
) -> ArtifactRow:
    """The artifact's id and version; `lock` holds its row until commit (PostgreSQL; SQLite writers are serial)."""
    query = select(Artifact.id, Artifact.version).where(
        Artifact.id == artifact_id, in_group(Artifact, group_id), Artifact.kind == kind.name
    )
    row = session.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"No {kind.name} with id {artifact_id}.", field=field or kind.id_field)
    return ArtifactRow(row.id, row.version)


def find_artifact(
    session: Session, kind: ArtifactKind, group_id: uuid.UUID, artifact_id: uuid.UUID, *, lock: bool = False
) -> ArtifactRow | None:
    try:
        return get_artifact(session, kind, group_id, artifact_id, lock=lock)
    except NotFound:
        return None


def ids_in_group(
    session: Session, kind: ArtifactKind, group_id: uuid.UUID, artifact_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of the ids are the group's artifacts of this kind, in one query."""
    ids = set(artifact_ids)
    query = select(Artifact.id).where(Artifact.id.in_(ids), in_group(Artifact, group_id), Artifact.kind == kind.name)
    return set(session.scalars(query)) if ids else set()


def ids_taken(session: Session, artifact_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of the ids any group's artifact holds (ids are global; existence elsewhere never shows), in one query."""
    ids = set(artifact_ids)
    return set(session.scalars(select(Artifact.id).where(Artifact.id.in_(ids)))) if ids else set()


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


def insert_artifacts(
    session: Session,
    kind: ArtifactKind,
    group_id: uuid.UUID,
    profile_id: uuid.UUID | None,
    artifact_ids: list[uuid.UUID],
) -> datetime:
    """New artifacts at version 1, in one statement however many; returns their creation time."""
    now = utcnow()
    insert_many(
        session,
        artifact_table,
        [
            {
                "id": artifact_id,
                "group_id": group_id,
                "kind": kind.name,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "created_by": profile_id,
                "updated_by": profile_id,
            }
            for artifact_id in artifact_ids
        ],
    )
    return now


def write_state(session: Session, artifact_id: uuid.UUID, state: FormState) -> None:
    session.execute(delete(Connection).where(Connection.artifact_id == artifact_id))
    insert_states(session, {artifact_id: state})


def insert_states(session: Session, states: dict[uuid.UUID, FormState]) -> None:
    """The connections of artifacts that have none yet, in one statement."""
    rows = [
        {
            "artifact_id": artifact_id,
            "slot": slot,
            "position": position,
            "resource_id": rid,
            "active": rid not in state.pending,
        }
        for artifact_id, state in states.items()
        for slot, ids in state.slots.items()
        for position, rid in enumerate(ids)
    ]
    if rows:
        insert_many(session, connection_table, rows)
        # A value a draft staged is the group's from its first connection on (one statement, however many).
        publish(session, select(Connection.resource_id).where(Connection.artifact_id.in_(list(states))))
