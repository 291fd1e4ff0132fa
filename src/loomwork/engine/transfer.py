"""CSV export and import: one row per artifact, one column per slot, lossless both ways.

Format (RFC 4180, UTF-8): the first column is the artifact id, then one column
per slot. A multiple slot's values are joined with "; "; inside a value, "\\"
and ";" are escaped with a backslash so any text survives. A cell that a
spreadsheet would run as a formula (starting with =, +, -, @, tab, CR or LF) is
prefixed with "'"; so is a cell that starts with "'" itself, and import removes
exactly one leading "'" again, which makes the round trip exact. Pending
connections are not exported (they are not live); an empty cell clears a slot.

The last column, `labels`, carries the labels (revisions stay in the database): a bare name points at
the row's own version, `name@N` at an older version N. Import points a bare name at the version the row
leaves the artifact at, and `name@N` at version N when the row updates an artifact whose version N is
in this database (else the row's message says it was not carried); labels the cell does not name are left as they are.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from loomwork import uploads
from loomwork.audit import service as audit
from loomwork.bulk_items import failed, run_item
from loomwork.db.base import utcnow
from loomwork.db.database import Database
from loomwork.db.dialect import POSITION_DIGITS, among, dialect_of, in_position_order, ordered_list
from loomwork.db.scoping import in_group
from loomwork.engine import bulk, revisions, search
from loomwork.engine.artifacts import create_item, update_item
from loomwork.engine.declaration import ArtifactKind, Slot
from loomwork.engine.models import Artifact, Connection, Label, Revision
from loomwork.engine.repository import ArtifactRow, find_artifact, get_artifact, ids_in_group, ids_taken
from loomwork.errors import Invalid, LoomworkError
from loomwork.principal import Principal
from loomwork.resources.kinds import RESOURCE_KINDS, RejectedValue, ResourceKind
from loomwork.resources.models import Resource
from loomwork.resources.planned import ReadAheadResolver
from loomwork.resources.service import load as load_resources

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
CHUNK = 5000
CSV_FLUSH_CHARS = 1 << 20  # how much CSV text is held before it is encoded into the file
CELL_CACHE_SIZE = 50_000  # resource cells an export keeps at most (recurring ones: departments, voices)
LOOKUP_CHUNK = 5000  # ids per look-up statement (SQLite binds each as a parameter)
# Rows per write transaction of an import. SQLite has one writer: an import in one transaction held it
# for its whole length, and every group's writes waited (a 20,000-row import, two minutes). Another
# writer waits for one batch at most: 100 rows take 0.05 to 0.15 s of CPU (bulk create), and on a
# loaded machine (load 11 on 2 cores) another group's create still answered within 0.9 s, where 200-row
# batches let a request wait over a second.
IMPORT_BATCH_ROWS = 100
OUTCOMES = ("created", "updated", "unchanged")  # a successful row's `outcome`
IMPORTED = "import_create"  # the audit action of a row that creates (its revision's operation: import)


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
        cols.append(
            Column(
                slot.field,
                slot,
                f"{many}{slot.resource} values. {slot.description}".strip(),
            )
        )
    return cols


LABELS_COLUMN = "labels"
LABELS_DESCRIPTION = (
    "; -separated labels: a bare name points at this row's version, name@N at version N (production needs admin)."
)


def import_fields(kind: ArtifactKind) -> list[dict[str, Any]]:
    return [
        *(
            {
                "name": c.name,
                "description": c.description,
                "multiple": c.multiple,
                "required": bool(c.slot and c.slot.required),
            }
            for c in columns(kind)
        ),
        {"name": LABELS_COLUMN, "description": LABELS_DESCRIPTION, "multiple": True, "required": False},
    ]


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
            i += 2 if cell[i + 1 : i + 2] == " " else 1
        else:
            current.append(char)
            i += 1
    items.append("".join(current))
    return [item for item in items if item]


def export_rows(
    session: Session, kind: ArtifactKind, group_id: uuid.UUID, artifact_ids: list[uuid.UUID]
) -> Iterator[list[str]]:
    """The header, then one row per artifact, in the given order, a chunk of artifacts per query."""
    return export_chunks(
        session, kind, group_id, (artifact_ids[start : start + CHUNK] for start in range(0, len(artifact_ids), CHUNK))
    )


def export_chunks(
    session: Session, kind: ArtifactKind, group_id: uuid.UUID, chunks: Iterable[list[uuid.UUID]]
) -> Iterator[list[str]]:
    """The header, then one row per artifact of each chunk of ids, in order.

    An export of 100,000 artifacts covers over a million connections, so the database does the
    per-connection work: it answers one row per artifact with, per slot, the resource ids as one
    text. Python then only maps ids to cells through a cache, since the same resources
    (departments, voices, flags) recur across thousands of rows. The cache is bounded
    (CELL_CACHE_SIZE), so memory stays flat however many artifacts: unique names are read per chunk.
    """
    cols = columns(kind)
    yield [c.name for c in cols] + [LABELS_COLUMN]
    cells = _CellCache(session, group_id)
    empty = (None,) * (len(cols) - 1)
    for chunk in chunks:
        lists = _slot_lists(session, cols, chunk)
        labels = _label_cells(session, chunk)
        cells.load_ids(
            {rid for per_slot in lists.values() for joined in per_slot if joined for rid in in_position_order(joined)}
        )
        plain, escaped = cells.plain, cells.escaped
        for artifact_id in chunk:
            row = [str(artifact_id)]
            for col, joined in zip(cols[1:], lists.get(artifact_id, empty)):
                if not joined:
                    row.append("")
                elif col.multiple:
                    row.append(neutralise("; ".join([escaped[rid] for rid in in_position_order(joined)])))
                else:  # a single slot's one item sits at position 0
                    row.append(neutralise(plain[joined[POSITION_DIGITS:]]))
            row.append(labels.get(artifact_id, ""))
            yield row


def _label_cells(session: Session, chunk: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = session.execute(
        select(Label.artifact_id, Label.name, Label.version, Artifact.version)
        .join(Artifact, Artifact.id == Label.artifact_id)
        .where(among(session, Label.artifact_id, chunk))
        .order_by(Label.artifact_id, Label.name)
    )
    names: dict[uuid.UUID, list[str]] = {}
    for artifact_id, name, version, current in rows:
        names.setdefault(_as_uuid(artifact_id), []).append(name if version == current else f"{name}@{version}")
    return {artifact_id: "; ".join(found) for artifact_id, found in names.items()}


def _slot_lists(session: Session, cols: list[Column], chunk: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Per artifact of `chunk`: per slot, its active resource ids as an `ordered_list` (None: none)."""
    connections = Connection.__table__
    slots = [col.slot for col in cols if col.slot is not None]  # every column's but the id column's
    lists = [
        ordered_list(cast(connections.c.resource_id, String), connections.c.position).filter(
            connections.c.slot == slot.key
        )
        for slot in slots
    ]
    query = (
        select(connections.c.artifact_id, *lists)
        .where(among(session, connections.c.artifact_id, chunk), connections.c.active.is_(True))
        .group_by(connections.c.artifact_id)
    )
    # Core rows: the ORM's per-row bookkeeping costs more than the work here.
    return {_as_uuid(row[0]): row[1:] for row in session.connection().execute(query)}


