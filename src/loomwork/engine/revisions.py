"""Revisions and labels (API.md section 9): every committed change of an artifact is an immutable revision,
and a label names one version of one artifact.

`record_revisions` is the one place a revision is written (every commit path calls it, in the commit's
transaction) and `move_label` the one place a label moves: an event emitted there covers every door.
Both tell the resolve caches of every worker that something changed (`announce_change`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from sqlalchemy import Engine, Table, delete, event, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.db.base import utcnow
from loomwork.db.bulk_insert import insert_many
from loomwork.db.database import after_commit
from loomwork.db.dialect import Dialect, dialect_of
from loomwork.db.paging import page_with_total
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState
from loomwork.engine.models import ChangeClock, Label, Revision
from loomwork.engine.repository import ArtifactRow, get_artifact
from loomwork.errors import Conflict, Invalid, NotFound
from loomwork.events import outbox
from loomwork.identity import service as identity
from loomwork.principal import Principal, Role
from loomwork.resources import service as resources

log = logging.getLogger(__name__)
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
LATEST = "latest"
ADMIN_LABELS = frozenset({"production"})
PENDING_KEY = "~pending"  # no slot key starts with "~"
NOTIFY_CHANNEL = "loomwork_resolve"
CHANGED = "loomwork.revisions.changed"
revision_table: Table = Revision.__table__


# --- the compact state ---------------------------------------------------------------------------------------


def encode_state(state: FormState) -> str:
    """Ids per slot as 32 hex digits, in order, plus the pending ones: the compact form a revision keeps."""
    data: dict[str, list[str]] = {key: [rid.hex for rid in ids] for key, ids in state.slots.items() if ids}
    if state.pending:
        data[PENDING_KEY] = sorted(rid.hex for rid in state.pending)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def decode_state(stored: str) -> FormState:
    data = json.loads(stored)
    pending = {uuid.UUID(hex=h) for h in data.pop(PENDING_KEY, [])}
    return FormState({key: [uuid.UUID(hex=h) for h in ids] for key, ids in data.items()}, pending)


def content_hash(artifact_id: uuid.UUID, version: int, stored_state: str) -> str:
    """The revision's ETag: it changes whenever what resolve answers for it could."""
    return hashlib.sha256(f"{artifact_id.hex}:{version}:{stored_state}".encode()).hexdigest()[:32]


# --- writing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRevision:
    artifact_id: uuid.UUID
    version: int
    state: FormState
    message: str | None = None


def author_type(principal: Principal) -> str:
    """`person` or `agent`: the profile's type once profiles have one (API.md section 7), else what the
    request says (an X-MCP caller is an agent)."""
    declared = getattr(principal, "type", None) or getattr(principal, "profile_type", None)
    return str(declared) if declared else ("agent" if principal.via_agent else "person")


def record_revisions(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    revisions: list[NewRevision],
    *,
    operation: str,
    approved_by: uuid.UUID | None = None,
) -> None:
    """Write the revisions of committed changes, in one statement however many (bulk create)."""
    if not revisions:
        return
    now = utcnow()
    rows = []
    for new in revisions:
        stored = encode_state(new.state)
        rows.append(
            {
                "artifact_id": new.artifact_id,
                "version": new.version,
                "created_at": now,
                "author_id": principal.profile_id,
                "author_name": principal.name,
                "author_type": author_type(principal),
                "via_agent": principal.via_agent,
                "approved_by": approved_by,
                "operation": operation,
                "message": new.message,
                "state": stored,
                "content_hash": content_hash(new.artifact_id, new.version, stored),
            }
        )
    insert_many(session, revision_table, rows)
    announce_change(session)
    for new in revisions:  # the webhooks' and the change feed's event, in this same transaction
        outbox.emit(
            session,
            principal.group_id,
            outbox.REVISION_CREATED,
            {
                "kind": kind.name,
                kind.id_field: new.artifact_id,
                "version": new.version,
                "author": outbox.actor(principal),
                "via_agent": principal.via_agent,
                "approved_by": {"profile_id": str(approved_by)} if approved_by else None,
            },
        )


