"""Find-or-create and look-up of resources, always scoped to one group and batched."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Select,
    String,
    Uuid,
    delete,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from loomwork.db import tallies
from loomwork.db.base import utcnow
from loomwork.db.dialect import insert_ignoring_conflicts
from loomwork.db.scoping import GroupId, in_group
from loomwork.errors import Invalid, NotFound
from loomwork.resources.kinds import RESOURCE_KINDS, RejectedValue, ResourceKind
from loomwork.resources.models import Resource

resource_table = Resource.__table__


@dataclass(frozen=True)
class ResourceValue:
    id: uuid.UUID
    kind: str
    value: Any  # loaded (normalised) value
    staged_by: uuid.UUID | None = None  # a private draft's owner, until a commit publishes it

    @property
    def resource_kind(self) -> ResourceKind:
        return RESOURCE_KINDS[self.kind]

    @property
    def public(self) -> Any:
        return self.resource_kind.public(self.value)

    @property
    def label(self) -> str:
        return self.resource_kind.label(self.value)


def value_hash(stored: str) -> str:
    return hashlib.sha256(stored.encode()).hexdigest()


def normalise_value(kind: ResourceKind, raw: Any, field: str) -> Any:
    """Validate one value up front, so a bad one fails before anything is written."""
    try:
        return kind.normalise(raw)
    except RejectedValue as exc:
        raise Invalid(f"{field} {exc}.", field=field) from None


def normalise_values(kind: ResourceKind, raws: Sequence[Any], field: str) -> list[Any]:
    return [normalise_value(kind, raw, f"{field}[{i}]") for i, raw in enumerate(raws)]


def catalog_scope(
    group_id: GroupId, profile_id: uuid.UUID | BindParameter[uuid.UUID] | None
) -> list[ColumnElement[bool]]:
    """The one scope of every catalog read (resources API, get sections): the group's live resources,
    and the values staged by the reader's own drafts. A value only someone else's draft holds is absent."""
    visible: ColumnElement[bool] = Resource.staged_by.is_(None)
    if profile_id is not None:
        visible = or_(visible, Resource.staged_by == profile_id)
    return [in_group(Resource, group_id), visible]


def publish(session: Session, ids: Any) -> None:
    """Staged values become the group's: `ids` are resource ids, or a select of them (a live connection's).
    They join the group's tallies only now: a staged value is counted for nobody but its owner."""
    published = session.execute(
        update(Resource)
        .where(Resource.staged_by.is_not(None), Resource.id.in_(ids))
        .values(staged_by=None)
        .returning(Resource.group_id, Resource.kind)
        .execution_options(synchronize_session=False)
    ).all()
    by_group: dict[uuid.UUID, Counter[tuple[str, uuid.UUID]]] = {}
    for group_id, kind in published:
        by_group.setdefault(group_id, Counter())[(tally_scope(kind), tallies.WHOLE)] += 1
    for group_id, changes in by_group.items():
        tallies.add(session, group_id, changes)


def delete_staged(session: Session, profile_id: uuid.UUID, ids: Iterable[uuid.UUID]) -> None:
    """Delete values staged by `profile_id` among `ids` (a discarded draft's): never a published one, and never
    another profile's. A staged value has no connection yet, so nothing else refers to it."""
    ids = list(ids)
    if ids:
        session.execute(
            delete(Resource)
            .where(Resource.staged_by == profile_id, Resource.id.in_(ids))
            .execution_options(synchronize_session=False)
        )


