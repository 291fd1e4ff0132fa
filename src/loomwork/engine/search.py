"""Search with disjunctive facets over the derived search documents, and keeping those documents true.

A search is a fixed number of statements whatever the data: the page with its
total, the facet counts of every section in one UNION ALL, then the page's rows,
connections and values. The text matches and each filter are materialised once
per statement (CTEs) and joined from there, so the work follows the size of the
match, not of the group. Each facet counts the matches under all the *other* filters, so a
person sees how many results each option would add. Pending connections count
nowhere: documents, filters and facets read active connections only.
"""

from __future__ import annotations

import heapq
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypedDict, assert_never

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    String,
    Uuid,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from loomwork.db import tallies
from loomwork.db.dialect import (
    Dialect,
    dialect_of,
    escape_like,
    fold,
    fold_text,
    matching_words,
    rebuild_word_index,
)
from loomwork.db.scoping import in_group
from loomwork.engine.declaration import ArtifactKind, Facet
from loomwork.engine.form import FormState, active_value
from loomwork.engine.models import Artifact, Connection
from loomwork.engine.repository import load_states
from loomwork.engine.search_models import FTS_TABLE, SearchDocument
from loomwork.principal import Principal
from loomwork.resources import service as resources
from loomwork.resources.models import Resource
from loomwork.resources.service import ResourceValue

docs = SearchDocument.__table__
conn = Connection.__table__
FACET_LIMIT = 50
REBUILD_CHUNK = 1000


# --- keeping documents true ---------------------------------------------------------------------------------


class ArtifactStamp(Protocol):
    """What a search document is keyed and dated by: an artifact row, or one about to be inserted."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def group_id(self) -> uuid.UUID: ...
    @property
    def updated_at(self) -> datetime: ...


def _documents(session: Session, kind: ArtifactKind, rows: Sequence[ArtifactStamp]) -> list[dict[str, Any]]:
    """Search rows for artifacts (id, group_id, updated_at), from their active text connections."""
    states = load_states(session, [r.id for r in rows])
    text_ids = {rid for s in states.values() for key in kind.text_slots for rid in s.ids(key) if rid not in s.pending}
    return document_rows(kind, rows, states, resources.load_unscoped(session, text_ids))


def document_rows(
    kind: ArtifactKind,
    rows: Sequence[ArtifactStamp],
    states: dict[uuid.UUID, FormState],
    values: dict[uuid.UUID, ResourceValue],
) -> list[dict[str, Any]]:
    """The search rows of artifacts whose states and text values the caller holds already."""
    documents = []
    for row in rows:
        state = states[row.id]
        parts = [
            values[rid].label
            for key in kind.text_slots
            for rid in state.ids(key)
            if rid in values and rid not in state.pending
        ]
        documents.append(
            {
                "artifact_id": row.id,
                "group_id": row.group_id,
                "kind": kind.name,
                "updated_at": row.updated_at,
                "document": "\n".join(parts).lower(),
            }
        )
    return documents


def index_new(
    session: Session,
    kind: ArtifactKind,
    rows: Sequence[ArtifactStamp],
    states: dict[uuid.UUID, FormState],
    values: dict[uuid.UUID, ResourceValue],
) -> None:
    """Documents for artifacts just inserted (so none exist yet), without reading back what the caller holds."""
    if rows:
        session.execute(insert(docs), document_rows(kind, rows, states, values))


def reindex(session: Session, kind: ArtifactKind, artifact_ids: Iterable[uuid.UUID]) -> None:
    """Rewrite the documents of these artifacts in the writer's transaction: search sees every commit at once."""
    ids = list(artifact_ids)
    if not ids:
        return
    rows = session.execute(
        select(Artifact.id, Artifact.group_id, Artifact.updated_at).where(Artifact.id.in_(ids))
    ).all()
    session.execute(delete(docs).where(docs.c.artifact_id.in_(ids)))
    documents = _documents(session, kind, rows)
    if documents:
        session.execute(insert(docs), documents)


