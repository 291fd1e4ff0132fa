"""FastAPI dependencies that turn request headers (or a signed-in page's cookie) into a `Caller`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from loomwork.config import Settings
from loomwork.db.database import Database
from loomwork.identity.service import Principal, authenticate
from loomwork.web import sessions

api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="Your Loomwork API key.")
bearer = HTTPBearer(auto_error=False, description="Your Loomwork API key as a bearer token.")
session_cookie = APIKeyCookie(name=sessions.COOKIE, auto_error=False,
                              description="A signed-in page's session; changes also need the X-CSRF-Token header.")


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
    x_mcp: Annotated[str | None, Header(alias="X-MCP", description="Set by AI agents speaking through MCP.")] = None,
) -> Caller:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    key = api_key or (credentials.credentials if credentials else None)
    via_agent = bool(x_mcp and x_mcp.strip())
    with db.transaction(write=False) as session:
        if key is None and session_id:  # a key, when sent, always decides: no cookie can override it
            principal = sessions.principal_for(session, settings.secret_key, session_id, via_agent)
            sessions.require_csrf(settings.secret_key, session_id, request.method,
                                  request.headers.get(sessions.CSRF_HEADER))
        else:
            principal = authenticate(session, settings.secret_key, key, via_agent=via_agent)
    request.state.principal = principal  # the request's log line names its group and profile
    return Caller(principal, db, settings)


def caller_with(role: str, action: str, *, agents: bool = True):  # noqa: ANN201
    """A dependency that authenticates, then checks the role (403 names it) and the agent rule."""

    def dependency(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        caller.principal.require_role(role, action)
        if not agents:
            caller.principal.refuse_agent(action)
        return caller

    return dependency
