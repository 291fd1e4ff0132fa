"""Sign-in sessions for the pages: an API key, checked once, becomes a random cookie id.

The database keeps only a keyed hash of that id (so a copy of the table signs no one
in), the profile it speaks for and the key it was opened with (revoking the key ends
it, and a revoked or expired key's session is refused even before that); the role is
read from the profile on every request,
so a role change takes effect at once. The CSRF token is derived from the session id,
so nothing else needs storing and it dies with the session.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loomwork.db.base import utcnow
from loomwork.errors import Forbidden, Unauthenticated
from loomwork.identity.models import ApiKey, Profile, WebSession
from loomwork.identity.service import as_keyring, authenticate, key_is_live
from loomwork.keyring import Keyring
from loomwork.principal import Principal

COOKIE = "lw_session"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _id_hashes(secret_key: bytes | Keyring, session_id: str) -> list[str]:
    """The hashes a session id may be stored under: the current secret's, then those of secrets being rotated out."""
    return as_keyring(secret_key).candidates("session", session_id)


def csrf_token(secret_key: bytes | Keyring, session_id: str) -> str:
    return as_keyring(secret_key).digest("csrf", session_id)


def sign_in(session: Session, secret_key: bytes, api_key: str | None, via_agent: bool = False) -> tuple[str, Principal]:
    """Check the key like any API call, then store a new session for its profile; returns the raw id.
    The pages are people's: an agent (its own key, or X-MCP) is refused."""
    principal = authenticate(session, secret_key, api_key, via_agent=via_agent)
    principal.refuse_agent("sign in to the pages")
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))  # ended sessions go on the next sign-in
    session_id = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=as_keyring(secret_key).digest("session", session_id),
            profile_id=principal.profile_id,
            key_id=principal.key_id,
            created_at=now,
            expires_at=now + LIFETIME,
        )
    )
    session.flush()
    return session_id, principal


def sign_out(session: Session, secret_key: bytes | Keyring, session_id: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash.in_(_id_hashes(secret_key, session_id))))


def end_sessions_of_keys(session: Session, key_ids: list[uuid.UUID]) -> None:
    session.execute(delete(WebSession).where(WebSession.key_id.in_(key_ids)))


def principal_for(
    session: Session, secret_key: bytes | Keyring, session_id: str, via_agent: bool
) -> tuple[Principal, bool]:
    """The signed-in profile, and whether its key's `last_used_at` is due (as `authenticate_key` says)."""
    now = utcnow()
    row = session.execute(
        select(
            Profile.id,
            Profile.group_id,
            Profile.name,
            Profile.role,
            Profile.type,
            ApiKey.id.label("key_id"),
            ApiKey.last_used_at,
        )
        .join(WebSession, WebSession.profile_id == Profile.id)
        .join(ApiKey, ApiKey.id == WebSession.key_id)
        .where(
            WebSession.id_hash.in_(_id_hashes(secret_key, session_id)), WebSession.expires_at > now, key_is_live(now)
        )
    ).first()
    if row is None:
        raise Unauthenticated(
            "Your session has ended (signed out, expired, or its key was revoked or expired); "
            "sign in again with your API key."
        )
    principal = Principal(
        profile_id=row.id,
        group_id=row.group_id,
        name=row.name,
        role=row.role,
        via_agent=via_agent,
        profile_type=row.type,
        key_id=row.key_id,
    )
    return principal, row.last_used_at is None or row.last_used_at < now.replace(second=0, microsecond=0)


def require_csrf(secret_key: bytes | Keyring, session_id: str, method: str, sent: str | None) -> None:
    """A state-changing request on a cookie must carry the token only this site's pages can read."""
    if method.upper() in SAFE_METHODS:
        return
    if not sent or not any(
        hmac.compare_digest(sent, token) for token in as_keyring(secret_key).candidates("csrf", session_id)
    ):
        raise Forbidden(
            f"A signed-in page must send its {CSRF_HEADER} header with every change; reload the page.",
            code="csrf_failed",
        )
