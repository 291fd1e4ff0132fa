"""The transactional outbox: `emit` an event where a change is made; it commits or rolls back with it.

`emit` only queues the event in the session. Just before the request's transaction commits, the
queued events of each group are numbered and written: one upsert on the group's `event_cursors`
row takes `last + n` (and the row's lock, held until the commit), then one multi-row INSERT.

Why a per-group counter row and not a sequence: a sequence value is taken when a row is inserted,
so on PostgreSQL a transaction holding cursor 7 can commit after one holding 8, and a feed reader
who saw 8 would skip 7 for ever. With the counter row, the next transaction of the same group
waits for the row until the previous one has committed, so a group's cursors are dense and
visible in commit order; the lock is held only from `before_commit` to the commit itself.
Groups never wait for each other. On SQLite writers already run one at a time.

An event emitted inside a savepoint (one item of a bulk request) goes with it when the savepoint
rolls back: the queue remembers its length when each savepoint starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final, Literal, TypedDict, assert_never

from sqlalchemy import Table, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from loomwork.db.base import utcnow
from loomwork.db.bulk_insert import insert_many
from loomwork.db.dialect import Dialect, dialect_of, upsert_into
from loomwork.db.scoping import in_group
from loomwork.events.models import Event, EventCursor

REVISION_CREATED: Final = "artifact.revision_created"
DELETED: Final = "artifact.deleted"
LABEL_MOVED: Final = "label.moved"
PROPOSAL_CREATED: Final = "proposal.created"
PROPOSAL_DECIDED: Final = "proposal.decided"
EventType = Literal[
    "artifact.revision_created", "artifact.deleted", "label.moved", "proposal.created", "proposal.decided"
]
EVENT_TYPES: tuple[EventType, ...] = (REVISION_CREATED, DELETED, LABEL_MOVED, PROPOSAL_CREATED, PROPOSAL_DECIDED)
NOTIFY_CHANNEL = "loomwork_events"


class ChangeView(TypedDict):
    cursor: int
    event: str
    id: uuid.UUID
    at: datetime
    data: dict[str, Any]


class ChangesPage(TypedDict):
    changes: list[ChangeView]
    next_cursor: int


event_table: Table = Event.__table__
PENDING = "loomwork.events.pending"
SAVEPOINTS = "loomwork.events.savepoints"


def emit(session: Session, group_id: uuid.UUID, event_type: str, payload: dict[str, Any]) -> None:
    """Queue one event of the group; it is written in this transaction, just before it commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    session.info.setdefault(PENDING, []).append(
        {
            "id": uuid.uuid4(),
            "group_id": group_id,
            "type": event_type,
            "kind": payload.get("kind"),
            "at": utcnow(),
            "data": _jsonable(payload),
        }
    )


def actor(principal: Any) -> dict[str, Any]:
    """Who acted, as events name people: {profile_id, name, type} (type: person or agent)."""
    return {
        "profile_id": str(principal.profile_id),
        "name": principal.name,
        "type": "agent" if principal.via_agent else "person",
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


@sa_event.listens_for(Session, "after_transaction_create")
def _savepoint_started(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(SAVEPOINTS, {})[id(transaction)] = len(session.info.get(PENDING, []))


@sa_event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.nested:
        mark = session.info.get(SAVEPOINTS, {}).pop(id(previous_transaction), None)
        if mark is not None:
            del session.info.get(PENDING, [])[mark:]
    else:
        session.info.pop(PENDING, None)
        session.info.pop(SAVEPOINTS, None)


@sa_event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint's release: its events wait for the real commit
        return
    session.info.pop(SAVEPOINTS, None)
    pending: list[dict[str, Any]] = session.info.pop(PENDING, [])
    if pending:
        write_events(session, pending)


def write_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Number the rows per group (in the order given) and insert them; wake the feed's long polls."""
    dialect = dialect_of(session)
    by_group: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in rows:
        by_group.setdefault(row["group_id"], []).append(row)
    for group_id in sorted(by_group, key=str):  # a fixed order: two multi-group commits cannot deadlock
        group_rows = by_group[group_id]
        last = _advance(session, dialect, group_id, len(group_rows))
        for offset, row in enumerate(group_rows):
            row["cursor"] = last - len(group_rows) + 1 + offset
        match dialect:
            case Dialect.POSTGRESQL:  # delivered to listeners when (and only if) the transaction commits
                session.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": NOTIFY_CHANNEL, "payload": f"{group_id}:{last}"},
                )
            case Dialect.SQLITE:  # listeners poll the cursor
                pass
            case _:
                assert_never(dialect)
    insert_many(session, event_table, rows)


def _advance(session: Session, dialect: Dialect, group_id: uuid.UUID, count: int) -> int:
    table = EventCursor.__table__
    statement = upsert_into(dialect, table).values(group_id=group_id, last=count)
    advanced = statement.on_conflict_do_update(
        index_elements=[table.c.group_id], set_={"last": table.c.last + count}
    ).returning(table.c.last)
    return int(session.execute(advanced).scalar_one())


def last_cursor(session: Session, group_id: uuid.UUID) -> int:
    return session.scalar(select(EventCursor.last).where(in_group(EventCursor, group_id))) or 0


def read_changes(
    session: Session,
    group_id: uuid.UUID,
    after: int,
    kinds: Iterable[str] | None,
    events: Iterable[str] | None,
    limit: int,
) -> ChangesPage:
    """The group's events after the cursor, in cursor (= commit) order, and where to continue."""
    kinds, events = list(kinds or []), list(events or [])
    # Read first, so a filtered page that finds nothing can still move the cursor past what it skipped.
    last = last_cursor(session, group_id) if (kinds or events) else None
    query = select(Event).where(in_group(Event, group_id), Event.cursor > after)
    if kinds:
        query = query.where(Event.kind.in_(kinds))
    if events:
        query = query.where(Event.type.in_(events))
    rows = session.scalars(query.order_by(Event.cursor).limit(limit)).all()
    changes = [change_view(row) for row in rows]
    if rows:
        next_cursor = rows[-1].cursor
    elif last is not None:
        next_cursor = max(after, last)
    else:
        next_cursor = after
    return {"changes": changes, "next_cursor": next_cursor}


def change_view(row: Event) -> ChangeView:
    return {"cursor": row.cursor, "event": row.type, "id": row.id, "at": row.at, "data": row.data}
