"""The loomwork-client package against a live server, on SQLite and PostgreSQL: resolve_many (one round trip,
per-item errors, the whole set revalidated by its ETag), pushed updates from the change feed (exactly the
touched entries refreshed, across a server restart), the offline start from `cache_dir`, the per-call fallback,
render and the tool and call formats, and the package installed alone in a fresh venv.

Waits use an Event or a deadline that only bounds a hung test; nothing asserts how long something took.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
import uvicorn

from conftest import LiveServer, free_port, serving
from loomwork.app import create_app
from loomwork_client import (
    Change,
    Client,
    MissingVariables,
    NotApplicable,
    NotFound,
    Resolved,
    Unavailable,
    UnknownKind,
)

ROOT = Path(__file__).resolve().parents[2]
KIND = "personas"
WAIT = 60  # seconds: only bounds a test that would otherwise hang


class Counting(httpx2.BaseTransport):
    """The real transport, recording each request's method, path, If-None-Match and the status it got."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.seen: list[tuple[str, str, str | None, int]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        self.seen.append((request.method, request.url.path, request.headers.get("if-none-match"), response.status_code))
        return response

    def resolves(self) -> list[tuple[str, str, str | None, int]]:
        return [seen for seen in self.seen if seen[1] != "/api/v5/changes"]

    def close(self) -> None:
        self.inner.close()


def update(api, persona_id: str, **fields) -> None:
    (result,) = api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, **fields}]})["results"]
    assert result["success"], result


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


class Changes:
    """on_change's calls, and an Event per event type."""

    def __init__(self) -> None:
        self.seen: list[Change] = []
        self.events: dict[str, threading.Event] = {}

    def __call__(self, change: Change) -> None:
        self.seen.append(change)
        self.event(change.event).set()

    def event(self, name: str) -> threading.Event:
        return self.events.setdefault(name, threading.Event())

    def wait(self, name: str) -> Change:
        assert self.event(name).wait(WAIT), f"no {name} reached on_change"
        self.events[name] = threading.Event()
        return [change for change in self.seen if change.event == name][-1]


