"""A real webhook receiver on 127.0.0.1 that verifies every signature (with the `standardwebhooks`
package, as a receiver would), and a delivery worker running on the test's database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from loomwork.config import Settings
from loomwork.db.database import Database
from loomwork.events.delivery import DeliveryWorker


@dataclass
class Received:
    message_id: str
    type: str
    data: dict[str, Any]
    at: float


@dataclass
class Receiver:
    url: str
    secret: str | None = None
    # Status codes to answer, in order; then 200.
    script: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    answer: bytes = b"ok"  # the body every answer carries
    messages: list[Received] = field(default_factory=list)
    bad_signatures: list[str] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)  # a webhook-id sent again while still in flight
    paths: list[str] = field(default_factory=list)  # each request's path and query, as sent
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: set[str] = field(default_factory=set)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        message_id = headers.get("webhook-id", "")
        with self.lock:
            if message_id in self.in_flight:
                self.overlaps.append(message_id)
            self.in_flight.add(message_id)
        try:
            try:
                Verifier(self.secret).verify(body, headers)
            except Exception as error:  # noqa: BLE001 - recorded, and the test fails on it
                with self.lock:
                    self.bad_signatures.append(f"{message_id}: {error}")
                return 400
            if self.delay_s:
                time.sleep(self.delay_s)
            payload = json.loads(body)
            with self.lock:
                status = self.script.pop(0) if self.script else 200
                self.messages.append(Received(message_id, payload["type"], payload["data"], time.monotonic()))
            return status
        finally:
            with self.lock:
                self.in_flight.discard(message_id)

    def ids(self) -> set[str]:
        with self.lock:
            return {m.message_id for m in self.messages}

    def of_type(self, event_type: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.type == event_type]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"the receiver did not get what was expected: {self.messages[-5:]}"
            time.sleep(0.02)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("LOOMWORK_ALLOW_PRIVATE_URLS", "1")  # the receiver is on loopback
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver = state["receiver"]
            with receiver.lock:
                receiver.paths.append(self.path)
            status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", str(len(receiver.answer)))
            self.end_headers()
            self.wfile.write(receiver.answer)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    from dataclasses import replace

    return replace(settings, webhook_retry_base_s=0.2, webhook_timeout_s=3.0, webhook_lease_s=10.0)


@pytest.fixture
def worker(db: Database, worker_settings: Settings) -> Iterator[DeliveryWorker]:
    """A delivery worker on the test's database, as `serve` runs it."""
    running = DeliveryWorker(db, worker_settings)
    running.start()
    yield running
    running.shutdown()
