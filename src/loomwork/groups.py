"""Making a group: identity's row, and the catalog every new group starts with (each kind's flags).

Identity sits below the kinds and knows nothing of them, so the two meet here, above both; the command
line, the demo seeder and the tests make their groups through these.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from loomwork.catalog.seed import seed_group_catalog
from loomwork.identity import service as identity
from loomwork.identity.models import Group
from loomwork.keyring import Keyring


def ensure_group(session: Session, name: str) -> Group:
    group = identity.find_group(session, name)
    if group is None:
        group = identity.add_group(session, name)
        seed_group_catalog(session, group.id)
    return group


def create_group_key(
    session: Session, secret_key: bytes | Keyring, group: str, name: str, role: str, *, key_name: str = ""
) -> str:
    return identity.create_key(
        session, secret_key, identity.ensure_profile(session, ensure_group(session, group), name, role), key_name
    )
