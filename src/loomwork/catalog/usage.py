"""Who uses a resource: artifacts through their connections, open drafts through their forms, and
other resources that point at it (an argument position at its argument, a model flag at its model).

Each question is one query for a whole page of resources, never one per resource.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any, Literal, TypedDict

from sqlalchemy import ColumnElement, ColumnExpressionArgument, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from loomwork.db.dialect import escape_like
from loomwork.db.scoping import in_group
from loomwork.engine.models import Artifact, Connection, Draft, DraftStatus
from loomwork.resources.kinds import RESOURCE_KINDS
from loomwork.resources.models import Resource
from loomwork.resources.service import catalog_scope


class UsageCount(TypedDict):
    active: int
    pending: int


class ResourceUser(TypedDict):
    type: Literal["artifact", "draft", "resource"]
    id: uuid.UUID
    kind: str
    name: str | None
    slot: str
    active: bool


UsersById = dict[uuid.UUID, list[ResourceUser]]


def usage_counts(session: Session, group_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, UsageCount]]:
    """Per resource: per artifact kind, how many artifacts use it live (`active`) and how many only pending."""
    counts: dict[uuid.UUID, dict[str, UsageCount]] = defaultdict(dict)
    if not ids:
        return counts
    rows = session.execute(
        select(
            Connection.resource_id, Artifact.kind, Connection.active, func.count(func.distinct(Connection.artifact_id))
        )
        .join(Artifact, Artifact.id == Connection.artifact_id)
        .where(Connection.resource_id.in_(ids), in_group(Artifact, group_id))
        .group_by(Connection.resource_id, Artifact.kind, Connection.active)
    )
    for resource_id, kind, active, n in rows:
        per_kind = counts[resource_id].setdefault(kind, {"active": 0, "pending": 0})
        per_kind["active" if active else "pending"] += n
    return counts


def users(session: Session, group_id: uuid.UUID, ids: list[uuid.UUID], profile_id: uuid.UUID | None) -> UsersById:
    """Per resource: every artifact slot, open draft of `profile_id` and resource that holds it (empty list:
    unused). Other people's drafts are private: they are not listed, and they hold nothing back from a delete
    (a commit drops a value deleted since, see engine.drafts.take_for_commit)."""
    found: UsersById = {rid: [] for rid in ids}
    if not ids:
        return found
    _artifact_users(session, group_id, ids, found)
    _draft_users(session, group_id, ids, profile_id, found)
    _resource_users(session, group_id, ids, profile_id, found)
    return found


def _artifact_users(session: Session, group_id: uuid.UUID, ids: list[uuid.UUID], found: UsersById) -> None:
    rows = session.execute(
        select(Connection.resource_id, Connection.artifact_id, Artifact.kind, Connection.slot, Connection.active)
        .join(Artifact, Artifact.id == Connection.artifact_id)
        .where(Connection.resource_id.in_(ids), in_group(Artifact, group_id))
        .order_by(Artifact.kind, Connection.artifact_id, Connection.slot)
    ).all()
    names = _artifact_names(session, {row.artifact_id for row in rows})
    for row in rows:
        found[row.resource_id].append(
            {
                "type": "artifact",
                "id": row.artifact_id,
                "kind": row.kind,
                "name": names.get(row.artifact_id),
                "slot": row.slot,
                "active": row.active,
            }
        )


def _artifact_names(session: Session, artifact_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not artifact_ids:
        return {}
    rows = session.execute(
        select(Connection.artifact_id, Resource.value)
        .join(Resource, Resource.id == Connection.resource_id)
        .where(Connection.artifact_id.in_(artifact_ids), Connection.slot == "name")
    )
    return dict(rows.all())


def _contains_any(column: ColumnExpressionArgument[Any], ids: list[uuid.UUID]) -> ColumnElement[bool]:
    """A JSON text that mentions any of the ids (narrowed in Python, since text may mention more)."""
    return or_(*(cast(column, Text).like(f"%{escape_like(str(rid))}%", escape="\\") for rid in ids))


def _draft_users(
    session: Session, group_id: uuid.UUID, ids: list[uuid.UUID], profile_id: uuid.UUID | None, found: UsersById
) -> None:
    rows = session.execute(
        select(Draft.id, Draft.kind, Draft.form_state).where(
            in_group(Draft, group_id),
            Draft.profile_id == profile_id,
            Draft.status == DraftStatus.OPEN,
            _contains_any(Draft.form_state, ids),
        )
    )
    for draft_id, kind, form_state in rows:
        for slot, selected in (form_state or {}).get("slots", {}).items():
            for rid in ids:
                if str(rid) in selected:
                    found[rid].append(
                        {"type": "draft", "id": draft_id, "kind": kind, "name": None, "slot": slot, "active": False}
                    )


def _resource_users(
    session: Session, group_id: uuid.UUID, ids: list[uuid.UUID], profile_id: uuid.UUID | None, found: UsersById
) -> None:
    pointing = [name for name, kind in RESOURCE_KINDS.items() if kind.references]
    rows = session.execute(
        select(Resource.id, Resource.kind, Resource.value).where(
            *catalog_scope(group_id, profile_id), Resource.kind.in_(pointing), _contains_any(Resource.value, ids)
        )
    )
    for resource_id, kind_name, stored in rows:
        kind = RESOURCE_KINDS[kind_name]
        value = kind.load(stored)
        for field, _target in kind.references:
            rid = uuid.UUID(value[field])
            if rid in found:
                found[rid].append(
                    {
                        "type": "resource",
                        "id": resource_id,
                        "kind": kind_name,
                        "name": kind.label(value),
                        "slot": field,
                        "active": True,
                    }
                )
