"""Who a request speaks for: a profile, its group and role, and whether an AI agent speaks.

Every service takes a Principal to check roles and to scope its queries, so it lives below them all
(it needs only `errors`): audit, resources and the engine take one without importing identity, which
builds it from a key or a session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from loomwork.errors import Forbidden


class Role(StrEnum):
    """What a profile may do in its group, each role allowing all that the one before it does."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


ROLES = (Role.VIEWER, Role.EDITOR, Role.ADMIN)  # in rank order


@dataclass(frozen=True)
class Principal:
    """The caller of one request: a profile, its group and role, whether an AI agent speaks (an agent
    profile's key, or X-MCP on a person's), and the key it came with (None for the command line)."""

    profile_id: uuid.UUID
    group_id: uuid.UUID
    name: str
    role: str
    via_agent: bool = False
    profile_type: str = "person"
    key_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        # An agent profile speaks as an agent whatever built this principal: no header, cookie or field undoes it.
        if self.profile_type == "agent":
            object.__setattr__(self, "via_agent", True)

    def has_role(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def require_role(self, role: Role, action: str) -> None:
        if not self.has_role(role):
            raise Forbidden(f"To {action} you need the {role} role; your role is {self.role}.")

    def authorise(self, role: Role, action: str, *, agents: bool = True) -> None:
        """403 unless the role suffices and, for what agents may not do (`agents` false), no agent speaks."""
        self.require_role(role, action)
        if not agents:
            self.refuse_agent(action)

    def refuse_agent(self, action: str) -> None:
        if self.via_agent:
            raise Forbidden(
                f"AI agents (X-MCP callers) cannot {action}; they can only propose draft changes for a person to accept.",
                code="agent_refused",
            )
