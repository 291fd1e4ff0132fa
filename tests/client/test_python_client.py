"""`loomwork.client` (the re-export of the loomwork-client package) against a live server (uvicorn on a loopback
port), on SQLite and PostgreSQL: resolve, revalidation by ETag (counted at the transport: 200 then 304), a label
move seen on the next call, the server's errors as LookupError / PermissionError, and the cached answer marked
stale when the server is down or failing. The package's newer parts are in test_client_package.py.
"""

from __future__ import annotations

import logging

import httpx2
import pytest

from conftest import LiveServer, serving
from loomwork.app import create_app
from loomwork.client import Client, Forbidden, NotFound, Resolved, Unavailable

KIND = "personas"


class Counting(httpx2.BaseTransport):
    """The real transport, recording each request's If-None-Match and the status it got; `failing` answers 503."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.seen: list[tuple[str | None, int]] = []
        self.failing = False

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.failing:
            response = httpx2.Response(503, json={"detail": "down for maintenance"})
        else:
            response = self.inner.handle_request(request)
        self.seen.append((request.headers.get("if-none-match"), response.status_code))
        return response

    def close(self) -> None:
        self.inner.close()


def update(api, persona_id: str, **fields) -> None:
    (result,) = api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, **fields}]})["results"]
    assert result["success"], result


def test_resolve_revalidates_by_etag_and_follows_a_label_move(make_api, live_server: LiveServer, dialect):
    admin = make_api("admin")
    persona_id = admin.create(KIND, name="Archivist", description="Finds documents")
    update(admin, persona_id, description="Finds and cites")
    admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 1})
    counting = Counting()

    with Client(live_server.url, make_api("viewer").key, timeout=30, transport=counting) as loomwork:
        first = loomwork.resolve(KIND, persona_id)
        assert first == Resolved(
            id=persona_id, kind="persona", version=2, label="latest", etag=first.etag, config=first.config, stale=False
        )
        assert first.config["description"] == "Finds and cites" and first.etag
        again = loomwork.resolve(KIND, persona_id)
        assert again == first and not again.stale
        again.config["description"] = "changed by the caller"  # a caller's change does not reach the cache
        # The second call asked with the first answer's ETag and got 304 with no body.
        assert counting.seen == [(None, 200), (f'"{first.etag}"', 304)]

        assert loomwork.resolve(KIND, persona_id).config["description"] == "Finds and cites"
        production = loomwork.resolve(KIND, "Archivist", label="production")
        assert (production.id, production.version, production.label) == (persona_id, 1, "production")
        assert production.config["description"] == "Finds documents"
        assert loomwork.resolve(KIND, persona_id, version=1).config == production.config

        # A person moves production: the very next call sees it (revalidation is a 200 with the new config).
        admin.ok(KIND, "label", {"persona_id": persona_id, "label": "production", "version": 2, "expected_version": 1})
        counting.seen.clear()
        moved = loomwork.resolve(KIND, "Archivist", label="production")
        assert (moved.version, moved.config["description"], moved.stale) == (2, "Finds and cites", False)
        assert counting.seen == [(f'"{production.etag}"', 200)]
        assert loomwork.resolve(KIND, "Archivist", label="production") == moved
        assert counting.seen[-1] == (f'"{moved.etag}"', 304)


def test_errors_are_lookup_and_permission_errors_with_the_servers_detail(make_api, live_server: LiveServer, dialect):
    theirs = make_api("editor", group="other").create(KIND, name="Zebra")
    mine = make_api("viewer")

    with Client(live_server.url, mine.key, timeout=30) as loomwork:
        with pytest.raises(LookupError) as missing:
            loomwork.resolve(KIND, theirs)  # another group's id is not found, never forbidden
        assert isinstance(missing.value, NotFound) and missing.value.status == 404
        assert missing.value.code == "not_found" and missing.value.detail
        with pytest.raises(NotFound):
            loomwork.resolve(KIND, "Zebra")
        with pytest.raises(NotFound) as singular:
            loomwork.resolve("persona", theirs)  # a kind may be singular or plural: this is the id's 404
        assert singular.value.code == "not_found"
        with pytest.raises(NotFound) as typo:
            loomwork.resolve("personnas", theirs)
        assert typo.value.code == "unknown_kind"
        assert "the kinds are persona, tool, eval, invocation" in typo.value.detail, typo.value.detail
        assert "Did you mean 'persona'?" in typo.value.detail
    with Client(live_server.url, "lw_not-a-real-key", timeout=30) as stranger:
        with pytest.raises(PermissionError) as refused:
            stranger.resolve(KIND, theirs)
        assert isinstance(refused.value, Forbidden) and refused.value.status == 401 and refused.value.detail


def test_a_failing_server_gives_the_cached_value_marked_stale(make_api, live_server: LiveServer, dialect, caplog):
    persona_id = make_api("admin").create(KIND, name="Archivist")
    counting = Counting()

    with Client(live_server.url, make_api("viewer").key, timeout=30, transport=counting) as loomwork:
        fresh = loomwork.resolve(KIND, persona_id)
        counting.failing = True
        with caplog.at_level(logging.WARNING, logger="loomwork_client"):
            stale = loomwork.resolve(KIND, persona_id)
        assert stale.stale and stale == Resolved(**{**fresh.__dict__, "stale": True})
        assert "HTTP 503" in caplog.text
        with pytest.raises(Unavailable, match="nothing is cached"):
            loomwork.resolve(KIND, persona_id, label="production")
        counting.failing = False
        assert not loomwork.resolve(KIND, persona_id).stale


def test_a_stopped_server_gives_the_cached_value_marked_stale(make_api, settings, db, dialect, caplog):
    persona_id = make_api("admin").create(KIND, name="Archivist")
    key = make_api("viewer").key

    with serving(create_app(settings, db)) as url:
        loomwork = Client(url, key, timeout=5)
        fresh = loomwork.resolve(KIND, persona_id)
    with loomwork:
        # Stopped: the connection is refused, and the last answer is served, marked stale.
        with caplog.at_level(logging.WARNING, logger="loomwork_client"):
            stale = loomwork.resolve(KIND, persona_id)
        assert stale.stale and (stale.id, stale.version, stale.config) == (fresh.id, fresh.version, fresh.config)
        assert "could not be reached" in caplog.text
        with pytest.raises(Unavailable) as nothing:
            loomwork.resolve(KIND, "Archivist")
        assert isinstance(nothing.value, ConnectionError) and "nothing is cached" in str(nothing.value)
