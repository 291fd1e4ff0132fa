"""Groups, profiles and API keys; who a request speaks for."""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from loomwork.errors import Forbidden, Invalid, Unauthenticated
from loomwork.identity.models import ApiKey, Group, Profile
from loomwork.keyring import Keyring
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


def as_keyring(secret_key: bytes | Keyring) -> Keyring:
    return secret_key if isinstance(secret_key, Keyring) else Keyring(secret_key)


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


def create_key(session: Session, secret_key: bytes | Keyring, profile: Profile) -> str:
    """Make a new key for the profile; the plain key exists only in this return value."""
    prefix = secrets.token_hex(6)
    api_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    keyring = as_keyring(secret_key)
    session.add(ApiKey(id=uuid.uuid4(), profile_id=profile.id, prefix=prefix,
                       key_hash=keyring.digest("api-key", api_key), secret_id=keyring.current_id))
    session.flush()
    return api_key


def create_group_key(session: Session, secret_key: bytes | Keyring, group: str, name: str, role: str) -> str:
    return create_key(session, secret_key, ensure_profile(session, ensure_group(session, group), name, role))


def has_any_group(session: Session) -> bool:
    return session.scalar(select(Group.id).limit(1)) is not None


def authenticate(session: Session, secret_key: bytes | Keyring, api_key: str | None, via_agent: bool,
                 rehash: Callable[[uuid.UUID, str, str], None] | None = None) -> Principal:
    """The key's principal. A key hashed under an old secret (during a rotation) still matches; `rehash`,
    when given, is told (key id, new hash, secret id) so the caller can store the current hash."""
    if not api_key:
        raise Unauthenticated("Send an API key as X-Api-Key: <key> or Authorization: Bearer <key>.")
    keyring = as_keyring(secret_key)
    parts = api_key.split("_")
    prefix = parts[1] if len(parts) >= 3 and api_key.startswith(KEY_PREFIX) else None
    row = None
    if prefix:
        row = session.execute(
            select(ApiKey.id.label("key_id"), ApiKey.key_hash, ApiKey.secret_id, Profile.id, Profile.group_id,
                   Profile.name, Profile.role)
            .join(Profile, Profile.id == ApiKey.profile_id)
            .where(ApiKey.prefix == prefix)
        ).first()
    # Compare even when no row matched, so timing tells nothing about which prefixes exist.
    expected = row.key_hash if row else "0" * 64
    matched = [hmac.compare_digest(expected, candidate) for candidate in keyring.candidates("api-key", api_key)]
    if not any(matched) or row is None:
        raise Unauthenticated("The API key is not valid.")
    if rehash and (not matched[0] or row.secret_id != keyring.current_id):
        rehash(row.key_id, keyring.digest("api-key", api_key), keyring.current_id)
    return Principal(profile_id=row.id, group_id=row.group_id, name=row.name, role=row.role, via_agent=via_agent)


def store_rehash(session: Session, key_id: uuid.UUID, key_hash: str, secret_id: str) -> None:
    """Store a key's hash under the current secret (see `authenticate`'s `rehash`)."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(key_hash=key_hash, secret_id=secret_id))


def keys_not_under(session: Session, secret_key: bytes | Keyring) -> int:
    """How many API keys are hashed under another secret than the current one (they need an old secret)."""
    current = as_keyring(secret_key).current_id
    return session.scalar(select(func.count()).select_from(ApiKey).where(
        (ApiKey.secret_id.is_(None)) | (ApiKey.secret_id != current))) or 0
