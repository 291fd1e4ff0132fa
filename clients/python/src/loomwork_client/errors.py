"""The client's errors: each names what was wrong, and is also the built-in exception a caller would catch."""

from __future__ import annotations

import difflib

KINDS = ("persona", "tool", "eval", "invocation")


class LoomworkClientError(Exception):
    """The server refused the request: `status`, its error `code` and `detail`."""

    def __init__(self, detail: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail, self.status, self.code = detail, status, code


class NotFound(LoomworkClientError, LookupError):
    """404: no such artifact in your group, no such name, label or version."""


class Forbidden(LoomworkClientError, PermissionError):
    """401 or 403: the key is missing, wrong, revoked, or its role may not read this."""


class Unavailable(LoomworkClientError, ConnectionError):
    """The server could not be reached (or answered 5xx), and there was nothing to serve instead: no earlier
    answer in memory or in `cache_dir`, and no `fallback`."""


class UnknownKind(NotFound, ValueError):
    """A kind that is none of persona, tool, eval and invocation (singular or plural): refused before any request,
    with the code `unknown_kind` and the kinds listed (a NotFound, as the server's missing route would be)."""


class MissingVariables(LoomworkClientError, KeyError):
    """`render` was not given a value for every {{variable}} the instructions use."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.detail


class NotApplicable(LoomworkClientError, TypeError):
    """A conversion asked of the wrong kind (a tool format of a persona) or of a config that lacks its parts."""


def kind_name(kind: str) -> str:
    """The singular kind name for `persona`, `personas`, `Persona`, ...; UnknownKind lists the kinds."""
    name = kind.strip().lower() if isinstance(kind, str) else ""
    if name in KINDS:
        return name
    if name.endswith("s") and name[:-1] in KINDS:
        return name[:-1]
    close = difflib.get_close_matches(name.removesuffix("s"), KINDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownKind(
        f"Unknown kind {kind!r}: the kinds are {', '.join(KINDS)} (singular or plural, e.g. 'persona' or "
        f"'personas').{hint}",
        code="unknown_kind",
    )
