"""A page of rows and the total they were cut from: the one way every list answers `total_count`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVarTuple

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

Columns = TypeVarTuple("Columns")


def page_with_total(
    session: Session, query: Select[*Columns], limit: int, offset: int
) -> tuple[Sequence[Row[*Columns]], int]:
    """The page of an ordered query and how many rows the whole query has.

    A page shorter than asked (or an empty first page) tells the total itself, so the count is sent only
    when the page is full or lies past the end."""
    rows = session.execute(query.limit(limit).offset(offset)).all()
    if 0 < len(rows) < limit or (offset == 0 and not rows):
        return rows, offset + len(rows)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return rows, total or 0
