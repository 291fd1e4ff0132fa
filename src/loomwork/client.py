"""The Python client of the runtime read lives in its own package, `loomwork-client` (clients/python, import name
`loomwork_client`, on httpx2 alone), so an agent process installs it without the server. This module keeps the
old import path working: `from loomwork.client import Client`."""

from loomwork_client import (
    KINDS,
    Change,
    Client,
    Forbidden,
    LoomworkClientError,
    MissingVariables,
    NotApplicable,
    NotFound,
    Resolved,
    Unavailable,
    UnknownKind,
)

__all__ = [
    "KINDS",
    "Change",
    "Client",
    "Forbidden",
    "LoomworkClientError",
    "MissingVariables",
    "NotApplicable",
    "NotFound",
    "Resolved",
    "Unavailable",
    "UnknownKind",
]
