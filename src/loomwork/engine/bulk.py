"""Bulk create in a fixed number of SQL statements per request, whatever the number of items.

Every item's form is worked out in Python first, by the same rules as any other write
(`form.apply_patch_with`), against a plan of the group's resources read ahead for the whole
request (`resources.planned`). An item that fails is answered and skipped, so it writes
nothing: no artifact, connection, search document, audit event or value of its own. Then the
new values that the surviving items use are created (one insert and one select per resource
kind) and their artifacts, connections, search documents and audit events go in with one
multi-row statement each.

What the plan cannot decide up front goes through the per-item path (`artifacts.create_item`,
each in its own savepoint) after the batch: an item that commits a draft (the draft is read,
locked and marked committed), and one whose rules need the database half-way (a reference
such as `{arg_id, position}` given by value, a model flag set by `model_flag_values`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.bulk_items import failed, run_item, succeeded
from loomwork.engine import revisions, search
from loomwork.engine.artifacts import create_item, operation_of, require_complete
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState, apply_patch_with, referenced_ids, with_aliases_resolved
from loomwork.engine.repository import ArtifactRow, insert_artifacts, insert_states
from loomwork.errors import LoomworkError
from loomwork.principal import Principal
from loomwork.resources.planned import NeedsOwnTransaction, PlannedResolver
from loomwork.resources.service import normalise_value

Answer = Callable[[ArtifactRow], dict[str, Any]]


@dataclass(frozen=True)
class NewArtifact:
    """An artifact just inserted, as its search document is keyed and dated (search.ArtifactStamp)."""

    id: uuid.UUID
    group_id: uuid.UUID
    updated_at: datetime


def create_items(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    items: Sequence[dict[str, Any]],
    answer: Answer,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    action: str = "create",
) -> list[dict[str, Any]]:
    """Create every item that passes its rules; a result per item, in item order (see the module doc).

    `ids`: each item's artifact id (an import keeps a row's id), else new ones; `action`: the audit action
    (`import_create` for an import's rows), whose revision operation `operation_of` names."""
    plan = PlannedResolver(session, principal.group_id, reader=principal.profile_id)
    plan.prefetch(*read_ahead(kind, items))
    results: dict[int, dict[str, Any]] = {}
    states: dict[int, tuple[uuid.UUID, FormState]] = {}
    own_savepoint: list[int] = []
    for index, item in enumerate(items):
        if item.get("draft_id"):
            own_savepoint.append(index)
            continue
        recorded = audit.mark(session)
        try:
            artifact_id = ids[index] if ids is not None else uuid.uuid4()
            states[index] = _planned_item(session, kind, principal, plan, item, artifact_id, action)
        except NeedsOwnTransaction:
            audit.forget_since(session, recorded)
            own_savepoint.append(index)
        except LoomworkError as error:
            audit.forget_since(session, recorded)  # the item writes nothing, so nothing happened to audit
            results[index] = failed(index, error)
    messages = {states[index][0]: items[index].get("message") for index in states}
    _write(session, kind, principal, plan, dict(states.values()), messages, operation_of(action, None))
    for index, (artifact_id, _state) in states.items():
        results[index] = succeeded(index, answer(ArtifactRow(artifact_id, 1)))
    for index in own_savepoint:
        given = (items[index], ids[index] if ids is not None else None)
        results[index] = run_item(
            session,
            index,
            given,
            lambda pair: answer(create_item(session, kind, principal, pair[0], pair[1], action=action)),
        )
    return [results[index] for index in range(len(items))]


def _planned_item(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    plan: PlannedResolver,
    item: dict[str, Any],
    artifact_id: uuid.UUID,
    action: str,
) -> tuple[uuid.UUID, FormState]:
    """The item's id and state, its audit event queued: no SQL. Planned ids are replaced in `_write`."""
    state = apply_patch_with(plan, kind, FormState(), item)
    require_complete(kind, state)
    audit.record_state(session, principal, action, kind, artifact_id, None, state, draft_id=None, version=1)
    return artifact_id, state


def _write(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    plan: PlannedResolver,
    states: dict[uuid.UUID, FormState],
    messages: dict[uuid.UUID, str | None],
    operation: str,
) -> None:
    if not states:
        return
    real = plan.create({rid for state in states.values() for rid in state.all_ids()})
    for state in states.values():
        # In place: the queued audit events hold these very states.
        for key, ids in state.slots.items():
            state.slots[key] = list(dict.fromkeys(real.get(rid, rid) for rid in ids))
    now = insert_artifacts(session, kind, principal.group_id, principal.profile_id, list(states))
    insert_states(session, states)
    rows = [NewArtifact(artifact_id, principal.group_id, now) for artifact_id in states]
    search.index_new(session, kind, rows, states, plan.known)
    search.record_tallies(session, kind, principal.group_id, [(None, state) for state in states.values()])
    revisions.record_revisions(
        session,
        kind,
        principal,
        [
            revisions.NewRevision(artifact_id, 1, state, messages.get(artifact_id))
            for artifact_id, state in states.items()
        ],
        operation=operation,
    )
    # Every value the states hold is in plan.known: referenced ids, values found by hash and created.
    audit.remember_labels(
        session,
        {rid: plan.known[rid].label for state in states.values() for rid in state.all_ids() if rid in plan.known},
    )


def read_ahead(kind: ArtifactKind, items: Sequence[dict[str, Any]]) -> tuple[set[uuid.UUID], dict[str, list[Any]]]:
    """The ids the items reference and the values they give, per resource kind.

    A value that fails its rules is left out here; the item fails on it when it is applied.
    """
    ids: set[uuid.UUID] = set()
    values: dict[str, list[Any]] = {}
    for item in items:
        patch = with_aliases_resolved(kind, item)
        ids |= referenced_ids(kind, patch)
        for slot in kind.slots:
            raws = patch.get(slot.value_field) if slot.value_field else None
            if raws is None or slot.resource_kind.references:
                continue
            for raw in raws if slot.many else [raws]:
                with contextlib.suppress(LoomworkError):
                    values.setdefault(slot.resource, []).append(normalise_value(slot.resource_kind, raw, ""))
        if kind.flag_slot is not None and patch.get("active") is not None:
            values.setdefault("flag", []).append(
                {"type": kind.active_flag_type, "value": "true" if patch["active"] else "false"}
            )
    return ids, values
