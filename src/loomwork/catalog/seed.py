"""The small catalog every new group starts with."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from loomwork.kinds import ARTIFACT_KINDS
from loomwork.resources import service
from loomwork.resources.kinds import RESOURCE_KINDS


def seed_group_catalog(session: Session, group_id: uuid.UUID) -> None:
    """Each artifact kind's `K_active` flag (true, false) and the flag types its forms use (eval_role, ...)."""
    flags = [
        {"type": flag_type, "value": value}
        for kind in ARTIFACT_KINDS
        for flag_type, values in ((kind.active_flag_type, ("true", "false")), *kind.catalog_flags)
        for value in values
    ]
    service.find_or_create(session, group_id, RESOURCE_KINDS["flag"], flags)
