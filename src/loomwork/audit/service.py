"""Recording and searching the audit trail: who changed, proposed or decided what, when, and whether
through an agent.

Services call `record` (or `record_state`) the moment they change something. The events wait in the
session and are written in one multi-row INSERT just before the request's transaction commits, so a
change and its event commit or roll back together, and a bulk request pays one statement for all its
events. An item whose savepoint rolls back takes its events with it (`forget_since`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from loomwork.audit.models import AuditEvent
from loomwork.db.base import utcnow
from loomwork.db.paging import page_with_total
from loomwork.db.scoping import in_group
from loomwork.errors import Invalid
from loomwork.principal import Principal
from loomwork.resources import service as resources

PENDING = "loomwork.audit.pending"
LABELS = "loomwork.audit.labels"
LABEL_CHUNK = 5000  # ids per label query: a large import must stay under the databases' parameter limits
audit_table = AuditEvent.__table__


# What the trail reads of an artifact kind and its states (the engine's ArtifactKind, Slot and FormState):
# the engine records to audit, so audit names only what it needs and never imports the engine.
class TrailSlot(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def field(self) -> str: ...
    def shown(self, values: Sequence[Any]) -> Any: ...
    @property
    def section(self) -> str: ...
    @property
    def many(self) -> bool: ...


class TrailKind(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def slots(self) -> Sequence[TrailSlot]: ...


class TrailState(Protocol):
    @property
    def pending(self) -> AbstractSet[uuid.UUID]: ...
    def ids(self, key: str) -> list[uuid.UUID]: ...
    def all_ids(self) -> set[uuid.UUID]: ...


@dataclass
class _Pending:
    """One event to write; an artifact's states become `changes` at write time, when every label
    of the request is loaded in one query."""

    row: dict[str, Any]
    kind: TrailKind | None = None
    before: TrailState | None = None
    after: TrailState | None = None


def record(
    session: Session,
    principal: Principal,
    action: str,
    kind: str,
    changes: dict[str, Any],
    *,
    artifact_id: uuid.UUID | None = None,
    draft_id: uuid.UUID | None = None,
) -> None:
    _queue(session, _Pending(_row(principal, action, kind, changes, artifact_id, draft_id)))


def record_state(
    session: Session,
    principal: Principal,
    action: str,
    kind: TrailKind,
    artifact_id: uuid.UUID,
    before: TrailState | None,
    after: TrailState | None,
    *,
    draft_id: uuid.UUID | None = None,
    **changes: Any,
) -> None:
    """An artifact change: without `before` its values were set (create), without `after` removed (delete),
    with both each changed field shows before and after."""
    row = _row(principal, action, kind.name, changes, artifact_id, draft_id)
    _queue(session, _Pending(row, kind, before, after))


def _row(
    principal: Principal,
    action: str,
    kind: str,
    changes: dict[str, Any],
    artifact_id: uuid.UUID | None,
    draft_id: uuid.UUID | None,
) -> dict[str, Any]:
    return {
        "group_id": principal.group_id,
        "profile_id": principal.profile_id,
        "profile_name": principal.name,
        "via_agent": principal.via_agent,
        "key_id": principal.key_id,
        "at": utcnow(),
        "action": action,
        "kind": kind,
        "artifact_id": artifact_id,
        "draft_id": draft_id,
        "changes": changes,
    }


def _queue(session: Session, pending: _Pending) -> None:
    session.info.setdefault(PENDING, []).append(pending)


def mark(session: Session) -> int:
    """How many events wait now; `forget_since(session, mark)` drops the ones recorded after."""
    return len(session.info.get(PENDING, []))


def forget_since(session: Session, position: int) -> None:
    del session.info.get(PENDING, [])[position:]


def remember_labels(session: Session, labels: dict[uuid.UUID, str]) -> None:
    """Labels the caller holds already (bulk create), so the write at commit need not read them back.
    Resources never change, so a label stays true whatever happens to the transaction."""
    session.info.setdefault(LABELS, {}).update(labels)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    # A savepoint's release fires this too: its events wait for the request's own commit.
    if session.in_nested_transaction():
        return
    pending: list[_Pending] = session.info.pop(PENDING, [])
    known: dict[uuid.UUID, str] = session.info.pop(LABELS, {})
    if not pending:
        return
    ids = {rid for p in pending for state in (p.before, p.after) if state for rid in state.all_ids()}
    labels = {rid: known[rid] for rid in ids if rid in known}
    labels.update(_labels(session, ids - labels.keys()))
    rows = [
        {**p.row, "changes": {**p.row["changes"], **_state_changes(p, labels)}} if p.kind else p.row for p in pending
    ]
    session.execute(insert(audit_table), rows)


def _labels(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Every value's label, taken now: the trail keeps saying what it was after the resource is gone.
    (Ids come from states the engine already scoped to the group.)"""
    ordered, labels = list(ids), {}
    for start in range(0, len(ordered), LABEL_CHUNK):
        loaded = resources.load_unscoped(session, ordered[start : start + LABEL_CHUNK])
        labels.update({rid: value.label for rid, value in loaded.items()})
    return labels


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:  # the whole transaction is gone, and every event with it
        session.info.pop(PENDING, None)
        session.info.pop(LABELS, None)


