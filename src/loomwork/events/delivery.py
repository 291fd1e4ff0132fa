"""The delivery worker: fan events out to webhooks, claim due deliveries, call the receivers.

It runs as a thread in the background of `loomwork serve` and alone as `loomwork deliver`. Each
step is a short transaction of its own; none is open while a receiver is called. On PostgreSQL
any number of workers claim with `FOR UPDATE SKIP LOCKED`; on SQLite the one holding the
`worker_leases` row works and the others wait to take it over. A claim moves the delivery a lease
ahead, so a worker killed mid-attempt (SIGKILL) loses nothing: the delivery is due again when the
lease runs out, and is sent again (at least once). A stop request (SIGTERM) lets the attempt in
progress finish and hands the rest of the claimed batch back at once.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from datetime import timedelta

from sqlalchemy import select

from loomwork.config import Settings
from loomwork.db.base import utcnow
from loomwork.db.database import Database
from loomwork.db.dialect import has_one_writer
from loomwork.errors import LoomworkError
from loomwork.events import webhooks
from loomwork.events.models import WorkerLease
from loomwork.resources import secrets
from loomwork.urlsafety import Target, resolve_for_request

log = logging.getLogger("loomwork.delivery")
RESPONSE_CAP = 1024  # bytes of a receiver's answer read and kept, at most
ERROR_CAP = 500  # characters of an attempt's error kept (the column's size)
IDLE_POLL_S = 0.05
BATCH = 50
SENDERS = 8
LEASE_NAME = "delivery"
USER_AGENT = "Loomwork-Webhooks/1"


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, verifying the certificate for the URL's name."""

    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def send(url: str, headers: dict[str, str], body: bytes, timeout_s: float) -> tuple[int | None, str | None, str]:
    """POST once: (status code, error, the start of the answer). Never follows redirects."""
    try:
        target = resolve_for_request(url)
    except LoomworkError as refused:
        return None, refused.detail[:500], ""
    if target.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPSConnection(target, timeout_s)
    else:
        conn = http.client.HTTPConnection(target.address, target.port, timeout=timeout_s)
    host = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    try:
        conn.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if target.port == default_port else f"{host}:{target.port}")
        for name, value in {
            **headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Content-Length": str(len(body)),
        }.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        excerpt = response.read(RESPONSE_CAP).decode("utf-8", "replace")  # never more than the cap
        return response.status, None, excerpt.replace("\x00", "\ufffd")  # PostgreSQL stores no NUL in text
    except (OSError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}", ""
    finally:
        conn.close()


def error_line(error: str, secret: str | None = None) -> str:
    """An attempt's error as the log shows it: one line of printable text, without the signing secret (nor
    its key part) should an exception have quoted it, at most ERROR_CAP characters."""
    if secret:
        for part in (secret, secret.removeprefix(webhooks.SECRET_PREFIX)):
            error = error.replace(part, "[secret]")
        error = secrets.scrub(error, secret)  # and any part of it, or an encoded copy
    text = " ".join("".join(c if c.isprintable() else " " for c in error).split())
    return text[:ERROR_CAP]