def _as_uuid(raw: Any) -> uuid.UUID:
    return raw if isinstance(raw, uuid.UUID) else uuid.UUID(hex=raw)


class _CellCache:
    """Resource id (as the database spells it in text) -> CSV cell, loaded a batch at a time.

    `plain` is the cell of a single slot; `escaped` the same value ready to join into a
    multiple slot's list. Structured kinds spell themselves (to_cell); a key shows only its mask.
    """

    def __init__(self, session: Session, group_id: uuid.UUID) -> None:
        self.session, self.group_id = session, group_id
        self.plain: dict[str, str] = {}
        self.escaped: dict[str, str] = {}

    def load_ids(self, raw_ids: set[str]) -> None:
        """Make sure every id is in the cache; the cache starts over when it would grow past its bound."""
        missing = raw_ids - self.plain.keys()
        if len(self.plain) + len(missing) > CELL_CACHE_SIZE:
            self.plain, self.escaped = {}, {}
            missing = raw_ids
        ids = [uuid.UUID(r) for r in missing]
        for start in range(0, len(ids), LOOKUP_CHUNK):
            self._load(among(self.session, Resource.__table__.c.id, ids[start : start + LOOKUP_CHUNK]))

    def _load(self, condition: Any) -> None:
        resources = Resource.__table__
        rows = self.session.connection().execute(
            select(cast(resources.c.id, String), resources.c.kind, resources.c.value).where(
                in_group(resources, self.group_id), condition
            )
        )
        loaded = [(raw_id, RESOURCE_KINDS[name], RESOURCE_KINDS[name].load(stored)) for raw_id, name, stored in rows]
        referenced = {uuid.UUID(value[field]) for _raw, kind, value in loaded for field, _kind in kind.references}
        targets = load_resources(self.session, self.group_id, referenced) if referenced else {}
        for raw_id, kind, value in loaded:
            cell = _cell(raw_id, kind, value, targets)
            self.plain[raw_id] = cell
            self.escaped[raw_id] = join_items([cell])


