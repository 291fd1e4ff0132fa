"""FastAPI dependencies that turn request headers (or a signed-in page's cookie) into a `Caller`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError
from starlette.datastructures import Headers

from loomwork.config import Settings
from loomwork.db.database import Database
from loomwork.http import says_agent
from loomwork.identity import sessions
from loomwork.identity.service import authenticate, authenticate_key, record_key_use, store_rehash
from loomwork.principal import Principal, Role

api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="Your Loomwork API key.")
bearer = HTTPBearer(auto_error=False, description="Your Loomwork API key as a bearer token.")
session_cookie = APIKeyCookie(
    name=sessions.COOKIE,
    auto_error=False,
    description="A signed-in page's session; changes also need the X-CSRF-Token header.",
)


@dataclass(frozen=True)
class Caller:
    principal: Principal
    db: Database
    settings: Settings


def current_caller(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    session_id: Annotated[str | None, Security(session_cookie)] = None,
    # Declared for the OpenAPI document; FastAPI gives only the first field, so the decision reads them all.
    x_mcp: Annotated[str | None, Header(alias="X-MCP", description="Set by AI agents speaking through MCP.")] = None,
) -> Caller:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    key = api_key or (credentials.credentials if credentials else None)
    # X-MCP makes a person's request an agent's; an agent profile's key is an agent's whatever is sent
    # (Principal sees to that), and nothing here can make it a person's.
    via_agent = says_agent(request.headers.getlist("x-mcp"))
    stale: list[tuple[uuid.UUID, str, str]] = []  # a key hashed under a secret being rotated out: stored anew below
    with db.transaction(write=False) as session:
        if key is None and session_id:  # a key, when sent, always decides: no cookie can override it
            principal, used = sessions.principal_for(session, settings.keyring, session_id, via_agent)
            sessions.require_csrf(
                settings.keyring, session_id, request.method, request.headers.get(sessions.CSRF_HEADER)
            )
        else:
            principal, used = authenticate_key(
                session, settings.keyring, key, via_agent=via_agent, rehash=lambda *args: stale.append(args)
            )
    if stale:  # a key hashed under a secret being rotated out: store its hash under the current one
        with db.transaction(write=True) as session:
            store_rehash(session, *stale[0])
    if used and principal.key_id is not None:
        _record_use(db, principal.key_id)
    request.state.principal = principal  # the request's log line names its group and profile
    return Caller(principal, db, settings)


def _record_use(db: Database, key_id: uuid.UUID) -> None:
    """At most once a minute per key, in a short transaction of its own: every other request only reads.
    It is a convenience, so a busy database skips it rather than fail the request."""
    try:
        with db.transaction(write=True) as session:
            record_key_use(session, key_id)
    except OperationalError:
        pass


def principal_from_headers(app: Any, headers: Headers, *, cookie: bool = True) -> Principal:
    """The caller a request's headers name (its API key or, with `cookie`, a signed-in session), or
    Unauthenticated with the usual code (`key_revoked`, `key_expired`). For the doors that decide before any
    route runs: the body-size middleware before it reads a large body, and /mcp before it answers anything.
    The role and CSRF checks and the key's last use stay with `current_caller`."""
    settings: Settings = app.state.settings
    authorization = headers.get("authorization", "")
    key = headers.get("x-api-key") or (authorization[7:].strip() if authorization[:7].lower() == "bearer " else None)
    via_agent = says_agent(headers.getlist("x-mcp"))
    session_id = _session_cookie(headers) if cookie else None
    with app.state.db.transaction(write=False) as session:
        if key is None and session_id:
            return sessions.principal_for(session, settings.keyring, session_id, via_agent)[0]
        return authenticate(session, settings.keyring, key, via_agent=via_agent)


def _session_cookie(headers: Headers) -> str | None:
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except CookieError:  # an unreadable cookie header holds no session
        return None
    return cookie[sessions.COOKIE].value if sessions.COOKIE in cookie else None


@dataclass(frozen=True)
class Access:
    """Who may call an operation: its least role, and whether an AI agent may."""

    role: Role
    agents: bool


_ACCESS = "loomwork_access"


def caller_with(role: Role, action: str, *, agents: bool = True) -> Callable[[Caller], Caller]:
    """A dependency that authenticates, then checks the role (403 names it) and the agent rule. It carries
    its `Access`, which the OpenAPI document states for each operation that depends on it."""

    def dependency(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        caller.principal.authorise(role, action, agents=agents)
        return caller

    vars(dependency)[_ACCESS] = Access(role, agents)
    return dependency


def access_of(dependant: Dependant) -> Access | None:
    """The `Access` that a route's dependencies (at any depth) check, None for a route no `caller_with` guards."""
    for dependency in dependant.dependencies:
        found = getattr(dependency.call, _ACCESS, None)
        if isinstance(found, Access):
            return found
        found = access_of(dependency)
        if found is not None:
            return found
    return None