@contextmanager
def serving_on(app, port: int) -> Iterator[str]:
    """`app` under uvicorn on this port (so a test can stop it and start it again at the same address)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the server to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_resolve_many_answers_each_item_in_one_round_trip_and_revalidates_the_set(
    make_api, live_server: LiveServer, dialect
):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Archivist", description="Finds documents")
    admin.create("tools", name="lookup", description="Looks it up")
    counting = Counting()

    with Client(live_server.url, make_api("viewer").key, timeout=30, transport=counting) as loomwork:
        items = [("personas", persona_id), {"kind": "tool", "name": "lookup"}, ("persona", "Nobody", "production")]
        persona, tool, missing = loomwork.resolve_many(items)
        assert isinstance(persona, Resolved) and (persona.id, persona.kind, persona.version) == (
            persona_id,
            "persona",
            1,
        )
        assert persona.config["description"] == "Finds documents"
        assert isinstance(tool, Resolved) and tool.kind == "tool" and tool.config["function"]["name"] == "lookup"
        assert isinstance(missing, NotFound) and missing.status == 404 and "Nobody" in missing.detail
        assert [(m, p, inm, s) for m, p, inm, s in counting.seen] == [("POST", "/api/v5/resolve", None, 200)]

        again = loomwork.resolve_many(items)
        (_, _, etag, status) = counting.seen[-1]
        assert status == 304 and etag and len(counting.seen) == 2  # the whole set, revalidated in one request
        assert again[:2] == [persona, tool] and isinstance(again[2], NotFound)

        # An item answered in a batch is cached for single resolves too: the next one revalidates by its ETag.
        assert loomwork.resolve(KIND, persona_id) == persona
        assert counting.seen[-1][2:] == (f'"{persona.etag}"', 304)

        update(admin, persona_id, description="Finds and cites")
        changed = loomwork.resolve_many(items)
        assert counting.seen[-1][3] == 200 and changed[0].version == 2
        assert changed[0].config["description"] == "Finds and cites" and changed[1] == tool


def test_a_watching_client_refreshes_exactly_what_a_change_touches(make_api, live_server: LiveServer, dialect):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Archivist", description="Finds documents")
    update(admin, persona_id, description="Finds and cites")
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1})
    other_id = admin.create(KIND, name="Other")
    changes, counting = Changes(), Counting()

    with Client(
        live_server.url, make_api("viewer").key, timeout=30, transport=counting, watch=True, on_change=changes
    ) as loomwork:
        production = loomwork.resolve(KIND, persona_id, label="production")
        latest = loomwork.resolve("persona", persona_id)
        pinned = loomwork.resolve(KIND, persona_id, version=1)
        other = loomwork.resolve(KIND, other_id)
        assert (production.version, latest.version, pinned.version) == (1, 2, 1)
        wait_until(lambda: loomwork.watching, "the watcher to connect")

        # While the watcher is connected a cached answer costs no request at all.
        counting.seen.clear()
        assert loomwork.resolve(KIND, persona_id, label="production") == production
        assert counting.resolves() == []

        admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 2, "expected_version": 1})
        moved = changes.wait("label.moved")
        assert (moved.kind, moved.id, moved.data["to_version"]) == ("persona", persona_id, 2)
        # Only the production entry was read again: not latest, not the pinned version, not the other persona.
        assert [(r.label, r.version) for r in moved.updated] == [("production", 2)]
        counting.seen.clear()
        now = loomwork.resolve(KIND, persona_id, label="production")
        assert (now.version, now.config["description"], now.stale) == (2, "Finds and cites", False)
        assert counting.resolves() == []  # served from memory, already refreshed

        update(admin, persona_id, description="Cites everything")
        created = changes.wait("artifact.revision_created")
        assert [(r.label, r.version) for r in created.updated] == [("latest", 3)]
        assert loomwork.resolve("persona", persona_id).config["description"] == "Cites everything"
        assert loomwork.resolve(KIND, persona_id, version=1) == pinned

        admin.ok(KIND, "delete", {"persona_ids": [persona_id]})
        deleted = changes.wait("artifact.deleted")
        assert len(deleted.removed) == 3 and deleted.updated == ()
        with pytest.raises(NotFound):
            loomwork.resolve(KIND, persona_id)
        assert loomwork.resolve(KIND, other_id) == other
    # close() cancelled the long poll: the watcher's thread has ended (join is bounded, nothing is timed).
    assert loomwork._watcher is not None and not loomwork._watcher.is_alive() and not loomwork.watching


def test_the_watcher_survives_a_server_restart(make_api, settings, db, dialect):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Archivist")
    update(admin, persona_id, description="Second")
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "staging", "version": 1})
    changes, port = Changes(), free_port()

    with serving_on(create_app(settings, db), port) as url:
        loomwork = Client(url, make_api("viewer").key, timeout=5, watch=True, on_change=changes, wait_s=2)
        assert loomwork.resolve(KIND, persona_id, label="staging").version == 1
        wait_until(lambda: loomwork.watching, "the watcher to connect")
    with loomwork:
        wait_until(lambda: not loomwork.watching, "the watcher to notice the server is gone")
        # Moved while the server is down: the change is in the feed, and the watcher's cursor still points before it.
        admin.ok(KIND, "label", {"persona_id": persona_id, "label": "staging", "version": 2, "expected_version": 1})
        assert loomwork.resolve(KIND, persona_id, label="staging").stale
        with serving_on(create_app(settings, db), port):
            moved = changes.wait("label.moved")
            assert [(r.label, r.version) for r in moved.updated] == [("staging", 2)]
            fresh = loomwork.resolve(KIND, persona_id, label="staging")
            assert (fresh.version, fresh.stale) == (2, False)


def test_an_offline_start_serves_the_last_answers_from_cache_dir(make_api, settings, db, dialect, tmp_path, caplog):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Archivist", description="Finds documents")
    admin.create("tools", name="lookup")
    key, cache_dir = make_api("viewer").key, tmp_path / "cache"

    with serving(create_app(settings, db)) as url, Client(url, key, timeout=5, cache_dir=cache_dir) as loomwork:
        fresh = loomwork.resolve(KIND, "Archivist")
        (tool,) = loomwork.resolve_many([("tool", "lookup")])
    files = sorted(p.name for p in cache_dir.rglob("*") if p.is_file())
    assert len(files) == 2 and all(name.endswith(".json") and not name.startswith(".tmp-") for name in files)

    # A new process, Loomwork down: the answers come from disk, marked stale, with their age.
    with Client(url, key, timeout=5, cache_dir=cache_dir) as restarted:
        served = restarted.resolve(KIND, "Archivist")
        assert served.stale and served.source == "disk" and served.age >= 0
        assert (served.id, served.version, served.etag, served.config) == (persona_id, 1, fresh.etag, fresh.config)
        assert served.fetched_at == fresh.fetched_at  # the age counts from the server's last answer
        assert restarted.resolve_many([("tools", "lookup")]) == [Resolved(**{**tool.__dict__, "stale": True})]
        with pytest.raises(Unavailable, match="nothing is cached"):
            restarted.resolve(KIND, "Archivist", label="production")
    # Another key (another group, perhaps) never sees these answers.
    stranger = Client(url, make_api("viewer", group="other").key, timeout=5, cache_dir=cache_dir)
    with stranger, pytest.raises(Unavailable):
        stranger.resolve(KIND, "Archivist")


def test_a_fallback_is_the_last_resort_when_nothing_was_ever_cached(tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}"
    with Client(nobody, "lw_key", timeout=2, cache_dir=tmp_path) as loomwork:
        fallback = {"instructions": "You are a careful archivist."}
        served = loomwork.resolve("personas", "Archivist", label="production", fallback=fallback)
        assert served.stale and served.source == "fallback" and served.config == fallback
        assert (served.kind, served.label, served.version) == ("persona", "production", 0)
        served.config["instructions"] = "changed"
        assert fallback["instructions"] == "You are a careful archivist."
        with pytest.raises(Unavailable, match="no fallback") as nothing:
            loomwork.resolve("personas", "Archivist")
        assert isinstance(nothing.value, ConnectionError)

        first, second = loomwork.resolve_many([("persona", "a"), ("tool", "b")], fallbacks={0: {"name": "a"}})
        assert isinstance(first, Resolved) and first.config == {"name": "a"} and isinstance(second, Unavailable)
        with pytest.raises(Unavailable, match="none of the 2 items"):
            loomwork.resolve_many([("persona", "a"), ("tool", "b")])


def test_render_and_the_tool_and_call_formats(make_api, live_server: LiveServer, dialect):
    admin = make_api("admin")
    admin.create(
        KIND, name="Ada", instructions="Help {{customer}} with {{ topic }}.", parameter_fields=["customer", "topic"]
    )
    arg = {"name": "query", "type": "string", "description": "What to find", "required": True}
    admin.create("tools", name="Look up", description="Finds documents", args=[arg])
    model_id = admin.post("/api/v5/resources/models/create", {"models": ["gpt-4o-mini"]}).json()["results"][0]["id"]
    admin.create(
        "invocations",
        name="Main",
        endpoint="http://127.0.0.1:11434/v1",
        key={"name": "prod", "secret": "sk-live-very-secret-1234"},
        temperature_level="0.3",
        reasoning_level="Low",
        model_flag_values=[{"model_id": model_id, "type": "invocation_role", "value": "primary"}],
    )

    with Client(live_server.url, make_api("viewer").key, timeout=30) as loomwork:
        persona, tool, invocation = loomwork.resolve_many(
            [("persona", "Ada"), ("tool", "Look up"), ("invocation", "Main")]
        )
        assert persona.render(customer="Grace", topic="billing", unused=1) == "Help Grace with billing."
        with pytest.raises(MissingVariables, match="no value for topic") as missing:
            persona.render(customer="Grace")
        assert isinstance(missing.value, KeyError) and "'Ada'" in str(missing.value)
        with pytest.raises(NotApplicable, match="not a tool"):
            persona.openai_tool()

        parameters = {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to find"}},
            "required": ["query"],
            "additionalProperties": False,
        }
        assert tool.openai_tool() == {
            "type": "function",
            "function": {"name": "Look_up", "description": "Finds documents", "parameters": parameters},
        }
        assert tool.anthropic_tool() == {
            "name": "Look_up",
            "description": "Finds documents",
            "input_schema": parameters,
        }

        kwargs = invocation.openai_kwargs()
        assert kwargs == {"model": "gpt-4o-mini", "temperature": 0.3, "reasoning_effort": "low"}
        assert invocation.openai_client_kwargs() == {"base_url": "http://127.0.0.1:11434/v1"}
        assert "very-secret" not in json.dumps([kwargs, invocation.config])

        with pytest.raises(UnknownKind, match="the kinds are persona, tool, eval, invocation") as unknown:
            loomwork.resolve("personnas", "Ada")
        assert isinstance(unknown.value, ValueError)


@pytest.mark.sqlite_only
def test_the_package_installs_alone_and_resolves_without_the_server(
    make_api, live_server: LiveServer, dialect, tmp_path
):
    persona_id = make_api("admin").create(KIND, name="Archivist", instructions="Hello {{name}}")
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(home)
    python = str(home / "bin" / "python")
    # Installed as any user would (pip, from the package's own pyproject: httpx2 and its dependencies, nothing more).
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(ROOT / "clients" / "python")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    script = """
import sys

