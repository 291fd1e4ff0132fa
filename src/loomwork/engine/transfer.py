"""CSV export and import: one row per artifact, one column per slot, lossless both ways.

Format (RFC 4180, UTF-8): the first column is the artifact id, then one column
per slot. A multiple slot's values are joined with "; "; inside a value, "\\"
and ";" are escaped with a backslash so any text survives. A cell that a
spreadsheet would run as a formula (starting with =, +, -, @, tab, CR or LF) is
prefixed with "'"; so is a cell that starts with "'" itself, and import removes
exactly one leading "'" again, which makes the round trip exact. Pending
connections are not exported (they are not live); an empty cell clears a slot.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from loomwork import uploads
from loomwork.db.base import utcnow
from loomwork.engine import search
from loomwork.engine.artifacts import create_item, run_items, update_item
from loomwork.engine.declaration import ArtifactKind, Slot
from loomwork.engine.models import Connection
from loomwork.engine.repository import find_artifact, get_artifact, id_taken
from loomwork.errors import Invalid
from loomwork.identity.service import Principal
from loomwork.resources.kinds import RESOURCE_KINDS, RejectedValue, ResourceKind
from loomwork.resources.models import Resource

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
CHUNK = 5000


@dataclass(frozen=True)
class Column:
    name: str
    slot: Slot | None  # None: the id column
    description: str

    @property
    def multiple(self) -> bool:
        return bool(self.slot and self.slot.many)


def columns(kind: ArtifactKind) -> list[Column]:
    cols = [Column(kind.id_field, None, f"The {kind.name}'s id: import updates it when it exists, else creates it.")]
    for slot in kind.slots:
        many = "; -separated list of " if slot.many else ""
        cols.append(Column(slot.section if slot.many else slot.key, slot,
                           f"{many}{slot.resource} values. {slot.description}".strip()))
    return cols


def import_fields(kind: ArtifactKind) -> list[dict[str, Any]]:
    return [{"name": c.name, "description": c.description, "multiple": c.multiple,
             "required": bool(c.slot and c.slot.required)} for c in columns(kind)]


def neutralise(cell: str) -> str:
    """Prefix "'" to a cell a spreadsheet would run, and to one that starts with "'" itself, so import can undo it."""
    return "'" + cell if cell.startswith(FORMULA_STARTS + ("'",)) else cell


def restore(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def join_items(items: list[str]) -> str:
    return "; ".join(i.replace("\\", "\\\\").replace(";", "\\;") for i in items)


def split_items(cell: str) -> list[str]:
    """Undo join_items: "; " separates, a backslash keeps the next character as it is."""
    items, current, i = [], [], 0
    while i < len(cell):
        char = cell[i]
        if char == "\\" and i + 1 < len(cell):
            current.append(cell[i + 1])
            i += 2
        elif char == ";":
            items.append("".join(current))
            current = []
            i += 2 if cell[i + 1:i + 2] == " " else 1
        else:
            current.append(char)
            i += 1
    items.append("".join(current))
    return [item for item in items if item]


def export_rows(session: Session, kind: ArtifactKind, group_id: uuid.UUID,
                artifact_ids: list[uuid.UUID]) -> Iterator[list[str]]:
    """The header, then one row per artifact, in the given order, a chunk of artifacts per query.

    Values come joined to their connections and stay raw strings until they become cells: an
    export of 100,000 artifacts handles over a million connections, so per-row work is kept small.
    """
    cols = columns(kind)
    yield [c.name for c in cols]
    cells = _CellCache()
    connections, resources_table = Connection.__table__, Resource.__table__
    raw_artifact_id = type_coerce(connections.c.artifact_id, String)  # no uuid object per row on SQLite
    db = session.connection()  # Core rows: the ORM's per-row bookkeeping costs more than the work here
    for start in range(0, len(artifact_ids), CHUNK):
        chunk = artifact_ids[start:start + CHUNK]
        # A raw id is hex text on SQLite and a uuid on PostgreSQL: map both forms to the artifact.
        owner_of: dict[Any, uuid.UUID] = {a.hex: a for a in chunk} | {a: a for a in chunk}
        slots: dict[uuid.UUID, dict[str, list[str]]] = {a: {} for a in chunk}
        rows = db.execute(
            select(raw_artifact_id, connections.c.slot, resources_table.c.kind, resources_table.c.value)
            .join(resources_table, resources_table.c.id == connections.c.resource_id)
            .where(connections.c.artifact_id.in_(chunk), connections.c.active.is_(True),
                   resources_table.c.group_id == group_id)
            .order_by(connections.c.artifact_id, connections.c.slot, connections.c.position)
        ).all()  # one fetch per chunk: row-by-row fetching costs more than the rows
        for artifact_id, slot, resource_kind, stored in rows:
            per_slot = slots[owner_of[artifact_id]]
            cell = stored if resource_kind in cells.plain else cells.cell(resource_kind, stored)
            if slot in per_slot:
                per_slot[slot].append(cell)
            else:
                per_slot[slot] = [cell]
        for artifact_id in chunk:
            values = slots[artifact_id]
            row = [str(artifact_id)]
            for col in cols[1:]:
                items = values.get(col.slot.key)
                if not items:
                    row.append("")
                else:
                    row.append(neutralise(join_items(items) if col.multiple else items[0]))
            yield row


class _CellCache:
    """Stored value -> CSV cell. Text kinds store their cell as it is; structured ones decode once each."""

    def __init__(self) -> None:
        self.plain = {name for name, kind in RESOURCE_KINDS.items()
                      if type(kind).to_cell is ResourceKind.to_cell and type(kind).load is ResourceKind.load}
        self._cells: dict[tuple[str, str], str] = {}

    def cell(self, resource_kind: str, stored: str) -> str:
        key = (resource_kind, stored)
        if key not in self._cells:
            kind = RESOURCE_KINDS[resource_kind]
            self._cells[key] = kind.to_cell(kind.load(stored))
        return self._cells[key]


def write_csv(rows: Iterator[list[str]], on_row: Callable[[], None] | None = None) -> tuple[bytes, int]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    count = -1  # the header is no data row
    for row in rows:
        writer.writerow(row)
        count += 1
        if on_row and count > 0:
            on_row()
    return buffer.getvalue().encode("utf-8"), max(count, 0)


def read_csv(kind: ArtifactKind, data: bytes) -> list[dict[str, Any]]:
    """Parse an upload into items (`line` is the CSV line number); a bad header fails the whole import."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("file: the CSV is not valid UTF-8.", field="file") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise Invalid(f"file: the CSV cannot be read ({exc}).", field="file") from None
    if not rows:
        raise Invalid("file: the CSV is empty; its first line must name the columns.", field="file")
    known = {c.name: c for c in columns(kind)}
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header if h not in known]
    if unknown:
        raise Invalid(f"file: unknown column {unknown[0]!r}; the columns are {', '.join(known)}.", field="file")
    if len(set(header)) != len(header):
        raise Invalid("file: a column is named twice.", field="file")
    items = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        items.append({"line": line, "cells": {h: (row[i] if i < len(row) else "") for i, h in enumerate(header)}})
    return items


