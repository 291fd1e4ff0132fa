"""Counts kept with each write, so a list or a picker never counts 100,000 rows to show 50.

A tally is a number per (group, scope, item): how many artifacts of a kind a group has
(scope `persona`), how many active connections point at a resource from one slot of a kind
(scope `persona.department`, item the resource id), how many resources of a kind a group has
(scope `resources.name`). Writers never update a shared counter row: that would make every
writer of a group wait for the one before it on PostgreSQL (the flag "active" is in every
persona). Each write appends its net change as delta rows instead, and a read sums the folded
totals and the deltas. Now and then a writer folds its group's deltas into the totals, taking
them with DELETE ... RETURNING, so two folders never count one delta twice.

Derived data: `rebuild` recomputes a kind's tallies from the base tables (refresh calls it).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Index,
    Integer,
    String,
    Uuid,
    bindparam,
    delete,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from loomwork.db.base import Base
from loomwork.db.dialect import dialect_of, upsert_into
from loomwork.db.scoping import in_group

# The item of a scope that counts one thing only (artifacts of a kind, resources of a kind).
WHOLE = uuid.UUID(int=0)
# A writer folds its group's deltas one time in this many: few enough that deltas stay a small
# share of what a read sums, rare enough that folding (a few ms) costs writes nearly nothing.
FOLD_ONE_IN = 32


class TallyTotal(Base):
    __tablename__ = "tally_totals"
    # On SQLite the rows live in their key's order (no rowid table beside the key's index), so a scope's
    # thousands of counts are a few adjacent pages, not one random table lookup each.
    __table_args__ = ({"sqlite_with_rowid": False},)

    group_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    item: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class TallyDelta(Base):
    __tablename__ = "tally_deltas"
    __table_args__ = (Index("ix_tally_deltas_group_scope", "group_id", "scope", "item", "delta"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    group_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    scope: Mapped[str] = mapped_column(String(80))
    item: Mapped[uuid.UUID] = mapped_column(Uuid)
    delta: Mapped[int] = mapped_column(Integer)


totals = TallyTotal.__table__
# The ranking index hands `read_top` a scope's highest counts without ranking all of them.
Index("ix_tally_totals_rank", totals.c.group_id, totals.c.scope, totals.c.n.desc(), totals.c.item)
deltas = TallyDelta.__table__


def add(session: Session, group_id: uuid.UUID, changes: Counter[tuple[str, uuid.UUID]]) -> None:
    """Record net changes {(scope, item): delta} in the writer's transaction: one statement."""
    rows = [
        {"group_id": group_id, "scope": scope, "item": item, "delta": delta}
        for (scope, item), delta in changes.items()
        if delta
    ]
    if not rows:
        return
    session.execute(deltas.insert(), rows)
    if FOLD_ONE_IN and random.randrange(FOLD_ONE_IN) == 0:
        fold(session, group_id)


def fold(session: Session, group_id: uuid.UUID) -> None:
    """Move the group's deltas into its totals (what a read sums stays the same)."""
    taken: Counter[tuple[str, uuid.UUID]] = Counter()
    for scope, item, delta in session.execute(
        delete(deltas).where(in_group(deltas, group_id)).returning(deltas.c.scope, deltas.c.item, deltas.c.delta)
    ):
        taken[(scope, item)] += delta
    rows = sorted(
        ({"group_id": group_id, "scope": s, "item": i, "n": n} for (s, i), n in taken.items() if n),
        key=lambda r: (r["scope"], str(r["item"])),
    )  # one order: two folders never deadlock
    if not rows:
        return
    statement = upsert_into(dialect_of(session), totals)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["group_id", "scope", "item"], set_={"n": totals.c.n + statement.excluded.n}
        ),
        rows,
    )


@lru_cache(maxsize=1)
def _summed() -> Any:
    """Totals plus deltas per (scope, item), above zero; built once (every `get` reads its counts with it) and
    run with the parameters group_id and scopes."""
    group_id = bindparam("group_id", type_=Uuid)
    scopes: BindParameter[str] = bindparam("scopes", type_=String, expanding=True)
    both = union_all(
        select(totals.c.scope, totals.c.item, totals.c.n.label("n")).where(
            in_group(totals, group_id), totals.c.scope.in_(scopes)
        ),
        select(deltas.c.scope, deltas.c.item, deltas.c.delta.label("n")).where(
            in_group(deltas, group_id), deltas.c.scope.in_(scopes)
        ),
    ).subquery()
    return (
        select(both.c.scope, both.c.item, func.sum(both.c.n).label("n"))
        .group_by(both.c.scope, both.c.item)
        .having(func.sum(both.c.n) > 0)
    )


