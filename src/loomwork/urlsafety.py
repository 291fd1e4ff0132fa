"""Which URLs the server may call out to: http(s) only, and never a private, loopback or link-local
address unless the operator allows it (`LOOMWORK_ALLOW_PRIVATE_URLS=1`).

Two checks, for any code that calls a URL a user gave (webhooks, AI endpoints):
- `check_url(url)` when the URL is saved: a clear 422 naming the field;
- `resolve_for_request(url)` right before each request: resolves the name again and answers the
  address to connect to, so a name that now points inside (DNS rebinding) is refused; the caller
  connects to that very address, never to the name a second time.

`PinnedTransport` does the second check for an HTTP client (the OpenAI SDK's): every request, redirects
included if a client followed them, is resolved, checked and sent to the checked address.
"""

from __future__ import annotations

import concurrent.futures
import functools
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import httpx2

from loomwork.errors import Invalid

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_S = 3.0
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="loomwork-resolve")


class UnsafeUrl(Invalid):
    code = "private_address"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name, for the Host header and TLS
    port: int
    address: str  # the checked address to connect to
    path: str  # path and query


def private_allowed() -> bool:
    return os.environ.get("LOOMWORK_ALLOW_PRIVATE_URLS", "").strip().lower() in ("1", "true", "yes")


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _split(url: str, field: str) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise Invalid(f"{field}: must be an http or https URL of at most {MAX_URL_LENGTH} characters.", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid(f"{field}: is not a valid URL.", field=field) from None
    if parts.scheme not in ("http", "https"):
        raise Invalid(f"{field}: must start with http:// or https://.", field=field)
    if not parts.hostname:
        raise Invalid(f"{field}: names no host.", field=field)
    if parts.username is not None or parts.password is not None:
        raise Invalid(f"{field}: must not carry a user name or password.", field=field)
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise Invalid(f"{field}: must not contain spaces or control characters.", field=field)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def _resolve(host: str, port: int, field: str) -> list[str]:
    try:
        literal = ipaddress.ip_address(host)
        return [str(literal)]
    except ValueError:
        pass
    try:
        infos = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(RESOLVE_TIMEOUT_S)
    except (OSError, UnicodeError, concurrent.futures.TimeoutError):
        raise Invalid(f"{field}: the host {host!r} does not resolve.", field=field) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # sockaddr[0] is the address text (AF_INET, AF_INET6)


def _checked(url: str, field: str, allow_private: bool | None = None) -> Target:
    scheme, host, port, path = _split(url, field)
    addresses = _resolve(host, port, field)
    if not (private_allowed() if allow_private is None else allow_private):
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise UnsafeUrl(
                f"{field}: {host} resolves to {refused[0]}, a private, loopback or link-local address; "
                "the server does not call those (an operator can allow them with "
                "LOOMWORK_ALLOW_PRIVATE_URLS=1).",
                field=field,
            )
    return Target(scheme, host, port, addresses[0], path)


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL (the port always written, the host lowercase); None if it is not one.
    A provider key is bound to one origin and goes nowhere else."""
    try:
        scheme, host, port, _path = _split(url, "url")
    except Invalid:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host.lower()}:{port}"


def check_url(url: str, field: str = "url", *, allow_private: bool | None = None) -> str:
    """The URL, if the server may call it; else 422 naming `field` and the reason. `allow_private` is the
    operator's setting (Settings.allow_private_urls); None reads LOOMWORK_ALLOW_PRIVATE_URLS itself."""
    _checked(url, field, allow_private)
    return url


def resolve_for_request(url: str, field: str = "url", *, allow_private: bool | None = None) -> Target:
    """Resolve and check now, right before a request: connect to `Target.address` only."""
    return _checked(url, field, allow_private)


class PinnedTransport(httpx2.HTTPTransport):
    """An httpx2 transport that resolves and checks each request's host right before sending it, then
    connects to the checked address: the URL's name stays in the Host header and is what TLS verifies
    (SNI). A refused address raises UnsafeUrl, which no HTTP client retries or wraps. No proxy from the
    environment: a proxy would connect to the name itself."""

    def __init__(self, field: str = "url", *, allow_private: bool | None = None, **options: Any) -> None:
        super().__init__(trust_env=False, **options)
        self.field, self.allow_private = field, allow_private

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        target = resolve_for_request(str(request.url), self.field, allow_private=self.allow_private)
        _send_to(request, target)
        return super().handle_request(request)


def _send_to(request: httpx2.Request, target: Target) -> None:
    if target.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": target.host}
    request.url = request.url.copy_with(host=target.address)  # the Host header was set from the name


class AsyncPinnedTransport(httpx2.AsyncHTTPTransport):
    """PinnedTransport for an async client: the same check and pinning, the name lookup in a worker thread so the
    event loop (and every other request) never waits on DNS."""

    def __init__(self, field: str = "url", *, allow_private: bool | None = None, **options: Any) -> None:
        super().__init__(trust_env=False, **options)
        self.field, self.allow_private = field, allow_private
        # Its lookups wait in a worker thread outside the pool that serves requests (one at a time per client).
        self._resolving = anyio.CapacityLimiter(1)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        check = functools.partial(resolve_for_request, str(request.url), self.field, allow_private=self.allow_private)
        target = await anyio.to_thread.run_sync(check, limiter=self._resolving)
        _send_to(request, target)
        return await super().handle_async_request(request)
