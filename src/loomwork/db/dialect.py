"""The few statements that differ between SQLite and PostgreSQL, behind one helper each."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar, assert_never

from sqlalchemy import (
    Connection,
    Engine,
    FromClause,
    Select,
    TableClause,
    Text,
    any_,
    bindparam,
    column,
    func,
    table,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import GenericFunction


class Dialect(StrEnum):
    """The databases Loomwork runs on. Code that differs per database matches on it and ends with
    `assert_never`, so a third dialect, or a branch left out, fails type checking rather than production."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


def dialect_of(bind: Session | Connection | Engine) -> Dialect:
    engine_or_connection = bind.get_bind() if isinstance(bind, Session) else bind
    return Dialect(engine_or_connection.dialect.name)


def has_one_writer(dialect: Dialect) -> bool:
    """SQLite lets one writer in at a time and has no row locks to skip; PostgreSQL has both."""
    match dialect:
        case Dialect.SQLITE:
            return True
        case Dialect.POSTGRESQL:
            return False
        case _:
            assert_never(dialect)


def upsert_into(dialect: Dialect, table: FromClause) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses (both databases spell them alike, each in its own module).
    `table` is a model's `__table__`, which SQLAlchemy types as any FromClause."""
    if not isinstance(table, TableClause):
        raise TypeError(f"An upsert needs a table, not {table!r}.")
    match dialect:
        case Dialect.POSTGRESQL:
            return postgresql.insert(table)
        case Dialect.SQLITE:
            return sqlite.insert(table)
        case _:
            assert_never(dialect)


def insert_ignoring_conflicts(session: Session, table: FromClause, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: concurrent creators of one value both end up with the same row."""
    if not rows:
        return
    session.execute(upsert_into(dialect_of(session), table).on_conflict_do_nothing(), rows)


def serialize_on(session: Session, name: str) -> None:
    """Hold a lock on `name` until the transaction ends, for writes that have no row to lock yet.

    PostgreSQL takes a transaction-scoped advisory lock; SQLite needs none, since its writers
    already run one at a time (BEGIN IMMEDIATE)."""
    dialect = dialect_of(session)
    match dialect:
        case Dialect.POSTGRESQL:
            session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})
        case Dialect.SQLITE:
            pass
        case _:
            assert_never(dialect)


# Any SELECT, whatever its columns: the word match narrows it and hands back the same type.
SelectOf = TypeVar("SelectOf", bound="Select[*tuple[Any, ...]]")


def matching_words(
    query: SelectOf, dialect: Dialect, documents: FromClause, fts_table: str, tokens: list[str]
) -> SelectOf:
    """`query` narrowed to the `documents` whose `document` text holds every token as a word prefix.

    SQLite asks its FTS5 table `fts_table` (whose rowid is the document's id); PostgreSQL asks the 'simple'
    text-search vector of the column, which its GIN index answers."""
    match dialect:
        case Dialect.SQLITE:
            fts = table(fts_table, column("rowid"))
            phrase = " AND ".join(f'"{t}"*' for t in tokens)
            return query.select_from(fts.join(documents, documents.c.id == fts.c.rowid)).where(
                text(f"{fts_table} MATCH :fts_phrase").bindparams(fts_phrase=phrase)
            )
        case Dialect.POSTGRESQL:
            words = " & ".join(f"{t}:*" for t in tokens)
            vector = func.to_tsvector("simple", documents.c.document)
            return query.where(vector.op("@@")(func.to_tsquery("simple", words)))
        case _:
            assert_never(dialect)


def rebuild_word_index(session: Session, fts_table: str) -> list[str]:
    """Rebuild the word index after its documents were rewritten in bulk; returns what it rebuilt.
    SQLite's FTS5 table is rebuilt from its content table; PostgreSQL's index follows its table by itself."""
    dialect = dialect_of(session)
    match dialect:
        case Dialect.SQLITE:
            session.execute(text(f"INSERT INTO {fts_table}({fts_table}) VALUES ('rebuild')"))
            return [fts_table]
        case Dialect.POSTGRESQL:
            return []
        case _:
            assert_never(dialect)


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


@compiles(fold, Dialect.SQLITE)
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


@compiles(ordered_list, Dialect.POSTGRESQL)
def _ordered_list_postgresql(element: ordered_list, compiler: Any, **kw: Any) -> str:
    value, position = (compiler.process(c, **kw) for c in element.clauses)
    return f"string_agg(lpad(({position})::text, {POSITION_DIGITS}, '0') || {value}, ',')"


@compiles(ordered_list, Dialect.SQLITE)
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
    dialect = dialect_of(session)
    match dialect:
        case Dialect.POSTGRESQL:
            return column == any_(bindparam("ids", list(ids), type_=postgresql.ARRAY(column.type), unique=True))
        case Dialect.SQLITE:
            return column.in_(ids)
        case _:
            assert_never(dialect)
