"""Tenant scoping: the one predicate through which a query learns which group's rows it may see.

Every group-owned table has a `group_id` column. A query names its group through `in_group` rather than
writing `group_id == ...` by hand, so a forgotten or mistyped scope is found in one place, not in many.
It takes the group id, not the caller, so that this low layer knows nothing of identity.
"""

from __future__ import annotations

import uuid
from typing import Protocol, cast

from sqlalchemy import BindParameter, ColumnElement, FromClause
from sqlalchemy.orm import InstrumentedAttribute


class GroupOwned(Protocol):
    """A row that belongs to one group; `in_group` takes its mapped class."""

    group_id: uuid.UUID


# The group's id, or a bind parameter for it in a statement built once and run for many groups.
GroupId = uuid.UUID | BindParameter[uuid.UUID]


def in_group(owner: type[GroupOwned] | FromClause, group_id: GroupId) -> ColumnElement[bool]:
    """`owner.group_id = :group_id`, for a mapped class or for a table, alias or subquery with that column."""
    if isinstance(owner, FromClause):
        return owner.c.group_id == group_id
    # On the class, SQLAlchemy's descriptor gives the column, not a value: a Protocol can only say the latter.
    column = cast("InstrumentedAttribute[uuid.UUID]", owner.group_id)
    return column == group_id