def record_revision(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    row: ArtifactRow,
    state: FormState,
    *,
    operation: str,
    message: str | None = None,
    approved_by: uuid.UUID | None = None,
) -> None:
    record_revisions(
        session,
        kind,
        principal,
        [NewRevision(row.id, row.version, state, message)],
        operation=operation,
        approved_by=approved_by,
    )


def announce_change(session: Session) -> None:
    """Mark the transaction: at its commit, every worker's resolve cache learns that something changed."""
    session.info[CHANGED] = True


@event.listens_for(Session, "before_commit")
def _announce_at_commit(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.pop(CHANGED, False):
        return
    dialect = dialect_of(session)
    match dialect:
        case Dialect.POSTGRESQL:
            # The clock moves just after the commit, on a connection of its own, before the change is answered:
            # in this transaction its row lock would queue every writer behind the one before it. A reader that
            # read the old clock read data no newer than this commit, so its entry dies with the old value.
            engine = session.get_bind().engine
            after_commit(session, lambda: _tick(engine))
            # And every listening worker drops its entries when (and only if) this transaction commits: should
            # the process die between the commit and the tick, the notification still reaches them.
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
        case Dialect.SQLITE:  # its writers are serial already: the clock moves in the transaction
            session.execute(_TICK)
        case _:
            assert_never(dialect)


_TICK = update(ChangeClock).where(ChangeClock.id == 1).values(value=ChangeClock.value + 1)


def _tick(engine: Engine) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(_TICK)
    except SQLAlchemyError:  # committed already: the notification sent at the commit is the fallback
        log.warning("the resolve caches' clock did not move after a commit", exc_info=True)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(CHANGED, None)


# --- reading -------------------------------------------------------------------------------------------------


def load_revision(
    session: Session, kind: ArtifactKind, artifact_id: uuid.UUID, version: int, field: str = "version"
) -> Revision:
    found = session.get(Revision, (artifact_id, version))
    if found is None:
        raise NotFound(f"{field}: the {kind.name} {artifact_id} has no version {version}.", field=field)
    return found


def labels_of(session: Session, artifact_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(
        select(Label.name, Label.version).where(Label.artifact_id == artifact_id).order_by(Label.name)
    )
    return dict(rows.all())


def metadata(found: Revision, people: Mapping[uuid.UUID, dict[str, Any]]) -> dict[str, Any]:
    """A revision's who, when and why; `people` (identity.people of the approvers) names who approved it."""
    return {
        "version": found.version,
        "created_at": found.created_at,
        "author": {"profile_id": found.author_id, "name": found.author_name, "type": found.author_type},
        "via_agent": found.via_agent,
        "approved_by": None if found.approved_by is None else people.get(found.approved_by),
        "operation": found.operation,
        "message": found.message,
    }


def history(
    session: Session, kind: ArtifactKind, principal: Principal, artifact_id: uuid.UUID, limit: int, offset: int
) -> dict[str, Any]:
    row = get_artifact(session, kind, principal.group_id, artifact_id)
    page, total = page_with_total(
        session,
        select(Revision).where(Revision.artifact_id == row.id).order_by(Revision.version.desc()),
        limit,
        offset,
    )
    found = [revision for (revision,) in page]
    approvers = identity.people(session, principal.group_id, (r.approved_by for r in found))
    pointing: dict[int, list[str]] = {}
    for name, version in labels_of(session, row.id).items():
        pointing.setdefault(version, []).append(name)
    return {
        kind.id_field: row.id,
        "version": row.version,
        "labels": labels_of(session, row.id),
        "revisions": [{**metadata(r, approvers), "labels": pointing.get(r.version, [])} for r in found],
        "total_count": total,
    }


def readable(kind: ArtifactKind, state: FormState, values: dict[uuid.UUID, resources.ResourceValue]) -> dict[str, Any]:
    """Each slot's values as a person reads them (labels; a key masked), pending ones marked."""
    shown: dict[str, Any] = {}
    for slot in kind.slots:
        labels = []
        for rid in state.ids(slot.key):
            label = values[rid].label if rid in values else f"(deleted resource {rid})"
            labels.append(f"{label} (pending)" if rid in state.pending else label)
        shown[slot.field] = slot.shown(labels)
    return shown


def diff(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    artifact_id: uuid.UUID,
    from_version: int,
    to_version: int,
) -> dict[str, Any]:
    row = get_artifact(session, kind, principal.group_id, artifact_id)
    before = decode_state(load_revision(session, kind, row.id, from_version, "from_version").state)
    after = decode_state(load_revision(session, kind, row.id, to_version, "to_version").state)
    values = resources.load(session, principal.group_id, before.all_ids() | after.all_ids())
    old, new = readable(kind, before, values), readable(kind, after, values)
    changes = []
    for slot in kind.slots:
        name = slot.field
        if old[name] == new[name]:
            continue
        was = old[name] if slot.many else [old[name]] if old[name] is not None else []
        now = new[name] if slot.many else [new[name]] if new[name] is not None else []
        changes.append(
            {
                "field": name,
                "before": old[name],
                "after": new[name],
                "added": [v for v in now if v not in was],
                "removed": [v for v in was if v not in now],
            }
        )
    return {kind.id_field: row.id, "from_version": from_version, "to_version": to_version, "changes": changes}


# --- rollback and labels -------------------------------------------------------------------------------------


def rollback_state(
    session: Session, kind: ArtifactKind, principal: Principal, artifact_id: uuid.UUID, to_version: int
) -> FormState:
    """`to_version`'s state, every resource of it still there (else 409 resource_gone naming them)."""
    state = decode_state(load_revision(session, kind, artifact_id, to_version, "to_version").state)
    present = resources.load(session, principal.group_id, state.all_ids())
    gone = [(slot, rid) for slot in kind.slots for rid in state.ids(slot.key) if rid not in present]
    if gone:
        named = ", ".join(f"{slot.field} {rid}" for slot, rid in gone)
        raise Conflict(
            f"Version {to_version} uses resources deleted since ({named}); nothing was restored. "
            "Create them again, or roll back to another version.",
            code="resource_gone",
            field="to_version",
            resource_ids=[str(rid) for _slot, rid in gone],
        )
    return state


def check_label_name(label: str, field: str = "label") -> None:
    if label == LATEST:
        raise Invalid(f"{field}: `latest` is reserved; it always means the newest version.", field=field)
    if not LABEL_PATTERN.match(label):
        raise Invalid(f"{field}: a label is a lowercase letter, then up to 63 of a-z, 0-9, _ and -.", field=field)


def move_label(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    artifact_id: uuid.UUID,
    label: str,
    version: int | None,
    *,
    expected: Any = ...,
    check_expected: bool = False,
) -> dict[str, Any]:
    """Point `label` at `version` (None removes it), compare-and-set against the version it points at now."""
    check_label_name(label)
    principal.refuse_agent("move labels")
    if label in ADMIN_LABELS:
        principal.require_role(Role.ADMIN, f"move the {label} label")
    row = get_artifact(session, kind, principal.group_id, artifact_id, lock=True)  # serialises moves per artifact
    current = session.scalar(select(Label.version).where(Label.artifact_id == row.id, Label.name == label))
    if check_expected and expected != current:
        raise Conflict(
            f"The label {label} points at version {current}, not {expected}; reload and try again.",
            code="version_conflict",
            current_version=current,
        )
    if version is not None:
        load_revision(session, kind, row.id, version)
    if version == current:
        return {kind.id_field: row.id, "label": label, "version": version, "previous_version": current}
    if version is None:
        session.execute(delete(Label).where(Label.artifact_id == row.id, Label.name == label))
    elif current is None:
        session.execute(
            insert(Label.__table__).values(
                artifact_id=row.id, name=label, version=version, updated_at=utcnow(), updated_by=principal.profile_id
            )
        )
    else:
        session.execute(
            update(Label)
            .where(Label.artifact_id == row.id, Label.name == label)
            .values(version=version, updated_at=utcnow(), updated_by=principal.profile_id)
        )
    announce_change(session)
    audit.record(
        session,
        principal,
        "label",
        kind.name,
        {"label": label, "before": current, "after": version},
        artifact_id=row.id,
    )
    outbox.emit(
        session,
        principal.group_id,
        outbox.LABEL_MOVED,
        {
            "kind": kind.name,
            kind.id_field: row.id,
            "label": label,
            "from_version": current,
            "to_version": version,
            "moved_by": outbox.actor(principal),
        },
    )
    return {kind.id_field: row.id, "label": label, "version": version, "previous_version": current}
