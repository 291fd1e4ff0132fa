"""Time from commit to delivery at the receiver (issue 20): median and p95, under about 200 commits/s.

A receiver on 127.0.0.1 notes when each webhook-id arrives (and checks the signature); a writer thread
commits one event per transaction at the given rate (an `emit` in a transaction of its own, as a change
would) and notes when each commit returned; `loomwork deliver` runs in its own process, as beside a
server. Latency = arrival - commit, per event.

    cd bench && ../.venv/bin/python webhook_latency.py [--seconds 10] [--rate 200]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/loomwork_webhook_bench]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from loomwork import groups
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork.events import outbox, webhooks
from loomwork.identity.models import Profile
from loomwork.principal import Principal
from loomwork.resources import secrets

SECRET = "bench-secret-for-webhook-latency"


def receiver() -> tuple[ThreadingHTTPServer, dict[str, float]]:
    arrived: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrived.setdefault(self.headers["webhook-id"], time.time())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrived


def fresh_database(url: str) -> None:
    if not url.startswith("postgresql"):
        Path(make_url(url).database).unlink(missing_ok=True)
        return
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=f"sqlite:///{Path(tempfile.gettempdir()) / 'loomwork-webhooks.sqlite3'}"
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=200, help="commits per second")
    args = parser.parse_args()

    fresh_database(args.database_url)
    db = Database(args.database_url)
    upgrade(db.engine)
    secrets.configure(SECRET.encode())
    os.environ["LOOMWORK_ALLOW_PRIVATE_URLS"] = "1"
    server, arrived = receiver()
    with db.transaction(write=True) as session:
        groups.create_group_key(session, SECRET.encode(), "bench", "bench-admin", "admin")
        profile = session.query(Profile).one()
        principal = Principal(profile.id, profile.group_id, profile.name, "admin")
        webhooks.create(
            session, principal, f"http://127.0.0.1:{server.server_address[1]}/hook", list(outbox.EVENT_TYPES), "bench"
        )

    env = {**os.environ, "LOOMWORK_SECRET_KEY": SECRET, "LOOMWORK_DATA_DIR": tempfile.mkdtemp()}
    worker = subprocess.Popen(
        [sys.executable, "-m", "loomwork.cli", "deliver", "--database-url", args.database_url],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Warm up: the worker is up once a first event arrives.
        committed: dict[str, float] = {}
        with db.transaction(write=True) as session:
            outbox.emit(session, principal.group_id, outbox.DELETED, {"kind": "persona", "warm_up": True})
        deadline = time.time() + 120
        while not arrived and time.time() < deadline:
            time.sleep(0.05)
        arrived.clear()

        count, interval, start = int(args.seconds * args.rate), 1 / args.rate, time.time()
        for n in range(count):
            time.sleep(max(0.0, start + n * interval - time.time()))
            event_id = uuid.uuid4()
            with db.transaction(write=True) as session:
                outbox.emit(session, principal.group_id, outbox.REVISION_CREATED, {"kind": "persona", "n": n})
                session.info[outbox.PENDING][-1]["id"] = event_id  # the id is the webhook-id: note it
            committed[f"msg_{event_id.hex}"] = time.time()
        achieved = count / (time.time() - start)
        deadline = time.time() + 120
        while len(arrived) < count and time.time() < deadline:
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        server.shutdown()
        db.dispose()

    latencies = sorted((arrived[m] - committed[m]) * 1000 for m in committed if m in arrived)
    p95 = latencies[int(len(latencies) * 0.95) - 1] if latencies else float("nan")
    print(
        f"{make_url(args.database_url).get_backend_name()}: {count} commits at {achieved:.0f}/s, "
        f"{len(latencies)} delivered; commit -> delivery median {statistics.median(latencies):.1f} ms, "
        f"p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