class DeliveryWorker:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.stop = threading.Event()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._thread: threading.Thread | None = None
        self._lease_until = 0.0
        self._senders = concurrent.futures.ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="loomwork-send")

    # --- running ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="loomwork-delivery", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float | None = None) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.settings.webhook_timeout_s + 5)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("delivery worker step failed")
                busy = False
            if not busy:
                self.stop.wait(IDLE_POLL_S)
        self._give_up_lease()
        self._senders.shutdown(wait=True)

    def run_once(self) -> bool:
        """One round: fan out, claim, send. True when it did anything (so the next round starts at once)."""
        if not self._hold_lease():
            self.stop.wait(1.0)
            return False
        skip_locked = not has_one_writer(self.db.dialect)
        with self.db.transaction(write=False) as session:
            if not webhooks.has_work(session):
                return False
        with self.db.transaction(write=True) as session:  # one short write: fan out, then claim
            fanned = webhooks.fan_out(session, skip_locked)
            claimed = webhooks.claim(session, skip_locked, self.settings.webhook_lease_s, BATCH)
        if claimed:
            # In parallel, so one slow receiver does not hold up the others; no transaction is open meanwhile.
            outcomes = list(self._senders.map(self.attempt, claimed))
            try:
                self._record(list(zip(claimed, outcomes)))  # one write records the whole batch
            except Exception:
                # One outcome the database refuses must not leave the others unrecorded (and sent again at
                # every lease): each in a write of its own, and an outcome refused alone becomes a failed attempt.
                log.exception(
                    "recording a batch of %d delivery outcomes failed; recording them one by one", len(claimed)
                )
                for item, outcome in zip(claimed, outcomes):
                    try:
                        self._record([(item, outcome)])
                    except Exception:
                        log.exception("recording the outcome of delivery %s failed", item.delivery_id)
                        duration = outcome[2] if outcome is not None else 0
                        self._record([(item, (None, "the attempt's outcome could not be recorded", duration, ""))])
        return bool(fanned or claimed)

    def _record(self, outcomes: list[tuple[webhooks.Claimed, webhooks.Outcome | None]]) -> None:
        with self.db.transaction(write=True) as session:
            webhooks.release(session, [item for item, outcome in outcomes if outcome is None])
            webhooks.record_batch(
                session,
                [(item, outcome) for item, outcome in outcomes if outcome is not None],
                retry_base_s=self.settings.webhook_retry_base_s,
                retry_window_s=self.settings.webhook_retry_window_s,
            )

    def attempt(self, item: webhooks.Claimed) -> webhooks.Outcome | None:
        """Send once: (status code, error, duration in ms, the answer's start); None if stopping first.
        Whatever this delivery raises is its own failed attempt, recorded and retried later: never the batch's."""
        if self.stop.is_set():  # SIGTERM: attempts under way finish, the others go back at once
            return None
        started, secret = time.monotonic(), None
        try:
            secret = secrets.box().decrypt(item.secret_encrypted)
            timestamp = int(time.time())
            headers = {
                "webhook-id": item.message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": webhooks.sign(secret, item.message_id, timestamp, item.body),
            }
            body = item.body.encode("utf-8")
            status, error, excerpt = send(item.url, headers, body, self.settings.webhook_timeout_s)
        except Exception as unexpected:  # noqa: BLE001 - a bug or odd data must not stop the other deliveries
            status, error, excerpt = None, f"{type(unexpected).__name__}: {unexpected}", ""
            log.warning("delivery %s failed: %s", item.delivery_id, error_line(error, secret))
        duration = int((time.monotonic() - started) * 1000)
        # What the receiver answered is shown to people: never any part of the signing secret.
        excerpt = secrets.scrub(excerpt, secret) if secret else excerpt
        return status, None if error is None else error_line(error, secret), duration, excerpt

    # --- SQLite: one worker at a time -------------------------------------------------------------------

    def _hold_lease(self) -> bool:
        if not has_one_writer(self.db.dialect):
            return True
        if time.monotonic() < self._lease_until - self.settings.webhook_lease_s * 2 / 3:
            return True  # renewed recently enough
        now = utcnow()
        with self.db.transaction(write=True) as session:
            lease = session.get(WorkerLease, LEASE_NAME)
            if lease is None:
                session.add(
                    WorkerLease(
                        name=LEASE_NAME,
                        holder=self.holder,
                        expires_at=now + timedelta(seconds=self.settings.webhook_lease_s),
                    )
                )
            elif lease.holder == self.holder or lease.expires_at <= now:
                lease.holder, lease.expires_at = self.holder, now + timedelta(seconds=self.settings.webhook_lease_s)
            else:
                self._lease_until = 0.0
                return False
        self._lease_until = time.monotonic() + self.settings.webhook_lease_s
        return True

    def _give_up_lease(self) -> None:
        if not has_one_writer(self.db.dialect) or not self._lease_until:
            return
        try:
            with self.db.transaction(write=True) as session:
                lease = session.scalar(
                    select(WorkerLease).where(WorkerLease.name == LEASE_NAME, WorkerLease.holder == self.holder)
                )
                if lease is not None:
                    session.delete(lease)
        except Exception:
            log.exception("could not give up the delivery lease")
