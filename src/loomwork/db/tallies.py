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
from typing import Any

from sqlalchemy import BigInteger, BindParameter, Index, Integer, String, Uuid, delete, func, literal, select, union_all
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


def _summed(group_id: uuid.UUID, scopes: list[str]) -> Any:
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
    for scope, item, n in session.execute(_summed(group_id, scopes)):
        found[scope][item] = n
    return found


def read_top(
    session: Session, group_id: uuid.UUID, scopes: Iterable[str], limit: int
) -> dict[str, tuple[dict[uuid.UUID, int], int]]:
    """Per scope: its `limit` items of the highest count (ties by id), and how many items count at all.

    One statement; the database ranks, so a facet of 10,000 options sends 50 rows, not 10,000.
    Ties go by the id's text, which orders as the ids themselves on both databases."""
    scopes = list(scopes)
    summed = _summed(group_id, scopes).subquery()
    ranked = select(
        summed.c.scope,
        summed.c.item,
        summed.c.n,
        func.row_number().over(partition_by=summed.c.scope, order_by=(summed.c.n.desc(), summed.c.item)).label("rank"),
        func.count().over(partition_by=summed.c.scope).label("options"),
    ).subquery()
    found: dict[str, tuple[dict[uuid.UUID, int], int]] = {scope: ({}, 0) for scope in scopes}
    for scope, item, n, options in session.execute(
        select(ranked.c.scope, ranked.c.item, ranked.c.n, ranked.c.options).where(ranked.c.rank <= limit)
    ):
        found[scope][0][item] = n
        found[scope] = (found[scope][0], options)
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
