"""Issue 28, findings 2 and 3: a webhook URL is stored as it goes on the wire (IDNA host, percent-encoded
path and query) or refused; whatever one delivery raises is that delivery's failed attempt, never the
batch's; and the address filter sees the IPv4 address inside every IPv6 form that carries one. Through
HTTP and the delivery worker, on SQLite and PostgreSQL; no traffic leaves the machine."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from conftest import assert_error
from loomwork.errors import Invalid
from loomwork.events import outbox
from loomwork.urlsafety import check_url, is_public

ALL_EVENTS = list(outbox.EVENT_TYPES)
PUBLIC = "93.184.216.34"  # never connected to: only literal or faked lookups below


# --- the address filter -------------------------------------------------------------------------------------

# Each was taken as public before (ipaddress calls all of them global).
NEWLY_REFUSED = [
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254, the cloud metadata service
    "64:ff9b:1::a00:1",  # NAT64's local-use prefix: the operator chooses where the IPv4 address sits
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:c058:6301::1",  # 6to4 of the 6to4 relay anycast 192.88.99.1
    "::10.0.0.1",  # IPv4-compatible
    "::127.0.0.1",
    "::8.8.8.8",  # IPv4-compatible is deprecated: refused whatever it carries
    "::ffff:0:10.0.0.1",  # IPv4-translated
    "::ffff:0:7f00:1",
    "fec0::1",  # site-local, deprecated
    "fec0::1%eth0",
    "192.88.99.1",  # the 6to4 relay anycast
    "192.88.99.255",
    "5f00::1",  # SRv6 segment ids: not global unicast
]

# Refused before and still: what ipaddress.is_global (and the multicast check) already says.
STILL_REFUSED = [
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo (2001::/32), its IPv4 address obfuscated
    "2001::1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.1.2.3",  # "this network"
    "0.0.0.0",
    "::",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "ff0e::1",
    "ff02::1",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.169.254",
    "::1",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "198.18.0.1",  # benchmarking
    "192.0.2.1",  # documentation
    "2001:db8::1",
    "100::1",  # discard-only
]

ALLOWED = [
    PUBLIC,
    "8.8.8.8",
    "2606:2800:220:1:248:1893:25c8:1946",
    "2001:4860:4860::8888",
    "::ffff:93.184.216.34",
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34: what DNS64 answers on an IPv6-only network
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
]


@pytest.mark.parametrize("address", NEWLY_REFUSED)
def test_ipv6_forms_that_carry_a_private_ipv4_address_are_refused(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", STILL_REFUSED)
def test_non_public_addresses_stay_refused(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a00:1]/",
        "http://[2002:a00:1::1]/",
        "http://[::10.0.0.1]/",
        "http://[::ffff:0:10.0.0.1]/",
        "http://[fec0::1]/",
        "http://192.88.99.1/",
    ],
)
def test_webhooks_create_refuses_the_embedded_forms(make_api, url, monkeypatch):
    monkeypatch.delenv("LOOMWORK_ALLOW_PRIVATE_URLS", raising=False)
    body = assert_error(make_api("admin").post("/api/v5/webhooks/create", {"url": url, "events": ALL_EVENTS}), 422)
    assert body["field"] == "url" and "private" in body["detail"]


# --- URLs are stored as they go on the wire ------------------------------------------------------------------


def fake_dns(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> list[str]:
    """getaddrinfo answers `names` only (and raises for any other name); the names asked for, in order."""
    asked: list[str] = []

    def lookup(host: Any, port: Any, *_args: Any, **_kwargs: Any) -> Any:
        asked.append(host)
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return asked


def test_a_non_ascii_host_path_and_query_are_stored_encoded(make_api, monkeypatch):
    monkeypatch.delenv("LOOMWORK_ALLOW_PRIVATE_URLS", raising=False)
    asked = fake_dns(monkeypatch, {"xn--bcher-kva.example": PUBLIC})
    admin = make_api("admin")
    created = []
    for url, stored in [
        (f"https://{PUBLIC}/hooks/café?q=ü&x=%41#frä", f"https://{PUBLIC}/hooks/caf%C3%A9?q=%C3%BC&x=%41#fr%C3%A4"),
        ("https://Bücher.example:8443/in", "https://xn--bcher-kva.example:8443/in"),
        ("https://ｂücher.example/", "https://xn--bcher-kva.example/"),  # UTS 46 maps the full-width b
    ]:
        response = admin.post("/api/v5/webhooks/create", {"url": url, "events": ALL_EVENTS})
        assert response.status_code == 200, response.text
        assert response.json()["url"] == stored
        created.append(stored)
    assert set(asked) == {"xn--bcher-kva.example"}  # the name looked up is the IDNA one
    listed = admin.post("/api/v5/webhooks/search", {}).json()["webhooks"]
    assert sorted(w["url"] for w in listed) == sorted(created)


def test_an_ascii_url_is_stored_as_written(make_api, monkeypatch):
    monkeypatch.delenv("LOOMWORK_ALLOW_PRIVATE_URLS", raising=False)
    url = f"https://{PUBLIC}/Hooks/a%20b?Q=1&r=[x]"
    response = make_api("admin").post("/api/v5/webhooks/create", {"url": url, "events": ALL_EVENTS})
    assert response.status_code == 200, response.text
    assert response.json()["url"] == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://ü-.example/", "internationalised"),  # a label may not end with a hyphen
        ("https://xn--ü.example/", "internationalised"),
        ("https://bü\u0301cher\u00ad\u2044.example/", "internationalised"),  # U+2044 is not allowed in a name
        (f"https://{PUBLIC}/" + "é" * 700, "once its non-ASCII characters are encoded"),  # 4,200 characters then
    ],
    ids=["hyphen-at-end", "bad-a-label", "fraction-slash", "too-long-once-encoded"],
)
def test_a_url_that_cannot_be_encoded_is_a_422_naming_url(make_api, monkeypatch, url, reason):
    monkeypatch.delenv("LOOMWORK_ALLOW_PRIVATE_URLS", raising=False)
    fake_dns(monkeypatch, {})
    body = assert_error(make_api("admin").post("/api/v5/webhooks/create", {"url": url, "events": ALL_EVENTS}), 422)
    assert body["field"] == "url" and reason in body["detail"], body


def test_a_lone_surrogate_is_refused_by_check_url_too():
    """The API refuses one in any body already; check_url is also called on stored values (AI endpoints)."""
    with pytest.raises(Invalid) as refused:
        check_url(f"https://{PUBLIC}/a\ud800", "endpoint", allow_private=False)
    assert refused.value.field == "endpoint"
