"""FastAPI dependencies that turn request headers into a `Caller`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from loomwork.config import Settings
from loomwork.db.database import Database
from loomwork.identity.service import Principal, authenticate

api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="Your Loomwork API key.")
bearer = HTTPBearer(auto_error=False, description="Your Loomwork API key as a bearer token.")


@dataclass(frozen=True)
class Caller:
    principal: Principal
    db: Database
    settings: Settings


def current_caller(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    x_mcp: Annotated[str | None, Header(alias="X-MCP", description="Set by AI agents speaking through MCP.")] = None,
) -> Caller:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    key = api_key or (credentials.credentials if credentials else None)
    with db.transaction(write=False) as session:
        principal = authenticate(session, settings.secret_key, key, via_agent=bool(x_mcp and x_mcp.strip()))
    return Caller(principal, db, settings)


def caller_with(role: str, action: str, *, agents: bool = True):  # noqa: ANN201
    """A dependency that authenticates, then checks the role (403 names it) and the agent rule."""

    def dependency(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        caller.principal.require_role(role, action)
        if not agents:
            caller.principal.refuse_agent(action)
        return caller

    return dependency