from loomwork_client import Client
for module in ("fastapi", "sqlalchemy", "loomwork", "pydantic"):
    try:
        __import__(module)
    except ImportError:
        pass
    else:
        sys.exit(f"{module} is importable: the client pulled in the server's dependencies")
with Client(sys.argv[1], sys.argv[2], timeout=30) as loomwork:
    found = loomwork.resolve("persona", sys.argv[3])
    print(found.version, found.render(name="Ada"))
"""
    key = make_api("viewer").key
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run(
        [python, "-c", script, live_server.url, key, persona_id], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr + run.stdout
    assert run.stdout.strip() == "1 Hello Ada"


def test_a_refresh_that_does_not_show_its_change_yet_is_asked_again():
    """The watcher's check (loomwork_client.client._shows): on PostgreSQL the feed can carry a change before the
    server's resolve cache learns of it, so an answer older than the change is asked for again."""
    from loomwork_client.client import _shows

    moved = {
        "event": "label.moved",
        "data": {"kind": "persona", "persona_id": "p1", "label": "production", "to_version": 3},
    }
    production = ("persona", "p1", "production", None)
    assert not _shows(moved, production, {"success": True, "id": "p1", "version": 2})
    assert _shows(moved, production, {"success": True, "id": "p1", "version": 3})
    assert _shows(moved, ("persona", "Other", "production", None), {"success": True, "id": "p2", "version": 1})
    removed = {**moved, "data": {**moved["data"], "to_version": None}}
    assert not _shows(removed, production, {"success": True, "id": "p1", "version": 3})
    assert _shows(removed, production, {"success": False, "status": 404})

    created = {"event": "artifact.revision_created", "data": {"kind": "persona", "persona_id": "p1", "version": 4}}
    latest = ("persona", "p1", "latest", None)
    assert not _shows(created, latest, {"success": True, "id": "p1", "version": 3})
    assert _shows(created, latest, {"success": True, "id": "p1", "version": 4})