def _cell(raw_id: str, kind: ResourceKind, value: Any, targets: dict[uuid.UUID, Any]) -> str:
    """A key is named by id with its masked value (no secret leaves); a reference spells what it points at,
    since ids differ between databases; every other kind spells itself."""
    if kind.cell_by_id:
        return json.dumps({"id": str(uuid.UUID(raw_id)), **kind.public(value)}, sort_keys=True, ensure_ascii=False)
    if kind.references:
        value = kind.public(value)
        for field, _kind in kind.references:
            target = targets.get(uuid.UUID(value.pop(field)))
            value[field.removesuffix("_id")] = target.public if target else None
    return kind.to_cell(value)


def write_csv_to(rows: Iterator[list[str]], out: BinaryIO, on_row: Callable[[], None] | None = None) -> int:
    """Write the CSV into a file a megabyte at a time; returns the data rows written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    count = -1  # the header is no data row
    for row in rows:
        writer.writerow(row)
        count += 1
        if on_row and count > 0:
            on_row()
        if buffer.tell() > CSV_FLUSH_CHARS:
            out.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue().encode("utf-8"))
    return max(count, 0)


def write_csv(rows: Iterator[list[str]], on_row: Callable[[], None] | None = None) -> tuple[bytes, int]:
    """The whole CSV in memory (small exports, the CLI): `write_csv_to` into a buffer."""
    out = io.BytesIO()
    count = write_csv_to(rows, out, on_row)
    return out.getvalue(), count


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
    known: dict[str, Any] = {c.name: c for c in columns(kind)}
    known[LABELS_COLUMN] = None
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
    if cells.get(LABELS_COLUMN, "").strip():
        item[LABELS_COLUMN] = _parse_labels(restore(cells[LABELS_COLUMN]))
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
            if col.slot.resource_kind.cell_by_id:
                ids = [_id_in_cell(v) for v in (split_items(cell) if col.multiple else [cell] if cell else [])]
                item[col.slot.id_field] = ids if col.multiple else (ids[0] if ids else None)
            elif col.multiple:
                item[col.slot.id_field] = []
                item[_value_field(col)] = [col.slot.resource_kind.from_cell(v) for v in split_items(cell)]
            else:
                item[_value_field(col)] = col.slot.resource_kind.from_cell(cell) if cell != "" else None
        except RejectedValue as exc:
            raise Invalid(f"{col.name} {exc}.", field=col.name) from None
    return item


def _value_field(col: Column) -> str:
    """The request field a column's values go to: a slot that takes ids only has its cells by id."""
    field = col.slot.value_field if col.slot else None
    if field is None:
        raise Invalid(f"{col.name}: this column takes ids only.", field=col.name)
    return field


def _parse_labels(cell: str) -> list[tuple[str, int | None]]:
    """`production; staging@3` -> [("production", None), ("staging", 3)]: None is the row's own version."""
    parsed = []
    for entry in (part.strip() for part in cell.split(";")):
        if not entry:
            continue
        name, _, at = entry.partition("@")
        revisions.check_label_name(name.strip(), LABELS_COLUMN)
        if at and not (at.strip().isdigit() and 0 < int(at) < 2**31):
            raise Invalid(f"{LABELS_COLUMN}: {entry!r} must be name or name@version.", field=LABELS_COLUMN)
        parsed.append((name.strip(), int(at) if at else None))
    return parsed


def _apply_labels(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    artifact_id: uuid.UUID,
    version: int,
    labels: list[tuple[str, int | None]],
    *,
    created: bool,
) -> tuple[str, bool]:
    """Point each label; returns a note on those that could not be carried, and whether any label moved.
    An artifact the import created has only its own first version: `name@N` named another artifact's
    history, so it is never carried there."""
    skipped, moved = [], False
    for name, at in labels:
        target = version if at is None else at
        if at is not None and (created or session.get(Revision, (artifact_id, at)) is None):
            skipped.append(f"{name}@{at}")
            continue
        answer = revisions.move_label(session, kind, principal, artifact_id, name, target)
        moved = moved or answer["version"] != answer["previous_version"]
    note = f" Labels not carried (that version is not in this database): {', '.join(skipped)}." if skipped else ""
    return note, moved


