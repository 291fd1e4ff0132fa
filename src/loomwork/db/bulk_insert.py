"""Many rows into one table through the driver's executemany, without SQLAlchemy's per-row work.

`session.execute(insert(table), rows)` builds and type-processes each row's parameters in Python one
dict at a time; a bulk create of 1,000 personas inserts some 8,000 rows across its tables, and that
per-row work cost more than the database's own share. Here each column's bind processor (the same
one SQLAlchemy would apply: a UUID as 32 hex digits on SQLite, a UtcDateTime made naive UTC...) runs
over a column at a time, and the driver gets plain tuples. Defaults are not filled in: every row must
give every column it names, and all rows the same columns. A None is SQL NULL (a JSON column's too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session


def insert_many(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (dicts with the same keys) in one executemany."""
    if not rows:
        return
    names = list(rows[0])
    connection = session.connection()
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "
        f"VALUES ({', '.join([marker] * len(names))})"
    )
    columns: list[list[Any]] = []
    for name in names:
        values = [row[name] for row in rows]
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        columns.append([None if value is None else process(value) for value in values] if process else values)
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))
