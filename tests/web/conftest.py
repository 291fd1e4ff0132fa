"""Browser fixtures: Debian's chromium driven by Playwright for Python (Playwright's own browser
download cannot be fetched here, so `make test` installs the `chromium` package instead).

A missing browser fails the browser tests with the way to fix it; it never skips them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TEST_SECRET, LiveServer, serving
from loomwork.app import create_app
from loomwork.config import Settings
from loomwork.db.database import Database

CHROMIUM = os.environ.get("LOOMWORK_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: run `make test` (it installs Debian's "
            "chromium package), or `apt-get install chromium`, or set LOOMWORK_CHROMIUM.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for every browser test, started once (building the app and starting uvicorn and
    its MCP lifespan cost seconds); `web_server` points it at each test's own database."""
    home = tmp_path_factory.mktemp("web-server")
    settings = Settings(
        database_url=f"sqlite:///{home / 'unused.sqlite3'}", data_dir=home / "data", secret_key=TEST_SECRET
    )
    app = create_app(settings, Database(settings.database_url))
    with serving(app) as url:
        yield LiveServer(url, settings, app)


@pytest.fixture
def web_server(shared_server: LiveServer, settings: Settings, db: Database) -> LiveServer:
    shared_server.app.state.settings, shared_server.app.state.db = settings, db
    return LiveServer(shared_server.url, settings)


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    """A tab that fails the test on any script error (a broken module would otherwise show a blank page)."""
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    assert errors == [], errors


UNLABELLED = """[...document.querySelectorAll('input, select, textarea')]
    .filter((e) => !e.labels?.length && !e.getAttribute('aria-label')).map((e) => e.outerHTML.slice(0, 120))"""


def shot(page, name: str) -> None:
    """A screenshot of the whole page under tests/artifacts/ (ignored by git), for a person to look at;
    every page shot is also checked for form controls without a label."""
    assert page.evaluate(UNLABELLED) == [], f"{name}: controls without a label"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"), full_page=True)