# --- what changed -------------------------------------------------------------------------------------------


def _shown(slot: TrailSlot, state: TrailState, labels: dict[uuid.UUID, str]) -> Any:
    values = [
        {"id": str(rid), "label": labels.get(rid), **({"pending": True} if rid in state.pending else {})}
        for rid in state.ids(slot.key)
    ]
    return slot.shown(values)


def _state_changes(pending: _Pending, labels: dict[uuid.UUID, str]) -> dict[str, Any]:
    kind, before, after = pending.kind, pending.before, pending.after
    if kind is None:  # only an artifact's event carries states
        return {}
    if before is None or after is None:
        state = after or before
        if state is None:  # neither side has a form: nothing was set
            return {"values": {}}
        return {"values": {s.field: _shown(s, state, labels) for s in kind.slots if state.ids(s.key)}}
    fields: dict[str, dict[str, Any]] = {}
    for slot in kind.slots:
        old, new = _shown(slot, before, labels), _shown(slot, after, labels)
        if old != new:
            fields[slot.field] = {"before": old, "after": new}
    return {"fields": fields}


# --- searching ----------------------------------------------------------------------------------------------


def search(session: Session, principal: Principal, filters: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    """The group's events matching every filter given, newest first, and how many match in all."""
    since, until = filters.get("since"), filters.get("until")
    if since is not None and until is not None and until < since:  # equal: an empty window, nothing found
        raise Invalid("until: must not be earlier than since.", field="until")
    conditions = [in_group(AuditEvent, principal.group_id)]
    for name, column in (
        ("artifact_id", AuditEvent.artifact_id),
        ("artifact_kind", AuditEvent.kind),
        ("profile_id", AuditEvent.profile_id),
    ):
        if filters.get(name) is not None:
            conditions.append(column == filters[name])
    if since is not None:
        conditions.append(AuditEvent.at >= since)
    if until is not None:
        conditions.append(AuditEvent.at < until)
    page, total = page_with_total(
        session,
        select(AuditEvent).where(*conditions).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()),
        limit,
        offset,
    )
    events = [event for (event,) in page]
    return {"events": [_view(e) for e in events], "total_count": total}


def _view(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "action": row.action,
        "kind": row.kind,
        "artifact_id": row.artifact_id,
        "draft_id": row.draft_id,
        "profile_id": row.profile_id,
        "profile_name": row.profile_name,
        "via_agent": row.via_agent,
        "key_id": row.key_id,
        "changes": row.changes,
    }


def were_in_group(session: Session, group_id: uuid.UUID, artifact_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of the artifacts the group's own trail names (it made them once, perhaps deleted them since)."""
    ids = set(artifact_ids)
    query = select(AuditEvent.artifact_id).where(in_group(AuditEvent, group_id), AuditEvent.artifact_id.in_(ids))
    return set(session.scalars(query.distinct())) if ids else set()
