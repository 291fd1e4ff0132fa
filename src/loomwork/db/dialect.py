"""The few statements that differ between SQLite and PostgreSQL, behind one helper each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, Text, any_, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import GenericFunction


def insert_ignoring_conflicts(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: concurrent creators of one value both end up with the same row."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(table).on_conflict_do_nothing(), rows)


def serialize_on(session: Session, name: str) -> None:
    """Hold a lock on `name` until the transaction ends, for writes that have no row to lock yet.

    PostgreSQL takes a transaction-scoped advisory lock; SQLite needs none, since its writers
    already run one at a time (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})


def escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern (used with escape='\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fold_text(text: str) -> str:
    """Lowercase beyond ASCII ("Équipe" and "ÉQUIPE" compare equal), as PostgreSQL's lower() does."""
    return text.lower()


class fold(GenericFunction[str]):  # noqa: N801 - reads as SQL: fold(column)
    """A column lowercased in SQL on both databases. SQLite's lower() only knows ASCII, so there it
    calls `loomwork_fold`, a Python function each SQLite connection registers (db/database.py)."""

    type = Text()
    name = "fold"
    inherit_cache = True


@compiles(fold)
def _fold_default(element: fold, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(fold, "sqlite")
def _fold_sqlite(element: fold, compiler: Any, **kw: Any) -> str:
    return f"loomwork_fold({compiler.process(element.clauses, **kw)})"


class ordered_list(GenericFunction[str]):  # noqa: N801 - reads as SQL: ordered_list(value, position)
    """An aggregate: the group's values as one comma-separated text, each prefixed with its
    position zero-padded to six digits ("000002<value>").

    SQLite (before 3.44) cannot order inside an aggregate, so the order is carried in the text:
    sorting the items restores it (`in_position_order`). Values must not contain commas (ids are safe).
    """

    type = Text()
    name = "ordered_list"
    inherit_cache = True


POSITION_DIGITS = 6


@compiles(ordered_list, "postgresql")
def _ordered_list_postgresql(element: ordered_list, compiler: Any, **kw: Any) -> str:
    value, position = (compiler.process(c, **kw) for c in element.clauses)
    return f"string_agg(lpad(({position})::text, {POSITION_DIGITS}, '0') || {value}, ',')"


@compiles(ordered_list, "sqlite")
def _ordered_list_sqlite(element: ordered_list, compiler: Any, **kw: Any) -> str:
    value, position = (compiler.process(c, **kw) for c in element.clauses)
    return f"group_concat(printf('%0{POSITION_DIGITS}d', {position}) || {value}, ',')"


def in_position_order(joined: str) -> list[str]:
    """The values of an `ordered_list`, in position order."""
    items = joined.split(",")
    if len(items) > 1:
        items.sort()
    return [item[POSITION_DIGITS:] for item in items]


def among(session: Session, column: Any, ids: list[Any]) -> Any:
    """`column IN ids`, as one array parameter on PostgreSQL: thousands of ids bind and plan faster that way."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", list(ids), type_=postgresql.ARRAY(column.type), unique=True))
    return column.in_(ids)
