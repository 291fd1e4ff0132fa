"""Loomwork's runtime read for agent processes (API.md sections 9, 10 and 14), on httpx2 alone.

    from loomwork_client import Client

    with Client("https://loomwork.example", api_key, watch=True, cache_dir="/var/cache/agent") as loomwork:
        persona = loomwork.resolve("persona", "Archivist", label="production")
        prompt = persona.render(customer="Ada")

Every answer is kept with its ETag and revalidated (an unchanged config is a 304 with no body); with
`watch=True` the change feed pushes changes and a cached answer costs no request at all; with `cache_dir` the
answers survive a restart while Loomwork is down (served with `stale=True` and their `age`).
"""

from loomwork_client.client import Change, Client
from loomwork_client.errors import (
    KINDS,
    Forbidden,
    LoomworkClientError,
    MissingVariables,
    NotApplicable,
    NotFound,
    Unavailable,
    UnknownKind,
)
from loomwork_client.resolved import Resolved

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
