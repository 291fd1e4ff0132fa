"""A small Python client for the runtime read (API.md section 9): resolve an artifact's live config.

    from loomwork.client import Client

    with Client("https://loomwork.example", api_key) as loomwork:
        persona = loomwork.resolve("personas", "Archivist", label="production")
        prompt = persona.config["instructions"]

An agent process may call `resolve` on every turn: the client keeps the last answer per (kind, id or
name, label, version) with its ETag and revalidates with `If-None-Match`, so an unchanged config costs a
304 with no body. When Loomwork cannot be reached (connect error, timeout, 5xx) the last answer is
returned with `stale=True` (and a warning is logged), so a running agent keeps working on its last known
config; with nothing cached the error is raised.

It depends on httpx only, not on the server's code.
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx

__all__ = ["Client", "Forbidden", "LoomworkClientError", "NotFound", "Resolved", "Unavailable"]

log = logging.getLogger("loomwork.client")


@dataclass(frozen=True)
class Resolved:
    """One artifact's config at a version: the resolve answer, and whether it came from the stale cache."""

    id: str
    kind: str
    version: int
    label: str | None
    etag: str
    config: dict[str, Any]
    stale: bool = False


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
    """The server could not be reached (or answered 5xx), and there was no earlier answer to fall back on."""


_CacheKey = tuple[str, str, "str | None", "int | None"]

# The kinds this client was written for, to say what a mistyped kind should have been. The server decides:
# a kind it serves works even when this list does not name it.
KINDS = ("personas", "tools", "evals", "invocations")
# What the server answers when no route matched: the path itself, so the kind, was wrong.
_NO_ROUTE = "Not Found"


class Client:
    """`Client(base_url, api_key)`; use it as a context manager or call `close()`. Thread-safe."""

    def __init__(
        self, base_url: str, api_key: str, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # `transport` is for proxies and tests (httpx.MockTransport, a counting wrapper).
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"X-Api-Key": api_key, "Accept": "application/json"},
        )
        self._cache: dict[_CacheKey, Resolved] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def resolve(self, kind: str, id_or_name: str, label: str | None = "latest", version: int | None = None) -> Resolved:
        """The live config of the artifact of `kind` (plural, as in the URL: "personas", "tools", ...) with this
        id or exact current name, at `label` (default latest) or at `version` (which wins over the label)."""
        key: _CacheKey = (kind, str(id_or_name), label, version)
        with self._lock:
            cached = self._cache.get(key)
        params: dict[str, Any] = {}
        if label is not None:
            params["label"] = label
        if version is not None:
            params["version"] = version
        headers = {"If-None-Match": f'"{cached.etag}"'} if cached else {}
        what = f"{kind} {id_or_name!r}" + (f" version {version}" if version is not None else f" at {label}")
        try:
            response = self._http.get(
                f"/api/v5/resolve/{quote(kind, safe='')}/{quote(str(id_or_name), safe='')}",
                params=params,
                headers=headers,
            )
        except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
            return self._stale(key, cached, what, f"{type(exc).__name__}: {exc}", exc)
        if response.status_code == 304 and cached is not None:
            return _copy(cached)
        if response.status_code >= 500:
            return self._stale(key, cached, what, f"HTTP {response.status_code}", None)
        if response.status_code != 200:
            if response.status_code == 404:
                with self._lock:  # gone (or relabelled away): never serve it again as stale
                    self._cache.pop(key, None)
            raise _error(response, what, kind)
        answer = response.json()
        found = Resolved(
            id=str(answer[f"{answer['kind']}_id"]),
            kind=answer["kind"],
            version=answer["version"],
            label=answer.get("label"),
            etag=answer["etag"],
            config=answer["config"],
        )
        with self._lock:
            self._cache[key] = found
        return _copy(found)

    def _stale(
        self, key: _CacheKey, cached: Resolved | None, what: str, reason: str, cause: Exception | None
    ) -> Resolved:
        if cached is None:
            raise Unavailable(
                f"Loomwork at {self.base_url} could not be reached ({reason}) and nothing is cached for {what}."
            ) from cause
        log.warning(
            "Loomwork at %s could not be reached (%s); using the cached %s version %s",
            self.base_url,
            reason,
            what,
            cached.version,
        )
        return replace(_copy(cached), stale=True)


def _copy(found: Resolved) -> Resolved:
    # The caller may fill in or change its config; the cached answer must stay as the server sent it.
    return replace(found, config=copy.deepcopy(found.config))


def _unknown_kind(kind: str) -> str:
    plural = f"{kind}s" if f"{kind}s" in KINDS else None
    hint = f" Did you mean {plural!r}?" if plural else ""
    return f"No kind {kind!r}: resolve takes one of {', '.join(map(repr, KINDS))} (plural, as in the URL).{hint}"


def _error(response: httpx.Response, what: str, kind: str) -> LoomworkClientError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    detail = str(body.get("detail") or f"HTTP {status} resolving {what}")
    code = body.get("code")
    if status == 404 and body.get("detail") == _NO_ROUTE:
        return NotFound(_unknown_kind(kind), status=status, code="unknown_kind")
    if status == 404:
        return NotFound(detail, status=status, code=code)
    if status in (401, 403):
        return Forbidden(detail, status=status, code=code)
    return LoomworkClientError(detail, status=status, code=code)