def row_to_item(kind: ArtifactKind, cells: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a create/update item: each column given replaces its slot."""
    item: dict[str, Any] = {}
    for col in columns(kind):
        if col.name not in cells:
            continue
        cell = restore(cells[col.name])
        if col.slot is None:
            if cell.strip():
                try:
                    item[kind.id_field] = uuid.UUID(cell.strip())
                except ValueError:
                    raise Invalid(f"{col.name}: {cell!r} is not a UUID.", field=col.name) from None
            continue
        try:
            if col.multiple:
                item[col.slot.id_field] = []
                item[col.slot.values_field] = [col.slot.resource_kind.from_cell(v) for v in split_items(cell)]
            else:
                item[col.slot.value_field] = col.slot.resource_kind.from_cell(cell) if cell != "" else None
        except RejectedValue as exc:
            raise Invalid(f"{col.name} {exc}.", field=col.name) from None
    return item


def export_upload(session: Session, kind: ArtifactKind, principal: Principal, request: dict[str, Any],
                  on_row: Callable[[], None] | None = None) -> dict[str, Any]:
    """Write the CSV of every artifact the filters match (or the one named) into an upload."""
    if request.get(kind.id_field):
        ids = [get_artifact(session, kind, principal.group_id, request[kind.id_field]).id]
    else:
        dialect = session.get_bind().dialect.name
        ids = list(session.scalars(search.matching_ids_query(kind, principal, request, dialect)))
    data, count = write_csv(export_rows(session, kind, principal.group_id, ids), on_row)
    file_name = f"{kind.plural}-{utcnow():%Y%m%d-%H%M%S}.csv"
    upload = uploads.store(session, principal.group_id, principal.profile_id, file_name, "text/csv; charset=utf-8",
                           data, count)
    return {"upload_id": upload.id, "file_name": file_name, "row_count": count}


def import_rows(session: Session, kind: ArtifactKind, principal: Principal, rows: list[dict[str, Any]],
                on_row: Callable[[], None] | None = None) -> dict[str, Any]:
    """Create or update one artifact per row of `read_csv`, each in its own savepoint: a failed row changes nothing."""
    created_lines: set[int] = set()

    def import_one(row: dict[str, Any]) -> dict[str, Any]:
        if on_row:
            on_row()
        item = row_to_item(kind, row["cells"])
        artifact_id = item.get(kind.id_field)
        if artifact_id and find_artifact(session, kind, principal.group_id, artifact_id):
            result = update_item(session, kind, principal, item)
            return {"id": result.id, "version": result.version, "message": f"Updated {kind.name}."}
        item.pop(kind.id_field, None)
        note = ""
        if artifact_id and id_taken(session, artifact_id):
            # Ids are unique across the whole database, so a file exported from another group
            # cannot keep them here: the artifact is created with a new id, and the result says so.
            artifact_id, note = None, " with a new id (the file's id is in use elsewhere)"
        result = create_item(session, kind, principal, item, artifact_id)
        created_lines.add(row["line"])  # counted below only if its savepoint held
        return {"id": result.id, "version": result.version, "message": f"Created {kind.name}{note}."}

    results = run_items(session, rows, import_one)
    for result, row in zip(results, rows):
        result["line"] = row["line"]
    failed = sum(1 for r in results if not r["success"])
    created = sum(1 for r in results if r["success"] and r["line"] in created_lines)
    return {"created": created, "updated": len(results) - failed - created, "failed": failed, "results": results}