def rebuild(session: Session, kind: ArtifactKind, group_id: uuid.UUID) -> list[str]:
    """Recompute every document of the kind in the group from the base tables; returns the views rebuilt."""
    session.execute(delete(docs).where(in_group(docs, group_id), docs.c.kind == kind.name))
    query = (
        select(Artifact.id, Artifact.group_id, Artifact.updated_at)
        .where(in_group(Artifact, group_id), Artifact.kind == kind.name)
        .order_by(Artifact.id)
    )
    last: uuid.UUID | None = None
    while True:
        chunk_query = query.limit(REBUILD_CHUNK)
        if last is not None:
            chunk_query = chunk_query.where(Artifact.id > last)
        chunk = session.execute(chunk_query).all()
        if not chunk:
            break
        session.execute(insert(docs), _documents(session, kind, chunk))
        last = chunk[-1].id
    rebuild_tallies(session, kind, group_id)
    return ["search_documents", "tally_totals", *rebuild_word_index(session, FTS_TABLE)]


# --- tallies: counts kept with each write (db/tallies.py) ---------------------------------------------------


def slot_scope(kind: ArtifactKind, slot_key: str) -> str:
    return f"{kind.name}.{slot_key}"


def tally_changes(
    kind: ArtifactKind, pairs: Iterable[tuple[FormState | None, FormState | None]]
) -> Counter[tuple[str, uuid.UUID]]:
    """The net tally change of artifacts going from `before` to `after` (None: absent): per slot, one
    per active connection to a resource, and one per artifact of the kind. An unchanged slot adds nothing."""
    changes: Counter[tuple[str, uuid.UUID]] = Counter()
    for before, after in pairs:
        for state, sign in ((after, 1), (before, -1)):
            if state is None:
                continue
            changes[(kind.name, tallies.WHOLE)] += sign
            for key, ids in state.slots.items():
                scope = slot_scope(kind, key)
                for rid in ids:
                    if rid not in state.pending:
                        changes[(scope, rid)] += sign
    return changes


def record_tallies(
    session: Session,
    kind: ArtifactKind,
    group_id: uuid.UUID,
    pairs: Iterable[tuple[FormState | None, FormState | None]],
) -> None:
    """Keep the kind's tallies true for artifacts written from `before` to `after`, in the writer's transaction."""
    tallies.add(session, group_id, tally_changes(kind, pairs))


def rebuild_tallies(session: Session, kind: ArtifactKind, group_id: uuid.UUID) -> None:
    """Recompute the kind's tallies in the group from the artifacts and their active connections."""
    artifacts = Artifact.__table__
    group = literal(group_id, Uuid)
    per_slot = (
        select(group, literal(f"{kind.name}.", String) + conn.c.slot, conn.c.resource_id, func.count())
        .select_from(conn.join(artifacts, artifacts.c.id == conn.c.artifact_id))
        .where(in_group(artifacts, group_id), artifacts.c.kind == kind.name, conn.c.active.is_(True))
        .group_by(conn.c.slot, conn.c.resource_id)
    )
    whole = select(group, literal(kind.name, String), tallies.whole(), func.count()).where(
        in_group(artifacts, group_id), artifacts.c.kind == kind.name
    )
    tallies.replace(
        session,
        group_id,
        lambda scope: or_(scope == kind.name, scope.startswith(f"{kind.name}.", autoescape=True)),
        union_all(per_slot, whole),
    )
    resources.rebuild_tallies(session, group_id)


# --- searching ------------------------------------------------------------------------------------------------

_WORD_PART = re.compile(r"[^\W_]+")
# (artifact_id, updated_at, group_id, kind) of the documents a search text matches.
MatchQuery = Select[uuid.UUID, datetime, uuid.UUID, str]


def _text_conditions(query: MatchQuery, dialect: Dialect, search_text: str | None) -> MatchQuery:
    # Returns `query` itself when the search has no words.
    """Every word of the search must start a word of the document (case-insensitive).

    Words are matched through the database's word index; a "word" with no letters
    or digits at all (say "%") falls back to a literal substring match.
    """
    tokens: list[str] = []
    for word in (search_text or "").lower().split():
        parts = _WORD_PART.findall(word)
        if parts:
            tokens.extend(parts)
        else:
            query = query.where(docs.c.document.like(f"%{escape_like(word)}%", escape="\\"))
    if not tokens:
        return query
    return matching_words(query, dialect, docs, FTS_TABLE, tokens)


def _scope_after_matching(dialect: Dialect) -> bool:
    """On SQLite the word index must drive the query: given the group and kind too, SQLite walks
    the group's documents and probes the index once per document. So there the group and kind
    are checked on the (small) materialised match instead, in _Plan.conditions. PostgreSQL
    needs them inside, or it cannot estimate the match's size."""
    match dialect:
        case Dialect.SQLITE:
            return True
        case Dialect.POSTGRESQL:
            return False
        case _:
            assert_never(dialect)


