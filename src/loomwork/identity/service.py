"""Groups, profiles and API keys; who a request speaks for."""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from loomwork.db.base import utcnow
from loomwork.db.scoping import in_group
from loomwork.errors import Invalid, Unauthenticated
from loomwork.identity.models import PROFILE_TYPES, ApiKey, Group, Profile
from loomwork.keyring import Keyring
from loomwork.principal import ROLES, Principal, Role

AGENT_ROLES = (Role.VIEWER, Role.EDITOR)
KEY_PREFIX = "lw_"
SHOWN_PREFIX_CHARS = 12  # a key's first characters, enough for a person to recognise it


def as_keyring(secret_key: bytes | Keyring) -> Keyring:
    return secret_key if isinstance(secret_key, Keyring) else Keyring(secret_key)


def find_group(session: Session, name: str) -> Group | None:
    return session.scalar(select(Group).where(Group.name == name))


def add_group(session: Session, name: str) -> Group:
    """An empty group; `loomwork.groups.ensure_group` is how a group is made with its starter catalog."""
    group = Group(id=uuid.uuid4(), name=name)
    session.add(group)
    session.flush()
    return group


def ensure_profile(session: Session, group: Group, name: str, role: str) -> Profile:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}.", field="role")
    profile = session.scalar(select(Profile).where(in_group(Profile, group.id), Profile.name == name))
    if profile is None:
        profile = new_profile(session, group.id, name, "person", role, None)
    elif profile.role != role:
        check_role(profile.type, role)  # an existing agent never becomes an admin
        profile.role = role
    return profile


