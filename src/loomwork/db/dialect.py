"""The few statements that differ between SQLite and PostgreSQL, behind one helper each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: concurrent creators of one value both end up with the same row."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(table).on_conflict_do_nothing(), rows)


def escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern (used with escape='\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fold_text(text: str) -> str:
    """Lowercase beyond ASCII ("Équipe" and "ÉQUIPE" compare equal), as PostgreSQL's lower() does."""
    return text.lower()


class fold(GenericFunction):  # noqa: N801 - reads as SQL: fold(column)
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


class ordered_list(GenericFunction):  # noqa: N801 - reads as SQL: ordered_list(value, position)
    """An aggregate: the group's values as one comma-separated text, in `position` order.

    PostgreSQL orders inside the aggregate; SQLite (before 3.44) has no such clause and
    concatenates in input order, so callers feed it rows from a subquery already ordered
    by the grouping key and then the position. Values must not contain commas (ids are safe).
    """

    type = Text()
    name = "ordered_list"
    inherit_cache = True


@compiles(ordered_list, "postgresql")
def _ordered_list_postgresql(element: ordered_list, compiler: Any, **kw: Any) -> str:
    value, position = (compiler.process(c, **kw) for c in element.clauses)
    return f"string_agg({value}, ',' ORDER BY {position})"


@compiles(ordered_list, "sqlite")
def _ordered_list_sqlite(element: ordered_list, compiler: Any, **kw: Any) -> str:
    value, _position = (compiler.process(c, **kw) for c in element.clauses)
    return f"group_concat({value}, ',')"
