"""Running a bulk request item by item: each item in a savepoint of its own, so one failure rolls back that
item only (and the audit events it recorded) and is reported in its result, while the others commit.

Artifact and resource operations alike run their items through here, so it depends only on `audit` and
`errors`, below both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.errors import LoomworkError


def run_items(
    session: Session, items: Sequence[Any], operation: Callable[[Any], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run each item in its own savepoint: a failure rolls back that item only and is reported in its result."""
    return [run_item(session, index, item, operation) for index, item in enumerate(items)]


def run_item(session: Session, index: int, item: Any, operation: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    recorded = audit.mark(session)
    try:
        with session.begin_nested():
            return succeeded(index, operation(item))
    except LoomworkError as error:
        audit.forget_since(session, recorded)  # the item changed nothing, so nothing happened to audit
        return failed(index, error)


def succeeded(index: int, outcome: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "success": True, "code": None, "field": None, **outcome}


def failed(index: int, error: LoomworkError) -> dict[str, Any]:
    body = error.body()
    return {"index": index, "success": False, "message": body.pop("detail"), **body}