def issue_key(
    session: Session, secret_key: bytes | Keyring, profile: Profile, name: str = "", expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Make a new key for the profile: its row, and the plain key, which exists only in this return value."""
    prefix = secrets.token_hex(6)
    api_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    keyring = as_keyring(secret_key)
    row = ApiKey(
        id=uuid.uuid4(),
        profile_id=profile.id,
        prefix=prefix,
        key_hash=keyring.digest("api-key", api_key),
        secret_id=keyring.current_id,
        name=name,
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, api_key


def create_key(session: Session, secret_key: bytes | Keyring, profile: Profile, name: str = "") -> str:
    return issue_key(session, secret_key, profile, name)[1]


def ensure_agent(session: Session, group: Group, name: str, role: str, sponsor_name: str) -> Profile:
    """The agent profile `name`, sponsored by the person `sponsor_name` of the group (both must fit)."""
    sponsor = session.scalar(select(Profile).where(in_group(Profile, group.id), Profile.name == sponsor_name))
    if sponsor is None or sponsor.type != "person":
        raise Invalid(f"sponsor: no person named {sponsor_name!r} in group {group.name!r}.", field="sponsor")
    profile = session.scalar(select(Profile).where(in_group(Profile, group.id), Profile.name == name))
    if profile is not None and profile.type != "agent":
        raise Invalid(f"name: {name!r} is a person of group {group.name!r}, not an agent.", field="name")
    if profile is None:
        profile = new_profile(session, group.id, name, "agent", role, sponsor.id)
    else:
        check_role("agent", role)
        profile.role, profile.sponsor_profile_id = role, sponsor.id
    return profile


def check_role(profile_type: str, role: str) -> None:
    if profile_type not in PROFILE_TYPES:
        raise Invalid(f"type must be one of {', '.join(PROFILE_TYPES)}.", field="type")
    allowed = AGENT_ROLES if profile_type == "agent" else ROLES
    if role not in allowed:
        raise Invalid(
            f"role: a {profile_type} may be {' or '.join(allowed)}"
            + (" (an agent is never an admin)." if profile_type == "agent" else "."),
            field="role",
        )


def new_profile(
    session: Session, group_id: uuid.UUID, name: str, profile_type: str, role: str, sponsor_profile_id: uuid.UUID | None
) -> Profile:
    check_role(profile_type, role)
    profile = Profile(
        id=uuid.uuid4(),
        group_id=group_id,
        name=name,
        role=role,
        type=profile_type,
        sponsor_profile_id=sponsor_profile_id,
        created_at=utcnow(),
    )
    session.add(profile)
    session.flush()
    return profile


def has_any_group(session: Session) -> bool:
    return session.scalar(select(Group.id).limit(1)) is not None


def authenticate(
    session: Session,
    secret_key: bytes | Keyring,
    api_key: str | None,
    via_agent: bool,
    rehash: Callable[[uuid.UUID, str, str], None] | None = None,
) -> Principal:
    return authenticate_key(session, secret_key, api_key, via_agent, rehash)[0]


def authenticate_key(
    session: Session,
    secret_key: bytes | Keyring,
    api_key: str | None,
    via_agent: bool,
    rehash: Callable[[uuid.UUID, str, str], None] | None = None,
) -> tuple[Principal, bool]:
    """The key's principal, and whether its `last_used_at` is due to be written (see `record_key_use`).
    A key hashed under an old secret (during a rotation) still matches; `rehash`, when given, is told
    (key id, new hash, secret id) so the caller can store the current hash."""
    if not api_key:
        raise Unauthenticated("Send an API key as X-Api-Key: <key> or Authorization: Bearer <key>.")
    keyring = as_keyring(secret_key)
    parts = api_key.split("_")
    prefix = parts[1] if len(parts) >= 3 and api_key.startswith(KEY_PREFIX) else None
    row = None
    if prefix:
        row = session.execute(
            select(
                ApiKey.id.label("key_id"),
                ApiKey.key_hash,
                ApiKey.secret_id,
                ApiKey.expires_at,
                ApiKey.revoked_at,
                ApiKey.last_used_at,
                Profile.id,
                Profile.group_id,
                Profile.name,
                Profile.role,
                Profile.type,
            )
            .join(Profile, Profile.id == ApiKey.profile_id)
            .where(ApiKey.prefix == prefix)
        ).first()
    # Compare even when no row matched, so timing tells nothing about which prefixes exist.
    expected = row.key_hash if row else "0" * 64
    matched = [hmac.compare_digest(expected, candidate) for candidate in keyring.candidates("api-key", api_key)]
    if not any(matched) or row is None:
        raise Unauthenticated("The API key is not valid.")
    now = utcnow()
    _refuse_dead_key(row.revoked_at, row.expires_at, now)
    if rehash and (not matched[0] or row.secret_id != keyring.current_id):
        rehash(row.key_id, keyring.digest("api-key", api_key), keyring.current_id)
    principal = Principal(
        profile_id=row.id,
        group_id=row.group_id,
        name=row.name,
        role=row.role,
        via_agent=via_agent,
        profile_type=row.type,
        key_id=row.key_id,
    )
    return principal, row.last_used_at is None or row.last_used_at < _minute(now)


def _refuse_dead_key(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> None:
    if revoked_at is not None:
        raise Unauthenticated(
            f"The API key was revoked at {revoked_at:%Y-%m-%d %H:%M} UTC; use another key.", code="key_revoked"
        )
    if expires_at is not None and expires_at <= now:
        raise Unauthenticated(
            f"The API key expired at {expires_at:%Y-%m-%d %H:%M} UTC; use another key.", code="key_expired"
        )


def require_live_key(session: Session, key_id: uuid.UUID) -> None:
    """401 (`key_revoked`, `key_expired`) unless the key a request authenticated with still would: for an
    answer given long after the request's own check (a long poll)."""
    row = session.execute(select(ApiKey.revoked_at, ApiKey.expires_at).where(ApiKey.id == key_id)).first()
    if row is None:
        raise Unauthenticated("The API key is not valid.")
    _refuse_dead_key(row.revoked_at, row.expires_at, utcnow())


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def record_key_use(session: Session, key_id: uuid.UUID) -> None:
    """Set the key's `last_used_at` to this minute, unless a request of this minute did already."""
    minute = _minute(utcnow())
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < minute))
        .values(last_used_at=minute)
    )


def key_is_live(now: datetime) -> ColumnElement[bool]:
    """The condition a key row meets while it authenticates: neither revoked nor expired."""
    return (ApiKey.revoked_at.is_(None)) & (or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now))


def store_rehash(session: Session, key_id: uuid.UUID, key_hash: str, secret_id: str) -> None:
    """Store a key's hash under the current secret (see `authenticate`'s `rehash`)."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(key_hash=key_hash, secret_id=secret_id))


def keys_not_under(session: Session, secret_key: bytes | Keyring) -> int:
    """How many API keys are hashed under another secret than the current one (they need an old secret)."""
    current = as_keyring(secret_key).current_id
    return (
        session.scalar(
            select(func.count()).select_from(ApiKey).where((ApiKey.secret_id.is_(None)) | (ApiKey.secret_id != current))
        )
        or 0
    )


def people(session: Session, group_id: uuid.UUID, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, dict[str, Any]]:
    """`{profile_id, name, type}` of each profile named (API.md section 14: an answer never shows a bare id of a
    person or agent), in one query; ids of another group are left out."""
    wanted = {profile_id for profile_id in ids if profile_id}
    if not wanted:
        return {}
    rows = session.execute(
        select(Profile.id, Profile.name, Profile.type).where(Profile.id.in_(wanted), in_group(Profile, group_id))
    )
    return {profile_id: {"profile_id": profile_id, "name": name, "type": kind} for profile_id, name, kind in rows}