def _id_in_cell(cell: str) -> uuid.UUID:
    """The id a by-id cell (a key) names: the export holds no secret, so import can only select the resource."""
    try:
        return uuid.UUID(str(json.loads(cell)["id"]))
    except (ValueError, KeyError, TypeError):
        raise RejectedValue("must be a cell as export writes it, naming the resource's id") from None


def export_csv(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    request: dict[str, Any],
    out: BinaryIO,
    on_row: Callable[[], None] | None = None,
) -> int:
    """Write the CSV of every artifact the filters match (or the one named) into `out`; reads only.

    Run it in one read transaction (a snapshot: Database.transaction(snapshot=True)), so the file
    is one moment's data while writers carry on. The matching ids stream from the database a chunk
    at a time, and the file takes the CSV a megabyte at a time: memory does not grow with the export.
    """
    if request.get(kind.id_field):
        chunks: Iterable[list[uuid.UUID]] = [
            [get_artifact(session, kind, principal.group_id, request[kind.id_field]).id]
        ]
    else:
        dialect = dialect_of(session)
        result = (
            session.connection()
            .execution_options(yield_per=CHUNK)
            .execute(search.matching_ids_query(kind, principal, request, dialect))
        )
        chunks = ([row[0] for row in part] for part in result.partitions())
    return write_csv_to(export_chunks(session, kind, principal.group_id, chunks), out, on_row)


def store_export(
    session: Session, kind: ArtifactKind, principal: Principal, out: BinaryIO, row_count: int
) -> dict[str, Any]:
    """The upload of an export `export_csv` wrote: the only write of an export, and a short one."""
    file_name = f"{kind.plural}-{utcnow():%Y%m%d-%H%M%S}.csv"
    upload = uploads.store(
        session, principal.group_id, principal.profile_id, file_name, "text/csv; charset=utf-8", out, row_count
    )
    return {"upload_id": upload.id, "file_name": file_name, "row_count": row_count}


