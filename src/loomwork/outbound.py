"""Calls Loomwork makes to URLs that users give it (a generator's endpoint): only to public addresses.

A URL that names a private, loopback or link-local address (or a name that resolves to one) would let
a user of the API reach services inside the operator's network (SSRF). Operators who run their model
server next to Loomwork allow it with LOOMWORK_ALLOW_PRIVATE_URLS=1.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from loomwork.errors import Invalid


def refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url(url: str, *, allow_private: bool, field: str) -> str:
    """The URL's host, once the URL is http(s) and (unless allowed) every address it resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"{field}: {url!r} is not an http(s) URL.", field=field)
    if allow_private:
        return parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
    except (OSError, ValueError, UnicodeError):
        raise Invalid(f"{field}: the host {parts.hostname!r} does not resolve.", field=field) from None
    private = sorted(a for a in addresses if refused_address(a))
    if private:
        raise Invalid(
            f"{field}: {parts.hostname} resolves to a private, loopback or link-local address ({private[0]}); "
            "the operator can allow such addresses with LOOMWORK_ALLOW_PRIVATE_URLS=1.",
            field=field, code="private_address",
        )
    return parts.hostname
