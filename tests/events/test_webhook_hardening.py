"""Issue 28, findings 2 and 3: a webhook URL is stored as it goes on the wire (IDNA host, percent-encoded
path and query) or refused; whatever one delivery raises is that delivery's failed attempt, never the
batch's; and the address filter sees the IPv4 address inside every IPv6 form that carries one. Through
HTTP and the delivery worker, on SQLite and PostgreSQL; no traffic leaves the machine."""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from conftest import assert_error
from loomwork.errors import Invalid
from loomwork.events import delivery, outbox, webhooks
from loomwork.events.delivery import DeliveryWorker
from loomwork.events.models import Webhook
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


# --- one delivery's failure is its own -----------------------------------------------------------------------


def make_webhook(admin: Any, url: str) -> tuple[str, str]:
    response = admin.post("/api/v5/webhooks/create", {"url": url, "events": ALL_EVENTS})
    assert response.status_code == 200, response.text
    return response.json()["webhook_id"], response.json()["secret"]


def deliveries(admin: Any, webhook_id: str) -> list[dict[str, Any]]:
    response = admin.post("/api/v5/webhooks/deliveries", {"webhook_id": webhook_id})
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def stepped_worker(db: Any, worker_settings: Any) -> DeliveryWorker:
    """A worker stepped by the test (run_once), with a short lease and a long first retry delay: a delivery
    sent again at the next lease, rather than after its backoff, shows."""
    return DeliveryWorker(db, replace(worker_settings, webhook_lease_s=1.0, webhook_retry_base_s=60.0))


def assert_backed_off(delivery_row: dict[str, Any]) -> None:
    assert delivery_row["status"] == "pending" and delivery_row["attempt_count"] == 1, delivery_row
    due = datetime.fromisoformat(delivery_row["next_attempt_at"].replace("Z", "+00:00"))
    assert due > datetime.now(UTC) + timedelta(seconds=20), delivery_row  # backoff, not the 1 s lease


def test_an_exception_in_one_delivery_is_its_failed_attempt_and_the_batch_goes_on(
    make_api, receiver, db, worker_settings, monkeypatch
):
    acme, globex = make_api("admin", group="acme"), make_api("admin", group="globex")
    acme_hook, acme_secret = make_webhook(acme, receiver.url)
    globex_hook, globex_secret = make_webhook(globex, receiver.url + "?group=globex")
    receiver.secret = acme_secret
    real_sign = webhooks.sign

    def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
        if secret == globex_secret:  # an exception no one expected, quoting the secret over two lines
            raise ValueError(f"cannot use the key {secret!r}\n\tnor {secret.removeprefix('whsec_')}")
        return real_sign(secret, message_id, timestamp, body)

    monkeypatch.setattr(webhooks, "sign", sign)
    acme.create("personas", name="Heard")
    globex.create("personas", name="Unsigned")
    worker = stepped_worker(db, worker_settings)
    try:
        assert worker.run_once()
        time.sleep(1.5)  # past the lease: a delivery whose outcome was lost would be claimed and sent again
        worker.run_once()
    finally:
        worker.shutdown()
    assert len(receiver.messages) == 1 and receiver.bad_signatures == []
    [delivered] = deliveries(acme, acme_hook)
    assert delivered["status"] == "delivered" and delivered["attempt_count"] == 1
    [failed] = deliveries(globex, globex_hook)
    assert_backed_off(failed)
    [attempt] = failed["attempts"]
    error = attempt["error"]
    assert attempt["status_code"] is None and error == failed["last_error"]
    assert error.startswith("ValueError: cannot use the key") and "\n" not in error and "\t" not in error
    key = globex_secret.removeprefix("whsec_")
    assert key not in error and not any(key[i : i + 8] in error for i in range(len(key) - 8)), error