def export_upload(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    request: dict[str, Any],
    on_row: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Export and store in one (write) transaction: for callers that hold one already."""
    with tempfile.TemporaryFile() as out:
        count = export_csv(session, kind, principal, request, out, on_row)
        return store_export(session, kind, principal, out, count)


def import_in_batches(
    db: Database,
    kind: ArtifactKind,
    principal: Principal,
    rows: list[dict[str, Any]],
    on_row: Callable[[], None] | None = None,
    *,
    keep_free_ids: bool = False,
) -> dict[str, Any]:
    """Import the rows of `read_csv`, a batch of IMPORT_BATCH_ROWS per write transaction (see there).

    The one import that commits, for the route and the CLI alike: a batch commits as a whole, and an
    unexpected error rolls back its own batch only, while the batches before it stay. The answer counts
    the rows created, updated, left unchanged and failed, and holds each row's result in file order."""
    results: list[dict[str, Any]] = []
    for start in range(0, len(rows), IMPORT_BATCH_ROWS):
        with db.transaction(write=True) as session:
            batch = import_rows(
                session, kind, principal, rows[start : start + IMPORT_BATCH_ROWS], on_row, keep_free_ids=keep_free_ids
            )
        for result in batch:
            result["index"] += start
        results.extend(batch)
    outcomes = Counter(r["outcome"] if r["success"] else "failed" for r in results)
    return {**{outcome: outcomes[outcome] for outcome in (*OUTCOMES, "failed")}, "results": results}


def import_rows(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    rows: list[dict[str, Any]],
    on_row: Callable[[], None] | None = None,
    *,
    keep_free_ids: bool = False,
) -> list[dict[str, Any]]:
    """Create or update one artifact per row of a batch; each row fails alone, and a failed row changes nothing.

    A row's id updates the group's artifact with that id. Any other id is created anew with a new id, whether
    it is unknown or another group's, so the answer tells nothing about other groups; only an id the group's
    own audit trail shows it deleted comes back as it was. `keep_free_ids` (the CLI, which acts for the whole
    database) keeps every id no artifact holds, so a file loads into a new database as it was.

    The rows that create an artifact go in together through bulk create, in a few statements for the batch
    (a row at a time, resources found and written value by value, cost some 35 statements a row). The others
    run a row at a time afterwards, in file order, each in its own savepoint: updates, rows with labels, and
    a row whose id an earlier row of the batch named (it may update what that row created)."""
    results: dict[int, dict[str, Any]] = {}
    items: dict[int, dict[str, Any]] = {}
    for index, row in enumerate(rows):
        if on_row:
            on_row()
        try:
            items[index] = row_to_item(kind, row["cells"])
        except LoomworkError as error:
            results[index] = failed(index, error)
    ids = IdsOfBatch.read(session, kind, principal, {i[kind.id_field] for i in items.values() if i.get(kind.id_field)})
    creating: dict[int, uuid.UUID] = {}  # row index -> the id bulk create gives it
    notes: dict[uuid.UUID, str] = {}
    named: set[uuid.UUID] = set()
    for index, item in items.items():
        artifact_id = item.pop(kind.id_field, None)
        if item.get(LABELS_COLUMN) or artifact_id in named or artifact_id in ids.ours:
            item[kind.id_field] = artifact_id  # a row on its own, below
        else:
            creating[index], notes[creating[index]] = ids.new_id(artifact_id, keep_free_ids)
        if artifact_id:
            named.add(artifact_id)

    def created(row: ArtifactRow) -> dict[str, Any]:
        message = f"Created {kind.name}{notes[row.id]}."
        return {"id": row.id, "version": row.version, "message": message, "outcome": "created"}

    indexes = list(creating)
    made = bulk.create_items(
        session, kind, principal, [items[i] for i in indexes], created, ids=list(creating.values()), action=IMPORTED
    )
    for index, result in zip(indexes, made):
        results[index] = {**result, "index": index}
    alone = sorted(items.keys() - creating.keys() - results.keys())
    reader = ReadAheadResolver(
        session, principal.group_id, reader=principal.profile_id
    )  # the values these rows give, read in a few queries
    reader.prefetch(*bulk.read_ahead(kind, [items[index] for index in alone]))
    for index in alone:
        results[index] = run_item(
            session,
            index,
            items[index],
            lambda item: _import_one(session, kind, principal, item, reader, keep_free_ids),
        )
    for index, row in enumerate(rows):
        results[index]["line"] = row["line"]
    return [results[index] for index in range(len(rows))]


@dataclass(frozen=True)
class IdsOfBatch:
    """What the database says of the ids a batch's rows name, read in three queries for the batch."""

    ours: set[uuid.UUID]  # the group's artifacts of the kind: rows naming them update
    taken: set[uuid.UUID]  # held by an artifact of any group
    were_ours: set[uuid.UUID]  # named by the group's own audit trail (created once, deleted since)

    @classmethod
    def read(cls, session: Session, kind: ArtifactKind, principal: Principal, ids: set[uuid.UUID]) -> IdsOfBatch:
        return cls(
            ids_in_group(session, kind, principal.group_id, ids),
            ids_taken(session, ids),
            audit.were_in_group(session, principal.group_id, ids),
        )

    def new_id(self, artifact_id: uuid.UUID | None, keep_free_ids: bool) -> tuple[uuid.UUID, str]:
        """The id a created row gets, and the note when it is not the row's own."""
        if artifact_id is None:
            return uuid.uuid4(), ""
        if artifact_id in self.taken or not (keep_free_ids or artifact_id in self.were_ours):
            return uuid.uuid4(), " with a new id"
        return artifact_id, ""


def _import_one(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    item: dict[str, Any],
    reader: ReadAheadResolver,
    keep_free_ids: bool,
) -> dict[str, Any]:
    """One row on its own: update the group's artifact it names, else create one; then point its labels."""
    labels = item.pop(LABELS_COLUMN, [])
    artifact_id = item.pop(kind.id_field, None)
    # Locked: the version read here is the one the row leaves when it changes nothing.
    current = find_artifact(session, kind, principal.group_id, artifact_id, lock=True) if artifact_id else None
    if current is not None:
        result = update_item(
            session, kind, principal, {**item, kind.id_field: current.id}, action="import_update", resolver=reader
        )
        note, moved = _apply_labels(session, kind, principal, result.id, result.version, labels, created=False)
        if result.version == current.version and not moved:  # nothing changed: no version, no event
            return {
                "id": result.id,
                "version": result.version,
                "message": f"No change to {kind.name}.{note}",
                "outcome": "unchanged",
            }
        return {
            "id": result.id,
            "version": result.version,
            "message": f"Updated {kind.name}.{note}",
            "outcome": "updated",
        }
    ids = IdsOfBatch.read(session, kind, principal, {artifact_id} if artifact_id else set())
    new_id, note = ids.new_id(artifact_id, keep_free_ids)
    result = create_item(session, kind, principal, item, new_id, action=IMPORTED)
    labelled, _moved = _apply_labels(session, kind, principal, result.id, result.version, labels, created=True)
    return {
        "id": result.id,
        "version": result.version,
        "message": f"Created {kind.name}{note}.{labelled}",
        "outcome": "created",
    }
