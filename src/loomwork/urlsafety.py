"""Which URLs the server may call out to: http(s) only, and never a private, loopback or link-local
address unless the operator allows it (`LOOMWORK_ALLOW_PRIVATE_URLS=1`).

Two checks, for any code that calls a URL a user gave (webhooks, AI endpoints):
- `check_url(url)` when the URL is saved: a clear 422 naming the field, else the URL as it goes on the wire
  (an internationalised host in IDNA, non-ASCII in the path, query and fragment percent-encoded);
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
from urllib.parse import quote, urlsplit

import anyio
import anyio.to_thread
import httpx2
import idna

from loomwork.errors import Invalid

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_S = 3.0
# Kept as they are when a URL is encoded: printable ASCII, so reserved characters and %XX escapes keep their meaning.
_PRINTABLE_ASCII = "".join(map(chr, range(0x21, 0x7F)))
# IPv6 forms that carry an IPv4 address a connection may end up at: the IPv4 address is what is checked.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix, what DNS64 answers
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_TEREDO = ipaddress.IPv6Network("2001::/32")  # its IPv4 address is obfuscated, and its server's is another
_SIXTOFOUR_RELAY = ipaddress.IPv4Network("192.88.99.0/24")  # anycast relays, deprecated (RFC 7526)
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
    """Whether an address is public. An IPv6 address that carries an IPv4 address (mapped `::ffff:a.b.c.d`,
    NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) is judged by that IPv4 address; any other IPv6
    address must be global unicast (2000::/3) and not Teredo, which refuses the deprecated forms that embed
    one too (IPv4-compatible `::a.b.c.d`, translated `::ffff:0:a.b.c.d`, site-local `fec0::/10`) and
    NAT64's local-use prefixes, whose layout the operator chooses. `is_global` does the rest (private,
    loopback, link-local, CGNAT 100.64/10, 0/8, reserved, documentation); multicast is refused besides."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
        elif ip not in _GLOBAL_UNICAST or ip in _TEREDO:
            return False
    if ip in _SIXTOFOUR_RELAY:
        return False
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str  # IDNA (ASCII)
    port: int
    path: str  # path and query, percent-encoded
    text: str  # the whole URL as it goes on the wire


def _encoded_host(host: str, field: str) -> str:
    if host.isascii():
        return host  # as given (an ASCII name may hold what IDNA refuses, such as `_`); DNS says if it exists
    try:
        return idna.encode(host, uts46=True).decode("ascii")  # UTS 46 maps it as browsers do (Ｅ to e, ß kept)
    except UnicodeError as error:  # idna.IDNAError is one
        raise Invalid(
            f"{field}: the host {host!r} is not a valid internationalised name ({error}).", field=field
        ) from None


def _split(url: str, field: str) -> _Url:
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
    host = _encoded_host(parts.hostname, field)
    try:
        path, query, fragment = (
            quote(p, safe=_PRINTABLE_ASCII) for p in (parts.path or "/", parts.query, parts.fragment)
        )
    except UnicodeError:  # a lone surrogate
        raise Invalid(f"{field}: is not valid Unicode text.", field=field) from None
    text = url
    if not all(c in _PRINTABLE_ASCII for c in url):  # an ASCII URL stays as it was written
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
        text = (
            f"{parts.scheme}://{netloc}{path}" + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")
        )
        if len(text) > MAX_URL_LENGTH:
            raise Invalid(
                f"{field}: is longer than {MAX_URL_LENGTH} characters once its non-ASCII characters are encoded.",
                field=field,
            )
    if query:
        path += "?" + query
    return _Url(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path, text)


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
    parsed = _split(url, field)
    scheme, host, port, path = parsed.scheme, parsed.host, parsed.port, parsed.path
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
        parts = _split(url, "url")
    except Invalid:
        return None
    host = f"[{parts.host}]" if ":" in parts.host else parts.host
    return f"{parts.scheme}://{host.lower()}:{parts.port}"


def check_url(url: str, field: str = "url", *, allow_private: bool | None = None) -> str:
    """The URL as it goes on the wire (IDNA host, percent-encoded path), if the server may call it; else 422
    naming `field` and the reason. `allow_private` is the operator's setting (Settings.allow_private_urls);
    None reads LOOMWORK_ALLOW_PRIVATE_URLS itself."""
    _checked(url, field, allow_private)
    return _split(url, field).text


def resolve_for_request(url: str, field: str = "url", *, allow_private: bool | None = None) -> Target:
    """Resolve and check now, right before a request: connect to `Target.address` only. A URL saved before
    URLs were encoded at create is encoded here the same way."""
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
