"""insert_many: rows straight to the driver, typed as SQLAlchemy would type them (db/bulk_insert.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from loomwork.db.base import utcnow
from loomwork.db.bulk_insert import insert_many
from loomwork.events.models import Event
from loomwork.groups import ensure_group


def test_rows_read_back_as_written_whatever_their_column_types(db) -> None:
    """UUIDs, an aware time, JSON with nesting and non-ASCII text, None, and the ids of many rows."""
    now = utcnow()
    with db.transaction(write=True) as session:
        group_id = ensure_group(session, "acme").id
    rows = [
        {
            "id": uuid.uuid4(),
            "group_id": group_id,
            "cursor": n + 1,
            "type": "artifact.created",
            "kind": None if n % 2 else "persona",
            "at": now,
            "data": {"name": f"Zoë {n}", "ids": [str(uuid.uuid4())], "nested": {"n": n, "ok": True}},
        }
        for n in range(300)
    ]
    with db.transaction(write=True) as session:
        insert_many(session, Event.__table__, rows)
        insert_many(session, Event.__table__, [])  # nothing to do is no statement and no error
    with db.transaction(write=False) as session:
        stored = session.execute(select(Event).order_by(Event.cursor)).scalars().all()
        read = [
            {
                "id": e.id,
                "group_id": e.group_id,
                "cursor": e.cursor,
                "type": e.type,
                "kind": e.kind,
                "at": e.at,
                "data": e.data,
            }
            for e in stored
        ]
    assert read == rows
