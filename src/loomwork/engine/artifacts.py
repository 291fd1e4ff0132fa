"""The artifact service: create, update, duplicate, delete and read artifacts of any kind.

Services flush, never commit: the router's transaction commits once per request.
Bulk operations run each item in a savepoint, so a failed item changes nothing
while the others go through. Every change records its audit event here, once for
every kind; a failed item's event is forgotten with its savepoint.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.db.base import utcnow
from loomwork.engine import drafts, revisions, search
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState, apply_patch, apply_patch_with
from loomwork.engine.models import Artifact
from loomwork.engine.repository import (
    ArtifactRow,
    get_artifact,
    insert_artifacts,
    insert_states,
    load_state,
    write_state,
)
from loomwork.errors import Conflict, Invalid, version_conflict
from loomwork.events import outbox
from loomwork.principal import Principal
from loomwork.resources import service as resources
from loomwork.resources.kinds import RESOURCE_KINDS
from loomwork.resources.service import Resolver


def require_complete(kind: ArtifactKind, state: FormState) -> None:
    for slot in kind.slots:
        if slot.required and not state.ids(slot.key):
            raise Invalid(
                f"{slot.value_field}: a {kind.name} needs a {slot.key} (give {slot.value_field} or {slot.id_field}).",
                field=slot.value_field,
            )


def insert_artifact(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    state: FormState,
    artifact_id: uuid.UUID | None = None,
    *,
    operation: str = "create",
    message: str | None = None,
    approved_by: uuid.UUID | None = None,
) -> ArtifactRow:
    require_complete(kind, state)
    artifact_id = artifact_id or uuid.uuid4()
    insert_artifacts(session, kind, principal.group_id, principal.profile_id, [artifact_id])
    insert_states(session, {artifact_id: state})
    search.reindex(session, kind, [artifact_id])
    search.record_tallies(session, kind, principal.group_id, [(None, state)])
    row = ArtifactRow(artifact_id, 1)
    revisions.record_revision(
        session, kind, principal, row, state, operation=operation, message=message, approved_by=approved_by
    )
    return row


def operation_of(action: str, draft: object) -> str:
    """The revision's `operation` for an artifact service's audit action."""
    if action.startswith("import_"):
        return "import"
    return "draft_commit" if draft is not None and action in ("create", "update") else action


def commit_state(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    current: ArtifactRow,
    state: FormState,
    expected_version: int | None,
    before: FormState,
    *,
    operation: str = "update",
    message: str | None = None,
    approved_by: uuid.UUID | None = None,
) -> ArtifactRow:
    """Write a new state with an atomic version check: the UPDATE only matches the version we read."""
    if expected_version is not None and expected_version != current.version:
        raise version_conflict(kind.name, current.version, expected_version)
    require_complete(kind, state)
    # An UPDATE answers with a CursorResult; Session.execute is typed for any statement, so it says Result.
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Artifact)
            .where(Artifact.id == current.id, Artifact.version == current.version)
            .values(version=Artifact.version + 1, updated_at=utcnow(), updated_by=principal.profile_id)
        ),
    )
    if result.rowcount != 1:  # someone committed between our read and this write
        latest = session.scalar(select(Artifact.version).where(Artifact.id == current.id))
        raise version_conflict(kind.name, latest, expected_version)
    write_state(session, current.id, state)
    search.reindex(session, kind, [current.id])
    search.record_tallies(session, kind, principal.group_id, [(before, state)])
    row = ArtifactRow(current.id, current.version + 1)
    revisions.record_revision(
        session, kind, principal, row, state, operation=operation, message=message, approved_by=approved_by
    )
    return row


def create_item(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    item: dict[str, Any],
    artifact_id: uuid.UUID | None = None,
    *,
    action: str = "create",
    approved_by: uuid.UUID | None = None,
) -> ArtifactRow:
    """A new artifact from the item's fields, on top of a draft's form when the item names one."""
    draft, start = None, FormState()
    if item.get("draft_id"):
        draft, start = drafts.take_for_commit(session, kind, principal, item["draft_id"], None)
    state = apply_patch(session, principal.group_id, kind, start, item, principal.profile_id)
    row = insert_artifact(
        session,
        kind,
        principal,
        state,
        artifact_id,
        operation=operation_of(action, draft),
        message=item.get("message"),
        approved_by=approved_by,
    )
    if draft:
        drafts.mark_committed(session, draft, row.id)
    audit.record_state(
        session,
        principal,
        action,
        kind,
        row.id,
        None,
        state,
        draft_id=draft.id if draft else None,
        version=row.version,
        **_approval(approved_by),
    )
    return row


def _approval(approved_by: uuid.UUID | None) -> dict[str, Any]:
    """A commit a person approved for someone else (an accepted proposal) names that person."""
    return {"approved_by": str(approved_by)} if approved_by else {}


def update_item(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    item: dict[str, Any],
    *,
    action: str = "update",
    approved_by: uuid.UUID | None = None,
    resolver: Resolver | None = None,
) -> ArtifactRow:
    """PATCH semantics; with a draft, its form is the new state and its base version the expected one.
    `resolver`: how the item's values reach the group's resources (an import's reads them ahead)."""
    current = get_artifact(session, kind, principal.group_id, item[kind.id_field], lock=True)
    before = load_state(session, current.id)
    expected = item.get("expected_version")
    draft, start = None, before
    if item.get("draft_id"):
        draft, start = drafts.take_for_commit(session, kind, principal, item["draft_id"], current.id)
        if expected is None and draft.base_version is not None and draft.base_version != current.version:
            raise Conflict(
                f"The {kind.name} is at version {current.version}, and your draft builds on version "
                f"{draft.base_version}; rebase the draft (POST /api/v5/artifacts/{kind.plural}/draft/rebase) "
                "and save again.",
                code="version_conflict",
                current_version=current.version,
            )
        expected = expected if expected is not None else draft.base_version
    state = (
        apply_patch_with(resolver, kind, start, item)
        if resolver is not None
        else apply_patch(session, principal.group_id, kind, start, item, principal.profile_id)
    )
    if state == before.normalised() and expected in (None, current.version):
        row = current  # nothing changed: no new version
    else:
        row = commit_state(
            session,
            kind,
            principal,
            current,
            state,
            expected,
            before,
            operation=operation_of(action, draft),
            message=item.get("message"),
            approved_by=approved_by,
        )
        audit.record_state(
            session,
            principal,
            action,
            kind,
            row.id,
            before,
            state,
            draft_id=draft.id if draft else None,
            version=row.version,
            **_approval(approved_by),
        )
    if draft:
        drafts.mark_committed(session, draft, row.id)
    return row


def duplicate(session: Session, kind: ArtifactKind, principal: Principal, artifact_id: uuid.UUID) -> ArtifactRow:
    source = get_artifact(session, kind, principal.group_id, artifact_id)
    state = load_state(session, source.id)
    names = resources.load(session, principal.group_id, state.ids("name"))
    base = names[state.ids("name")[0]].value if state.ids("name") else kind.title
    copy_name = resources.normalise_value(RESOURCE_KINDS["name"], f"{base} (copy)", "name")
    state.slots["name"] = resources.find_or_create(session, principal.group_id, RESOURCE_KINDS["name"], [copy_name])
    row = insert_artifact(session, kind, principal, state, operation="duplicate")
    audit.record_state(
        session, principal, "duplicate", kind, row.id, None, state, source_id=str(source.id), version=row.version
    )
    return row


def delete_one(session: Session, kind: ArtifactKind, principal: Principal, artifact_id: uuid.UUID) -> None:
    current = get_artifact(session, kind, principal.group_id, artifact_id, lock=True)
    removed = load_state(session, current.id)  # what the event says was removed
    session.execute(delete(Artifact).where(Artifact.id == artifact_id))
    search.record_tallies(session, kind, principal.group_id, [(removed, None)])
    revisions.announce_change(session)  # a cached resolve of it must stop answering
    audit.record_state(session, principal, "delete", kind, current.id, removed, None, version=current.version)
    outbox.emit(
        session,
        principal.group_id,
        outbox.DELETED,
        {
            "kind": kind.name,
            kind.id_field: current.id,
            "version": current.version,
            "deleted_by": outbox.actor(principal),
            "via_agent": principal.via_agent,
        },
    )


def rollback(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    artifact_id: uuid.UUID,
    to_version: int,
    expected_version: int | None,
    message: str | None,
) -> ArtifactRow:
    """A new revision whose state equals `to_version`'s; all of it or nothing (409 resource_gone)."""
    current = get_artifact(session, kind, principal.group_id, artifact_id, lock=True)
    if expected_version is not None and expected_version != current.version:
        raise version_conflict(kind.name, current.version, expected_version)
    before = load_state(session, current.id)
    state = revisions.rollback_state(session, kind, principal, current.id, to_version)
    row = commit_state(
        session,
        kind,
        principal,
        current,
        state,
        expected_version,
        before,
        operation="rollback",
        message=message or f"Rollback to version {to_version}.",
    )
    audit.record_state(
        session, principal, "rollback", kind, row.id, before, state, version=row.version, to_version=to_version
    )
    return row
