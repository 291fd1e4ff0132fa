"""Managing profiles and keys (API.md section 7): who may see, make and revoke which.

A person manages their own keys and those of the agents they sponsor; an admin manages every key and
profile of the group. A profile or key of another group answers exactly as a missing one. The routes
refuse agents before anything here runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NotRequired, TypedDict

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from loomwork.audit import service as audit
from loomwork.db.base import utcnow
from loomwork.db.paging import page_with_total
from loomwork.db.scoping import in_group
from loomwork.errors import Conflict, Forbidden, Invalid, NotFound
from loomwork.identity import service as identity
from loomwork.identity.models import ApiKey, Profile
from loomwork.identity.sessions import end_sessions_of_keys
from loomwork.keyring import Keyring
from loomwork.principal import Principal, Role

MAX_KEYS_LISTED = 1000


# --- what the routes answer (identity/router.py has the response models) -------------------------------------


class ProfileInfo(TypedDict):
    profile_id: uuid.UUID
    name: str
    type: str
    role: str
    sponsor_profile_id: uuid.UUID | None
    sponsor_name: str | None
    created_at: datetime


class ProfilePage(TypedDict):
    profiles: list[ProfileInfo]
    total_count: int


class KeyInfo(TypedDict):
    key_id: uuid.UUID
    profile_id: uuid.UUID
    profile_name: str
    profile_type: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyList(TypedDict):
    keys: list[KeyInfo]


class CreatedKey(KeyInfo):
    key: str


class RevokeResult(TypedDict):
    index: int
    key_id: uuid.UUID
    success: bool
    message: str
    code: NotRequired[str]
    field: NotRequired[str]
    revoked_at: NotRequired[datetime | None]


class RevokeResults(TypedDict):
    results: list[RevokeResult]


# --- profiles -----------------------------------------------------------------------------------------------


def _profile_view(profile: Profile, sponsor_name: str | None) -> ProfileInfo:
    return {
        "profile_id": profile.id,
        "name": profile.name,
        "type": profile.type,
        "role": profile.role,
        "sponsor_profile_id": profile.sponsor_profile_id,
        "sponsor_name": sponsor_name,
        "created_at": profile.created_at,
    }


def search_profiles(
    session: Session, principal: Principal, profile_type: str | None, text: str | None, page_size: int, page_offset: int
) -> ProfilePage:
    sponsor = aliased(Profile)
    conditions = [in_group(Profile, principal.group_id)]
    if profile_type:
        conditions.append(Profile.type == profile_type)
    for word in (text or "").lower().split():
        conditions.append(func.lower(Profile.name).contains(word, autoescape=True))
    rows, total = page_with_total(
        session,
        select(Profile, sponsor.name)
        .outerjoin(sponsor, sponsor.id == Profile.sponsor_profile_id)
        .where(*conditions)
        .order_by(Profile.name, Profile.id),
        page_size,
        page_offset,
    )
    return {"profiles": [_profile_view(profile, sponsor_name) for profile, sponsor_name in rows], "total_count": total}


def create_profile(
    session: Session,
    principal: Principal,
    name: str,
    profile_type: str,
    role: str,
    sponsor_profile_id: uuid.UUID | None,
) -> ProfileInfo:
    name = name.strip()
    if not name:
        raise Invalid("name: must not be blank.", field="name")
    identity.check_role(profile_type, role)
    sponsor = None
    if profile_type == "agent":
        if sponsor_profile_id is None:
            raise Invalid(
                "sponsor_profile_id: an agent needs a sponsor, the person who answers for it.",
                field="sponsor_profile_id",
            )
        sponsor = _profile_in_group(session, principal, sponsor_profile_id, "sponsor_profile_id")
        if sponsor.type != "person":
            raise Invalid("sponsor_profile_id: a sponsor must be a person, not an agent.", field="sponsor_profile_id")
        identity.check_sponsor_role(role, sponsor)
    elif sponsor_profile_id is not None:
        raise Invalid("sponsor_profile_id: only an agent has a sponsor.", field="sponsor_profile_id")
    taken = session.scalar(select(Profile.id).where(in_group(Profile, principal.group_id), Profile.name == name))
    if taken is not None:
        raise Conflict(f"name: the group already has a profile named {name!r}.", code="name_taken", field="name")
    profile = identity.new_profile(
        session, principal.group_id, name, profile_type, role, sponsor.id if sponsor else None
    )
    audit.record(
        session,
        principal,
        "profile_create",
        "profile",
        {
            "profile_id": str(profile.id),
            "name": name,
            "type": profile_type,
            "role": role,
            "sponsor_profile_id": str(sponsor.id) if sponsor else None,
        },
    )
    return _profile_view(profile, sponsor.name if sponsor else None)


def _profile_in_group(session: Session, principal: Principal, profile_id: uuid.UUID, field: str) -> Profile:
    profile = session.scalar(select(Profile).where(Profile.id == profile_id, in_group(Profile, principal.group_id)))
    if profile is None:
        raise NotFound(f"{field}: no profile {profile_id}.", field=field)
    return profile


# --- keys ---------------------------------------------------------------------------------------------------


def _manageable(principal: Principal) -> ColumnElement[bool]:
    """The profiles whose keys the caller manages, as a condition on Profile."""
    condition = in_group(Profile, principal.group_id)
    if principal.has_role(Role.ADMIN):
        return condition
    return condition & or_(
        Profile.id == principal.profile_id,
        and_(Profile.type == "agent", Profile.sponsor_profile_id == principal.profile_id),
    )


def _managed_profile(session: Session, principal: Principal, profile_id: uuid.UUID) -> Profile:
    profile = _profile_in_group(session, principal, profile_id, "profile_id")
    if session.scalar(select(Profile.id).where(Profile.id == profile.id, _manageable(principal))) is None:
        raise Forbidden(
            "You may manage your own keys and those of the agents you sponsor; an admin manages every key of the group."
        )
    return profile


def _key_view(key: ApiKey, profile: Profile) -> KeyInfo:
    return {
        "key_id": key.id,
        "profile_id": profile.id,
        "profile_name": profile.name,
        "profile_type": profile.type,
        "name": key.name,
        "prefix": f"{identity.KEY_PREFIX}{key.prefix}"[: identity.SHOWN_PREFIX_CHARS],
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


def search_keys(session: Session, principal: Principal, profile_id: uuid.UUID | None, include_revoked: bool) -> KeyList:
    conditions = [_manageable(principal)]
    if profile_id is not None:
        conditions.append(Profile.id == _managed_profile(session, principal, profile_id).id)
    if not include_revoked:
        conditions.append(ApiKey.revoked_at.is_(None))
    rows = session.execute(
        select(ApiKey, Profile)
        .join(Profile, Profile.id == ApiKey.profile_id)
        .where(*conditions)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
        .limit(MAX_KEYS_LISTED)
    ).all()
    return {"keys": [_key_view(key, profile) for key, profile in rows]}


def create_key(
    session: Session,
    secret_key: Keyring,
    principal: Principal,
    profile_id: uuid.UUID,
    name: str,
    expires_at: datetime | None,
) -> CreatedKey:
    name = name.strip()
    if not name:
        raise Invalid("name: must not be blank.", field="name")
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("expires_at: must be in the future.", field="expires_at")
    profile = _managed_profile(session, principal, profile_id)
    if profile.type == "agent":
        _require_sponsor_bound(session, profile)
    row, secret = identity.issue_key(session, secret_key, profile, name, expires_at)
    audit.record(
        session,
        principal,
        "key_create",
        "key",
        {
            "key_id": str(row.id),
            "profile_id": str(profile.id),
            "name": name,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return {**_key_view(row, profile), "key": secret}


def _require_sponsor_bound(session: Session, agent: Profile) -> None:
    """No key for an agent whose role is above its sponsor's (the sponsor was demoted since): a sponsor cannot
    hand out more than they may do themselves."""
    sponsor = session.get(Profile, agent.sponsor_profile_id) if agent.sponsor_profile_id else None
    if sponsor is None or identity.role_rank(agent.role) > identity.role_rank(sponsor.role):
        bound = f"its sponsor {sponsor.name!r} is a {sponsor.role}" if sponsor else "it has no sponsor"
        raise Forbidden(
            f"profile_id: the agent {agent.name!r} is a {agent.role} but {bound}; an agent's role may not be above "
            "its sponsor's, so no key is made for it.",
            code="role_above_sponsor",
            field="profile_id",
        )


def revoke_keys(session: Session, principal: Principal, key_ids: list[uuid.UUID]) -> RevokeResults:
    """A result per key, in order. A key the caller may not manage answers like one that does not exist;
    revoking a revoked key again succeeds and keeps its first `revoked_at`."""
    found = {
        key.id: (key, profile)
        for key, profile in session.execute(
            select(ApiKey, Profile)
            .join(Profile, Profile.id == ApiKey.profile_id)
            .where(ApiKey.id.in_(set(key_ids)), _manageable(principal))
            .with_for_update(of=ApiKey)
        )
    }
    now = utcnow()
    results: list[RevokeResult] = []
    revoked: list[uuid.UUID] = []
    for index, key_id in enumerate(key_ids):
        if key_id not in found:
            results.append(
                {
                    "index": index,
                    "key_id": key_id,
                    "success": False,
                    "code": "not_found",
                    "field": f"key_ids[{index}]",
                    "message": f"No key {key_id}.",
                }
            )
            continue
        key, profile = found[key_id]
        if key.revoked_at is None:
            key.revoked_at = now
            revoked.append(key.id)
            audit.record(
                session,
                principal,
                "key_revoke",
                "key",
                {"key_id": str(key.id), "profile_id": str(profile.id), "name": key.name},
            )
            message = "Revoked; its page sessions have ended."
        else:
            message = "Already revoked."
        results.append(
            {"index": index, "key_id": key_id, "success": True, "message": message, "revoked_at": key.revoked_at}
        )
    if revoked:
        end_sessions_of_keys(session, revoked)
    session.flush()
    return {"results": results}
