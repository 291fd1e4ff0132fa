"""The API reference at /docs works without internet: its scripts and styles are served by the app
from a package in the project's dependencies, never from a CDN."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.sqlite_only


def block_the_outside(page) -> list[str]:
    """Abort every request that leaves this machine, and keep the list: a page that needs one is broken here."""
    blocked: list[str] = []

    def route(request_route) -> None:
        host = urlsplit(request_route.request.url).hostname
        if request_route.request.url.startswith("data:") or host in ("127.0.0.1", "localhost"):
            request_route.continue_()
        else:
            blocked.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    return blocked


def test_swagger_ui_lists_the_operations_offline(page, web_server):
    blocked = block_the_outside(page)
    page.goto(f"{web_server.url}/docs")
    # The first /openapi.json of a process builds the whole document: seconds on a loaded machine.
    page.locator('.opblock-summary-path[data-path="/api/v5/artifacts/personas/create"]').wait_for(timeout=90_000)
    assert page.locator(".opblock").count() > 100
    assert blocked == []
