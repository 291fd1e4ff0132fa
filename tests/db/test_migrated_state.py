"""Every test starts from the state the migrations leave on a fresh database, on SQLite and PostgreSQL.

The PostgreSQL half empties every table before each test; the rows the migrations themselves write
(the resolve caches' `change_clock`) must come back, or those tests run against a state no server ever
has (with no clock row, the resolve cache stores nothing and every cache test passes with it off).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import MetaData, inspect, select

from conftest import new_postgres_database
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade


def every_tables_rows(db: Database) -> dict[str, list[str]]:
    """Each table's rows (every table the database has, mapped or not), in a comparable order."""
    reflected = MetaData()
    reflected.reflect(db.engine, only=inspect(db.engine).get_table_names())
    with db.engine.connect() as conn:
        return {
            name: sorted(repr(sorted(row._mapping.items())) for row in conn.execute(select(table)))
            for name, table in reflected.tables.items()
        }


@contextmanager
def freshly_migrated(dialect: str, tmp_path: Path) -> Iterator[Database]:
    if dialect == "sqlite":
        fresh = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        upgrade(fresh.engine)
        try:
            yield fresh
        finally:
            fresh.dispose()
        return
    with new_postgres_database() as url:
        fresh = Database(url)
        try:
            yield fresh
        finally:
            fresh.dispose()


def test_a_tests_database_holds_exactly_the_rows_a_fresh_migration_writes(db, dialect, tmp_path):
    given = every_tables_rows(db)
    with freshly_migrated(dialect, tmp_path) as fresh:
        expected = every_tables_rows(fresh)
    assert expected["change_clock"], "the migrations write the change clock's row"
    assert given == expected
