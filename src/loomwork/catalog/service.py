"""The resource catalog operations (API.md section 2): search, bulk create, get with users, bulk delete.

Every function is scoped to the caller's group; another group's resource behaves as one that
does not exist.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.bulk_items import run_items
from loomwork.catalog import usage
from loomwork.db import tallies
from loomwork.db.dialect import escape_like, fold, fold_text
from loomwork.errors import Conflict, NotFound
from loomwork.principal import Principal
from loomwork.resources import service
from loomwork.resources.kinds import ResourceKind
from loomwork.resources.models import Resource


def _view(resource_id: uuid.UUID, kind: ResourceKind, stored: str, created_at: Any) -> dict[str, Any]:
    value = kind.load(stored)
    return {
        "id": resource_id,
        "kind": kind.name,
        "value": kind.public(value),
        "label": kind.label(value),
        "created_at": created_at,
    }


def search(
    session: Session, kind: ResourceKind, principal: Principal, text: str | None, page_size: int, page_offset: int
) -> dict[str, Any]:
    """The group's resources of a kind, newest first, each with how many artifacts of each kind use it."""
    conditions = [*service.catalog_scope(principal.group_id, principal.profile_id), Resource.kind == kind.name]
    words = fold_text(text or "").split()
    for word in words:
        conditions.append(fold(Resource.value).like(f"%{escape_like(word)}%", escape="\\"))
    # Unsearched, the total is the group's tally of the kind: no count over every row.
    known = (
        None
        if words
        else service.count_of_kind(session, principal.group_id, [kind.name], principal.profile_id)[kind.name]
    )
    rows, total = service.newest_page(session, conditions, page_size, page_offset, known)
    counts = usage.usage_counts(session, principal.group_id, [row.id for row in rows])
    items = [{**_view(row.id, kind, row.value, row.created_at), "used_by": counts.get(row.id, {})} for row in rows]
    return {kind.plural: items, "total_count": total}


def create(session: Session, kind: ResourceKind, principal: Principal, raws: list[Any]) -> dict[str, Any]:
    """Each value validated, normalised and deduped on its own: a bad one fails only its item."""

    def create_one(item: tuple[int, Any]) -> dict[str, Any]:
        index, raw = item
        field = f"{kind.plural}[{index}]"  # the request's own field, so an error points at the item
        value = service.normalise_value(kind, raw, field)
        if kind.references:
            value = service.resolve_references(session, principal.group_id, kind, value, field, principal.profile_id)
        found = service.find_existing(session, principal.group_id, kind, value)
        # A value only someone's draft staged is new to this caller: creating it publishes it.
        existed = found is not None and _visible(session, principal, found)
        (rid,) = service.find_or_create(session, principal.group_id, kind, [value])
        service.publish(session, [rid])
        row = session.get_one(Resource, rid)
        view = _view(rid, kind, row.value, row.created_at)
        if not existed:
            audit.record(session, principal, "resource_create", kind.name, {"id": str(rid), "label": view["label"]})
        return {
            **view,
            "created": not existed,
            "message": f"{'Found the existing' if existed else 'Created the'} {kind.name}.",
        }

    return {"results": run_items(session, list(enumerate(raws)), create_one)}


def _visible(session: Session, principal: Principal, resource_id: uuid.UUID) -> bool:
    return (
        session.scalar(
            select(Resource.id).where(
                Resource.id == resource_id, *service.catalog_scope(principal.group_id, principal.profile_id)
            )
        )
        is not None
    )


def _require(session: Session, kind: ResourceKind, principal: Principal, resource_id: uuid.UUID) -> Resource:
    row = session.scalar(
        select(Resource).where(
            Resource.id == resource_id,
            Resource.kind == kind.name,
            *service.catalog_scope(principal.group_id, principal.profile_id),
        )
    )
    if row is None:
        raise NotFound(f"No {kind.name} with id {resource_id}.", field="id")
    return row


def get(session: Session, kind: ResourceKind, principal: Principal, resource_id: uuid.UUID) -> dict[str, Any]:
    row = _require(session, kind, principal, resource_id)
    users = usage.users(session, principal.group_id, [row.id], principal.profile_id)[row.id]
    return {**_view(row.id, kind, row.value, row.created_at), "users": users}


def delete_many(session: Session, kind: ResourceKind, principal: Principal, ids: list[uuid.UUID]) -> dict[str, Any]:
    """Each id fails alone: not found (or another group's), or `in_use` naming who still holds it."""

    def delete_one(resource_id: uuid.UUID) -> dict[str, Any]:
        row = _require(session, kind, principal, resource_id)
        holders = usage.users(session, principal.group_id, [row.id], principal.profile_id)[row.id]
        if holders:
            raise Conflict(
                f"The {kind.name} is still used by {_describe(holders)}; remove it there first.",
                code="in_use",
                users=holders,
            )
        session.execute(delete(Resource).where(Resource.id == row.id))
        if row.staged_by is None:  # a staged value was never in the group's tally
            tallies.add(session, principal.group_id, Counter({(service.tally_scope(kind.name), tallies.WHOLE): -1}))
        audit.record(
            session,
            principal,
            "resource_delete",
            kind.name,
            {"id": str(row.id), "label": kind.label(kind.load(row.value))},
        )
        return {"message": f"Deleted the {kind.name}."}

    results = run_items(session, ids, delete_one)
    for result, resource_id in zip(results, ids):
        result["id"] = resource_id
    return {"results": results}


def _describe(holders: list[usage.ResourceUser]) -> str:
    first = holders[0]
    what = f"{first['kind']} {first['name'] or first['id']}" if first["type"] != "draft" else f"a {first['kind']} draft"
    more = len(holders) - 1
    return what + (f" and {more} more" if more else "")