def _matched(kind: ArtifactKind, principal: Principal, dialect: Dialect, search_text: str | None) -> MatchQuery:
    query: MatchQuery = select(docs.c.artifact_id, docs.c.updated_at, docs.c.group_id, docs.c.kind)
    searched = _text_conditions(query, dialect, search_text)
    if searched is query or not _scope_after_matching(dialect):
        return searched.where(in_group(docs, principal.group_id), docs.c.kind == kind.name)
    return searched


@dataclass
class _Plan:
    """The text matches (materialised once per statement) and each active filter's subquery."""

    matched: CTE
    filters: dict[str, Select[uuid.UUID]]
    group_id: uuid.UUID
    kind: str
    dialect: Dialect

    def conditions(self, excluding: str | None = None) -> list[ColumnElement[bool]]:
        scope = [in_group(self.matched, self.group_id), self.matched.c.kind == self.kind]
        return (scope if _scope_after_matching(self.dialect) else []) + [
            self.matched.c.artifact_id.in_(subquery) for name, subquery in self.filters.items() if name != excluding
        ]


def _plan(kind: ArtifactKind, principal: Principal, dialect: Dialect, request: dict[str, Any]) -> _Plan:
    matched = _matched(kind, principal, dialect, request.get("search")).cte("matched").prefix_with("MATERIALIZED")
    filters: dict[str, Select[uuid.UUID]] = {}
    for facet in kind.facets:
        if request.get(facet.ids_field):
            # A plain subquery, not a CTE: PostgreSQL cannot see the size of a materialised CTE and
            # would probe it once per match; as a subquery both databases hash or index it.
            filters[facet.name] = select(conn.c.artifact_id).where(
                conn.c.slot == facet.slot, conn.c.active.is_(True), conn.c.resource_id.in_(request[facet.ids_field])
            )
    return _Plan(matched, filters, principal.group_id, kind.name, dialect)


def _facet_counts(facets: Iterable[Facet], plan: _Plan, request: dict[str, Any]) -> list[Select[str, uuid.UUID, int]]:
    """Every facet's counts in one statement; a facet counts under all the other filters.

    `artifact_id IN (matches)` lets the database walk the (small) match and look each
    connection up by primary key, rather than scan connections and probe the match.
    """
    parts: list[Select[str, uuid.UUID, int]] = []
    for facet in facets:
        candidates = select(plan.matched.c.artifact_id).where(*plan.conditions(excluding=facet.name))
        query = select(literal(facet.name).label("facet"), conn.c.resource_id, func.count().label("n")).where(
            conn.c.artifact_id.in_(candidates), conn.c.slot == facet.slot, conn.c.active.is_(True)
        )
        needle = fold_text((request.get(facet.search_field) or "").strip())
        if needle:
            query = query.join(Resource, Resource.id == conn.c.resource_id).where(
                fold(Resource.value).like(f"%{escape_like(needle)}%", escape="\\")
            )
        parts.append(query.group_by(conn.c.resource_id))
    return parts


def search(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    request: dict[str, Any],
    page_size: int,
    page_offset: int,
) -> dict[str, Any]:
    """One page of matches with the total, then every facet section in one statement, then the page's values."""
    plan = _plan(kind, principal, dialect_of(session), request)
    counts: dict[str, dict[uuid.UUID, int]] = {f.name: {} for f in kind.facets}
    options: dict[str, int] = {}  # how many options a section has, where `counts` holds only its top ones
    if plan.filters or (request.get("search") or "").split():
        page = session.execute(
            select(plan.matched.c.artifact_id, func.count().over().label("total"))
            .where(*plan.conditions())
            .order_by(plan.matched.c.updated_at.desc(), plan.matched.c.artifact_id)
            .limit(page_size)
            .offset(page_offset)
        ).all()
        if page or not page_offset:
            total = page[0].total if page else 0
        else:  # past the last page: count on its own
            total = session.scalar(select(func.count()).select_from(plan.matched).where(*plan.conditions())) or 0
        counted = kind.facets
    else:
        # No text and no filter (the list everyone opens first): the page walks the listing index, and the
        # total and every facet's counts are the group's tallies, whatever the group's size. A facet
        # narrowed by its own search text is still counted below.
        page = session.execute(
            select(docs.c.artifact_id)
            .where(in_group(docs, principal.group_id), docs.c.kind == kind.name)
            .order_by(docs.c.updated_at.desc(), docs.c.artifact_id)
            .limit(page_size)
            .offset(page_offset)
        ).all()
        counted = tuple(f for f in kind.facets if fold_text((request.get(f.search_field) or "").strip()))
        tallied = [f for f in kind.facets if f not in counted]
        # Nothing is selected without a filter, so a section shows its top FACET_LIMIT: the database ranks them.
        known = tallies.read_top(
            session, principal.group_id, [kind.name, *(slot_scope(kind, f.slot) for f in tallied)], FACET_LIMIT
        )
        total = known[kind.name][0].get(tallies.WHOLE, 0)
        for facet in tallied:
            counts[facet.name], options[facet.name] = known[slot_scope(kind, facet.slot)]
    if counted:
        parts = _facet_counts(counted, plan, request)
        for facet_name, resource_id, n in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
            counts[facet_name][resource_id] = n
    items = list_items(session, kind, principal, [r.artifact_id for r in page])
    response: dict[str, Any] = {"actor_name": principal.name, kind.plural: items, "total_count": total}
    response.update(_facet_sections(session, kind, principal, counts, request, options))
    return response