def read(session: Session, group_id: uuid.UUID, scopes: Iterable[str]) -> dict[str, dict[uuid.UUID, int]]:
    """{scope: {item: count}} for the scopes asked, items with a count above zero only; one statement."""
    scopes = list(scopes)
    found: dict[str, dict[uuid.UUID, int]] = {scope: {} for scope in scopes}
    if not scopes:
        return found
    for scope, item, n in session.execute(_summed(), {"group_id": group_id, "scopes": scopes}):
        found[scope][item] = n
    return found


def read_top(
    session: Session, group_id: uuid.UUID, scopes: Iterable[str], limit: int
) -> dict[str, tuple[dict[uuid.UUID, int], int]]:
    """Per scope: its `limit` items of the highest count (ties by id), and how many items count at all.

    Two statements whatever the scopes' sizes, and neither ranks every item: the deltas (a fold empties them
    one write in 32, so they are few), then per scope the top of the totals from the ranking index, the
    totals of the items the deltas touch, and each scope's number of counted items. An item no delta touches
    counts its total, so the true top `limit` is among the top `limit` + (items with deltas) totals and those
    items. Ties go by the id, which orders as its text on both databases."""
    scopes = list(scopes)
    pending: dict[str, Counter[uuid.UUID]] = {scope: Counter() for scope in scopes}
    for scope, item, delta in session.execute(
        select(deltas.c.scope, deltas.c.item, func.sum(deltas.c.delta))
        .where(in_group(deltas, group_id), deltas.c.scope.in_(scopes))
        .group_by(deltas.c.scope, deltas.c.item)
    ):
        if delta:
            pending[scope][item] = delta
    branches = [
        select(literal("top").label("part"), totals.c.scope, totals.c.item, totals.c.n)
        .where(in_group(totals, group_id), totals.c.scope == scope, totals.c.n > 0)
        .order_by(totals.c.n.desc(), totals.c.item)
        .limit(limit + len(pending[scope]))
        .subquery()
        for scope in scopes
    ]
    parts: list[Any] = [select(*branch.c) for branch in branches]
    parts.append(
        select(literal("counted"), totals.c.scope, literal(WHOLE, Uuid), func.count())
        .where(in_group(totals, group_id), totals.c.scope.in_(scopes), totals.c.n > 0)
        .group_by(totals.c.scope)
    )
    touched = {item for counter in pending.values() for item in counter}
    if touched:
        parts.append(
            select(literal("touched"), totals.c.scope, totals.c.item, totals.c.n).where(
                in_group(totals, group_id), totals.c.scope.in_(scopes), totals.c.item.in_(touched)
            )
        )
    known: dict[str, dict[uuid.UUID, int]] = {scope: {} for scope in scopes}
    counted: Counter[str] = Counter()
    for part, scope, item, n in session.execute(union_all(*parts)):
        if part == "counted":
            counted[scope] = n
        else:
            known[scope][item] = n
    found: dict[str, tuple[dict[uuid.UUID, int], int]] = {}
    for scope in scopes:
        summed = dict(known[scope])
        for item, delta in pending[scope].items():
            before = known[scope].get(item, 0)
            summed[item] = before + delta
            counted[scope] += (summed[item] > 0) - (before > 0)  # an item that starts or stops counting
        ranked = sorted(((-n, item) for item, n in summed.items() if n > 0))[:limit]
        found[scope] = ({item: -negative for negative, item in ranked}, counted[scope])
    return found


def replace(session: Session, group_id: uuid.UUID, scope_condition: Callable[[Any], Any], rows: Any) -> None:
    """Drop the tallies `scope_condition` selects (on either table) and insert `rows`, a SELECT of
    (group_id, scope, item, n): how `rebuild` recomputes them from the base tables."""
    session.execute(delete(deltas).where(in_group(deltas, group_id), scope_condition(deltas.c.scope)))
    session.execute(delete(totals).where(in_group(totals, group_id), scope_condition(totals.c.scope)))
    session.execute(totals.insert().from_select(["group_id", "scope", "item", "n"], rows))


def whole() -> BindParameter[uuid.UUID]:
    """The WHOLE item as a SQL literal of the item column's type, for `replace` queries."""
    return literal(WHOLE, Uuid)