def create_values(
    session: Session,
    group_id: uuid.UUID,
    kind: ResourceKind,
    raws: Sequence[Any],
    field: str,
    *,
    indexed: bool = True,
    staged_by: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Validate, resolve references and find-or-create: the one way a request's values become resources.

    Every value is checked before anything is written, so a bad one leaves nothing behind.
    `field` names the request field in errors (`field[2]` when `indexed`). With `staged_by` (a private
    draft's owner) new values are staged: only that profile's catalog shows them until a commit.
    """
    names = [f"{field}[{i}]" if indexed else field for i in range(len(raws))]
    values = [normalise_value(kind, raw, name) for raw, name in zip(raws, names)]
    if kind.references:
        res = DirectResolver(session, group_id, staged_by)
        values = [resolve_references_with(res, kind, value, name) for value, name in zip(values, names)]
    return find_or_create(session, group_id, kind, values, staged_by=staged_by)


def resolve_references(
    session: Session,
    group_id: uuid.UUID,
    kind: ResourceKind,
    value: dict[str, Any],
    field: str,
    reader: uuid.UUID | None = None,
) -> dict[str, Any]:
    """`reader` (the caller) may name the values they staged by id; another's staged value is an unknown id."""
    for id_field, referenced in kind.references:
        if id_field in value:
            rid = uuid.UUID(value[id_field])
            target = load(session, group_id, [rid]).get(rid)
            if target is not None and not selectable(target, reader):
                require_kind({}, [rid], referenced, f"{field}.{id_field}")
    return resolve_references_with(DirectResolver(session, group_id), kind, value, field)


def resolve_references_with(res: Resolver, kind: ResourceKind, value: dict[str, Any], field: str) -> dict[str, Any]:
    """Each referenced resource must be the group's and of the right kind; one given by value is created-or-found."""
    value, labels = dict(value), {}
    for id_field, referenced in kind.references:
        inline = id_field.removesuffix("_id")
        if inline in value:
            (rid,) = res.create_values(
                RESOURCE_KINDS[referenced], [value.pop(inline)], f"{field}.{inline}", indexed=False
            )
            value[id_field] = str(rid)
        else:
            rid = uuid.UUID(value[id_field])
        target = res.load([rid])
        require_kind(target, [rid], referenced, f"{field}.{id_field}")
        labels[id_field] = target[rid].label
    return {**value, "labels": labels}


def find_or_create(
    session: Session,
    group_id: uuid.UUID,
    kind: ResourceKind,
    values: Sequence[Any],
    *,
    staged_by: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Ids for normalised values, in input order; values new to the group are created (deduped)."""
    if not values:
        return []
    stored = [kind.dump(v) for v in values]
    hashes = [value_hash(kind.dedupe_text(v)) for v in values]
    found = ids_by_hash(session, group_id, kind.name, set(hashes))
    missing = {h: (uuid.uuid4(), s) for h, s in zip(hashes, stored) if h not in found}
    found.update(insert_values(session, group_id, kind.name, missing, staged_by=staged_by))
    return [found[h] for h in hashes]


def insert_values(
    session: Session,
    group_id: uuid.UUID,
    kind: str,
    new: dict[str, tuple[uuid.UUID, str]],
    *,
    staged_by: uuid.UUID | None = None,
) -> dict[str, uuid.UUID]:
    """Insert values by hash ({hash: (id, stored value)}) in one statement; returns each hash's real id,
    re-read because a concurrent writer may have inserted the same value first (then its id wins)."""
    if not new:
        return {}
    now = utcnow()
    insert_ignoring_conflicts(
        session,
        resource_table,
        [
            {
                "id": rid,
                "group_id": group_id,
                "kind": kind,
                "value": stored,
                "value_hash": text_hash,
                "created_at": now,
                "staged_by": staged_by,
            }
            for text_hash, (rid, stored) in new.items()
        ],
    )
    found = ids_by_hash(session, group_id, kind, set(new))
    # Only the rows this statement inserted count: a value another writer inserted first kept its id.
    inserted = sum(1 for text_hash, (rid, _stored) in new.items() if found.get(text_hash) == rid)
    if staged_by is None:  # a staged value is counted when it is published
        tallies.add(session, group_id, Counter({(tally_scope(kind), tallies.WHOLE): inserted}))
    return found


def find_existing(session: Session, group_id: uuid.UUID, kind: ResourceKind, value: Any) -> uuid.UUID | None:
    """The id of a normalised value the group already has, or None; creates nothing."""
    text_hash = value_hash(kind.dedupe_text(value))
    return ids_by_hash(session, group_id, kind.name, {text_hash}).get(text_hash)


def ids_by_hash(session: Session, group_id: uuid.UUID, kind: str, hashes: set[str]) -> dict[str, uuid.UUID]:
    rows = session.execute(
        select(Resource.value_hash, Resource.id).where(
            in_group(Resource, group_id), Resource.kind == kind, Resource.value_hash.in_(hashes)
        )
    )
    return dict(rows.all())


def _load(session: Session, *conditions: Any) -> dict[uuid.UUID, ResourceValue]:
    rows = session.execute(select(Resource.id, Resource.kind, Resource.value, Resource.staged_by).where(*conditions))
    return {
        rid: ResourceValue(rid, kind, RESOURCE_KINDS[kind].load(value), staged_by)
        for rid, kind, value, staged_by in rows
    }


def load(session: Session, group_id: uuid.UUID, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ResourceValue]:
    """The group's resources among `ids`; ids of other groups are simply absent."""
    ids = set(ids)
    return _load(session, in_group(Resource, group_id), Resource.id.in_(ids)) if ids else {}


def load_unscoped(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ResourceValue]:
    """Resources by id in any group: only for derived data built from connections the engine already scoped."""
    ids = set(ids)
    return _load(session, Resource.id.in_(ids)) if ids else {}


def selectable(value: ResourceValue, reader: uuid.UUID | None) -> bool:
    """Whether a request may select this value by id: a live one, or one the reader staged. Another's staged
    value is theirs alone (catalog_scope hides it), so naming its id must answer as an unknown id does."""
    return value.staged_by is None or value.staged_by == reader


def require_kind(found: dict[uuid.UUID, ResourceValue], ids: Sequence[uuid.UUID], kind: str, field: str) -> None:
    """404 for an id that is unknown, another group's, or of another kind (existence never leaks)."""
    for rid in ids:
        resource = found.get(rid)
        if resource is None or resource.kind != kind:
            raise NotFound(f"{field}: no {kind} resource with id {rid}.", field=field)


class Resolver(Protocol):
    """How a form's rules (`engine.form.apply_patch`) reach the group's resources. `reader`: the profile whose
    staged values a request may select by id (the draft's owner, the caller); None: live values only."""

    @property
    def reader(self) -> uuid.UUID | None: ...

    def load(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ResourceValue]: ...

    def create_values(
        self, kind: ResourceKind, raws: Sequence[Any], field: str, *, indexed: bool = True
    ) -> list[uuid.UUID]: ...

    def find_or_create(self, kind: ResourceKind, values: Sequence[Any]) -> list[uuid.UUID]: ...

    def find_existing(self, kind: ResourceKind, value: Any) -> uuid.UUID | None: ...


@dataclass(frozen=True)
class DirectResolver:
    """Every call goes to the database at once: drafts, updates and single creates.
    `staged_by`: new values are staged by that profile (a private draft's owner), who may also select their
    staged values by id; `selects_staged_of` lets a profile select theirs without staging new ones (a commit)."""

    session: Session
    group_id: uuid.UUID
    staged_by: uuid.UUID | None = None
    selects_staged_of: uuid.UUID | None = None

    @property
    def reader(self) -> uuid.UUID | None:
        return self.staged_by or self.selects_staged_of

    def load(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ResourceValue]:
        return load(self.session, self.group_id, ids)

    def create_values(
        self, kind: ResourceKind, raws: Sequence[Any], field: str, *, indexed: bool = True
    ) -> list[uuid.UUID]:
        return create_values(self.session, self.group_id, kind, raws, field, indexed=indexed, staged_by=self.staged_by)

    def find_or_create(self, kind: ResourceKind, values: Sequence[Any]) -> list[uuid.UUID]:
        return find_or_create(self.session, self.group_id, kind, values, staged_by=self.staged_by)

    def find_existing(self, kind: ResourceKind, value: Any) -> uuid.UUID | None:
        return find_existing(self.session, self.group_id, kind, value)


Conditions = Sequence[ColumnElement[bool]]
# A resource of a page: (id, stored value, created_at); `newest_pages` gives (page index, id, stored value).
PageRow = Row[uuid.UUID, str, datetime]
IndexedPageRow = Row[int, uuid.UUID, str]


def _page_query(
    conditions: Conditions, limit: int | ColumnElement[int], offset: int = 0
) -> Select[uuid.UUID, str, datetime]:
    return (
        select(Resource.id, Resource.value, Resource.created_at)
        .where(*conditions)
        .order_by(Resource.created_at.desc(), Resource.id.desc())
        .limit(limit)
        .offset(offset)
    )


def newest_page(
    session: Session, conditions: Conditions, limit: int, offset: int = 0, total: int | None = None
) -> tuple[Sequence[PageRow], int]:
    """A page of the resources matching `conditions`, newest first (index order), and how many match in all.

    Two statements at most: the page, then a count only when the page cannot tell the total and the
    caller does not know it (`total`, from the tallies). A window count would make the database read
    every matching row's value (100,000 names) before the limit.
    """
    rows = session.execute(_page_query(conditions, limit, offset)).all()
    return rows, _total(session, conditions, limit, offset, rows, total)


def _total(
    session: Session,
    conditions: Conditions,
    limit: int,
    offset: int,
    rows: Sequence[object],
    known: int | None,
    params: Mapping[str, Any] | None = None,
) -> int:
    if 0 < len(rows) < limit or (offset == 0 and not rows):
        return offset + len(rows)
    if known is not None:
        return known
    return session.scalar(select(func.count()).select_from(Resource).where(*conditions), params) or 0


@dataclass(frozen=True)
class PagesQuery:
    """Several newest-first pages in one statement: (page index, id, stored value) in page, then index order.
    Built from conditions and limits that may be bind parameters, so a caller can build it once per shape
    of request and run it with each request's values; `conditions` count a page that cannot tell its total."""

    statement: Select[int, uuid.UUID, str]
    conditions: tuple[Conditions, ...]


def pages_query(pages: Sequence[tuple[Conditions, int | ColumnElement[int]]]) -> PagesQuery:
    parts = [
        select(literal(index).label("page"), *query.subquery().c)
        for index, query in enumerate(_page_query(conditions, limit) for conditions, limit in pages)
    ]
    # The database puts the rows back in page and index order (a UNION keeps none): Python neither sorts
    # them nor reads each row's created_at (hundreds of rows per `get`).
    union = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    statement = select(union.c.page, union.c.id, union.c.value).order_by(
        union.c.page, union.c.created_at.desc(), union.c.id.desc()
    )
    return PagesQuery(statement, tuple(conditions for conditions, _limit in pages))


def newest_pages(
    session: Session,
    query: PagesQuery,
    params: Mapping[str, Any],
    limits: Sequence[int],
    known: Sequence[int | None],
) -> list[tuple[list[IndexedPageRow], int]]:
    """`newest_page` for the pages of `query` at once, with their bind `params`, each page's limit and each
    total the caller knows already: one statement for every page, and a count only where needed."""
    found: list[list[IndexedPageRow]] = [[] for _ in query.conditions]
    for row in session.execute(query.statement, params):
        found[row.page].append(row)
    return [
        (rows, _total(session, conditions, limit, 0, rows, total, params))
        for rows, conditions, limit, total in zip(found, query.conditions, limits, known)
    ]


def tally_scope(kind: str) -> str:
    """The tally of how many resources of a kind a group has (db/tallies.py)."""
    return f"resources.{kind}"


def count_of_kind(
    session: Session, group_id: uuid.UUID, kinds: Iterable[str], profile_id: uuid.UUID | None = None
) -> dict[str, int]:
    """How many resources of each kind the reader sees: the group's live ones from its tallies (no row
    counted), and the reader's own staged ones (an indexed count of a draft's few new values)."""
    kinds = list(dict.fromkeys(kinds))
    found = tallies.read(session, group_id, [tally_scope(k) for k in kinds])
    counts = {k: found[tally_scope(k)].get(tallies.WHOLE, 0) for k in kinds}
    if profile_id is not None:
        for kind, staged in session.execute(
            select(Resource.kind, func.count())
            .where(Resource.staged_by == profile_id, in_group(Resource, group_id), Resource.kind.in_(kinds))
            .group_by(Resource.kind)
        ):
            counts[kind] += staged
    return counts


def rebuild_tallies(session: Session, group_id: uuid.UUID) -> None:
    """Recompute the group's resource counts per kind from the resources themselves."""
    rows = (
        select(literal(group_id, Uuid), literal("resources.", String) + Resource.kind, tallies.whole(), func.count())
        .where(in_group(Resource, group_id), Resource.staged_by.is_(None))
        .group_by(Resource.kind)
    )
    tallies.replace(session, group_id, lambda scope: scope.startswith("resources.", autoescape=True), rows)