def matching_ids_query(
    kind: ArtifactKind, principal: Principal, request: dict[str, Any], dialect: Dialect
) -> Select[uuid.UUID]:
    """The ids of every artifact a search (or an export with the same filters) matches, newest first."""
    plan = _plan(kind, principal, dialect, request)
    return (
        select(plan.matched.c.artifact_id)
        .where(*plan.conditions())
        .order_by(plan.matched.c.updated_at.desc(), plan.matched.c.artifact_id)
    )


class FacetOption(TypedDict):
    id: uuid.UUID
    label: str
    count: int
    selected: bool


class FacetSection(TypedDict):
    options: list[FacetOption]
    total: int
    search: str | None


def _facet_sections(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    counts: dict[str, dict[uuid.UUID, int]],
    request: dict[str, Any],
    options: dict[str, int],
) -> dict[str, FacetSection]:
    """Each section: the selected options, then the most frequent ones, cut to 50."""
    shown: dict[str, list[uuid.UUID]] = {}
    for facet in kind.facets:
        selected = list(dict.fromkeys(request.get(facet.ids_field) or []))
        counted = counts[facet.name]
        room = max(FACET_LIMIT, len(selected)) - len(selected)
        # Only the first `room` are shown: a heap picks them from thousands of options without sorting all.
        top = heapq.nsmallest(room, ((-n, str(rid), rid) for rid, n in counted.items() if rid not in selected))
        shown[facet.name] = selected + [rid for _n, _s, rid in top]
    labels = resources.load(session, principal.group_id, {rid for ids in shown.values() for rid in ids})
    sections: dict[str, FacetSection] = {}
    for facet in kind.facets:
        selected_ids = set(request.get(facet.ids_field) or [])
        shown_options: list[FacetOption] = [
            {
                "id": rid,
                "label": labels[rid].label,
                "count": counts[facet.name].get(rid, 0),
                "selected": rid in selected_ids,
            }
            for rid in shown[facet.name]
            if rid in labels
        ]
        sections[facet.filter_field] = {
            "options": shown_options,
            "total": options.get(facet.name, len(counts[facet.name])),
            "search": request.get(facet.search_field),
        }
    return sections


def list_items(
    session: Session, kind: ArtifactKind, principal: Principal, artifact_ids: list[uuid.UUID]
) -> list[dict[str, Any]]:
    """Summaries of artifacts in the given order: each slot's active values, version and time."""
    if not artifact_ids:
        return []
    meta = {
        r.id: r
        for r in session.execute(
            select(Artifact.id, Artifact.version, Artifact.updated_at).where(Artifact.id.in_(artifact_ids))
        )
    }
    states = load_states(session, artifact_ids)
    values = resources.load(session, principal.group_id, {rid for s in states.values() for rid in s.all_ids()})
    items = []
    for artifact_id in artifact_ids:
        state, row = states[artifact_id], meta[artifact_id]
        item: dict[str, Any] = {kind.id_field: artifact_id, "version": row.version, "updated_at": row.updated_at}
        for slot in kind.slots:
            active = [values[rid].public for rid in state.ids(slot.key) if rid in values and rid not in state.pending]
            item[slot.field] = slot.shown(active)
        item["active"] = active_value(kind, state, values)
        items.append(item)
    return items