def test_a_url_saved_before_encoding_is_delivered_encoded_and_holds_up_no_one(make_api, receiver, db, worker_settings):
    """Old data: a URL with a non-ASCII path and query, as `create` took it before. http.client cannot put
    it on the wire (UnicodeEncodeError), which stopped the whole batch, every group's, at every lease."""
    acme, globex = make_api("admin", group="acme"), make_api("admin", group="globex")
    acme_hook, receiver.secret = make_webhook(acme, receiver.url)
    globex_hook, _ = make_webhook(globex, receiver.url)
    with db.transaction(write=True) as session:
        acme_secret = session.get(Webhook, uuid.UUID(acme_hook)).secret_encrypted  # one receiver verifies both
        session.execute(
            update(Webhook)
            .where(Webhook.id == uuid.UUID(globex_hook))
            .values(url=receiver.url + "/café?q=ü", secret_encrypted=acme_secret)
        )
    acme.create("personas", name="Acme's")
    globex.create("personas", name="Globex's")
    worker = stepped_worker(db, worker_settings)
    try:
        assert worker.run_once()
        time.sleep(1.5)
        worker.run_once()
    finally:
        worker.shutdown()
    assert sorted(receiver.paths) == sorted(["/hook", "/hook/caf%C3%A9?q=%C3%BC"])
    assert len(receiver.messages) == 2 and receiver.bad_signatures == []
    for admin, hook in ((acme, acme_hook), (globex, globex_hook)):
        [row] = deliveries(admin, hook)
        assert row["status"] == "delivered" and row["attempt_count"] == 1, row


def test_an_outcome_the_database_refuses_is_recorded_alone_as_a_failed_attempt(
    make_api, receiver, db, worker_settings, monkeypatch
):
    acme, globex = make_api("admin", group="acme"), make_api("admin", group="globex")
    acme_hook, acme_secret = make_webhook(acme, receiver.url)
    globex_hook, _ = make_webhook(globex, receiver.url + "?group=globex")
    receiver.secret = acme_secret
    real_record = webhooks.record_batch

    def record_batch(session: Any, outcomes: list[Any], **kwargs: Any) -> None:
        if any(outcome[0] is not None and "group=globex" in item.url for item, outcome in outcomes):
            raise RuntimeError("the database refused this row")  # as PostgreSQL refuses a NUL in text
        real_record(session, outcomes, **kwargs)

    monkeypatch.setattr(webhooks, "record_batch", record_batch)
    acme.create("personas", name="Recorded")
    globex.create("personas", name="Refused")
    worker = stepped_worker(db, worker_settings)
    try:
        assert worker.run_once()
        time.sleep(1.5)
        worker.run_once()
    finally:
        worker.shutdown()
    assert len(receiver.paths) == 2  # each sent once
    [delivered] = deliveries(acme, acme_hook)
    assert delivered["status"] == "delivered" and delivered["attempt_count"] == 1
    [failed] = deliveries(globex, globex_hook)
    assert_backed_off(failed)
    assert failed["last_error"] == "the attempt's outcome could not be recorded"


def test_an_answer_with_a_nul_character_is_recorded(make_api, receiver, db, worker_settings):
    """PostgreSQL stores no NUL in text: kept as it was, the answer's start failed the batch's one write."""
    admin = make_api("admin")
    webhook_id, receiver.secret = make_webhook(admin, receiver.url)
    receiver.answer = b"o\x00k"
    admin.create("personas", name="Answered")
    worker = stepped_worker(db, worker_settings)
    try:
        assert worker.run_once()
    finally:
        worker.shutdown()
    [row] = deliveries(admin, webhook_id)
    assert row["status"] == "delivered" and row["attempts"][0]["response"] == "o\ufffdk", row


def test_an_error_line_is_one_printable_line_without_the_secret():
    secret = webhooks.new_secret()
    key = secret.removeprefix(webhooks.SECRET_PREFIX)
    text = delivery.error_line(f"BadStatusLine: HTTP/1.1 2\x0000\r\n{secret}\u2028{key}\x1b[31m" + "x" * 900, secret)
    assert text.startswith("BadStatusLine: HTTP/1.1 2 00 [secret] [secret] [31mxxx") and len(text) == 500
    assert text.isprintable() and key not in text
