"""Groups, profiles and API keys; who a request speaks for."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomwork.errors import Forbidden, Invalid, Unauthenticated
from loomwork.identity.models import ApiKey, Group, Profile
from loomwork.resources.catalog import seed_group_catalog

ROLES = ("viewer", "editor", "admin")
KEY_PREFIX = "lw_"


@dataclass(frozen=True)
class Principal:
    """The caller of one request: a profile, its group and role, and whether an AI agent speaks (X-MCP)."""

    profile_id: uuid.UUID
    group_id: uuid.UUID
    name: str
    role: str
    via_agent: bool = False

    def has_role(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def require_role(self, role: str, action: str) -> None:
        if not self.has_role(role):
            raise Forbidden(f"To {action} you need the {role} role; your role is {self.role}.")

    def refuse_agent(self, action: str) -> None:
        if self.via_agent:
            raise Forbidden(
                f"AI agents (X-MCP callers) cannot {action}; they can only propose draft changes for a person to accept.",
                code="agent_refused",
            )


def _key_hash(secret_key: bytes, api_key: str) -> str:
    return hmac.new(secret_key, api_key.encode(), hashlib.sha256).hexdigest()


def ensure_group(session: Session, name: str) -> Group:
    group = session.scalar(select(Group).where(Group.name == name))
    if group is None:
        group = Group(id=uuid.uuid4(), name=name)
        session.add(group)
        session.flush()
        seed_group_catalog(session, group.id)
    return group


def ensure_profile(session: Session, group: Group, name: str, role: str) -> Profile:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}.", field="role")
    profile = session.scalar(select(Profile).where(Profile.group_id == group.id, Profile.name == name))
    if profile is None:
        profile = Profile(id=uuid.uuid4(), group_id=group.id, name=name, role=role)
        session.add(profile)
        session.flush()
    elif profile.role != role:
        profile.role = role
    return profile


def create_key(session: Session, secret_key: bytes, profile: Profile) -> str:
    """Make a new key for the profile; the plain key exists only in this return value."""
    prefix = secrets.token_hex(6)
    api_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(id=uuid.uuid4(), profile_id=profile.id, prefix=prefix,
                       key_hash=_key_hash(secret_key, api_key)))
    session.flush()
    return api_key


def create_group_key(session: Session, secret_key: bytes, group: str, name: str, role: str) -> str:
    return create_key(session, secret_key, ensure_profile(session, ensure_group(session, group), name, role))


def has_any_group(session: Session) -> bool:
    return session.scalar(select(Group.id).limit(1)) is not None


def authenticate(session: Session, secret_key: bytes, api_key: str | None, via_agent: bool) -> Principal:
    if not api_key:
        raise Unauthenticated("Send an API key as X-Api-Key: <key> or Authorization: Bearer <key>.")
    parts = api_key.split("_")
    prefix = parts[1] if len(parts) >= 3 and api_key.startswith(KEY_PREFIX) else None
    row = None
    if prefix:
        row = session.execute(
            select(ApiKey.key_hash, Profile.id, Profile.group_id, Profile.name, Profile.role)
            .join(Profile, Profile.id == ApiKey.profile_id)
            .where(ApiKey.prefix == prefix)
        ).first()
    # Compare even when no row matched, so timing tells nothing about which prefixes exist.
    expected = row.key_hash if row else "0" * 64
    if not hmac.compare_digest(expected, _key_hash(secret_key, api_key)) or row is None:
        raise Unauthenticated("The API key is not valid.")
    return Principal(profile_id=row.id, group_id=row.group_id, name=row.name, role=row.role, via_agent=via_agent)
