"""The small catalog every new group starts with."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from loomwork.resources import service
from loomwork.resources.kinds import RESOURCE_KINDS


def seed_group_catalog(session: Session, group_id: uuid.UUID) -> None:
    """Each artifact kind's `K_active` flag, with values true and false."""
    from loomwork.kinds import ARTIFACT_KINDS  # the kinds import the engine, which imports resources

    flags = [
        {"type": kind.active_flag_type, "value": value}
        for kind in ARTIFACT_KINDS
        for value in ("true", "false")
    ]
    service.find_or_create(session, group_id, RESOURCE_KINDS["flag"], flags)
