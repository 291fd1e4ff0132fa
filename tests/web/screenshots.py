"""`make screenshots`: a PNG of every page, with the sample project of `loomwork seed-demo`, in docs/screenshots/.

It loads the sample project into a throwaway SQLite database (which also makes the admin key), serves it with
`loomwork serve`, adds one more agent's proposal and an edit draft per kind, then signs in as that admin in Debian's chromium and photographs each page
at 1280x900, plus the list and an artifact page at 390 px (a phone). The README shows two of them.
The server starts through the tests' one launcher (conftest.serve_process): `make screenshots` puts tests/
on the path.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

# The tests' conftest, not tests/web's: this script's own folder comes first on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import serve_process

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("LOOMWORK_CHROMIUM", "/usr/bin/chromium")
MAX_HEIGHT = 1800  # a long page is cut here: enough to read, small enough to keep in git


class Demo:
    """The demo server's API, as its admin (`agent=True` speaks with an AI agent's own key)."""

    def __init__(self, url: str, key: str, agent_key: str):
        self.http = httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=60)
        self.agent_key = agent_key

    def op(self, plural: str, operation: str, body: dict, method: str = "POST", agent: bool = False) -> dict:
        response = self.http.request(
            method,
            f"/api/v5/artifacts/{plural}/{operation}",
            json=body,
            headers={"X-Api-Key": self.agent_key} if agent else {},
        )
        response.raise_for_status()
        return response.json()


def by_name(demo: Demo, plural: str, name: str) -> str:
    kind = plural[:-1]
    found = demo.op(plural, "search", {"search": name, "page_size": 10})[plural]
    return next(row[f"{kind}_id"] for row in found if row["name"] == name)


def add_activity(demo: Demo) -> dict[str, str]:
    """The sample project's artifacts to photograph, one more agent's proposal, and an edit draft per kind."""
    tool_id = by_name(demo, "tools", "Look up an order")
    # A second proposal, of another kind, beside the sample's own (nothing changes until a person accepts).
    demo.op(
        "tools",
        "draft",
        {
            "tool_id": tool_id,
            "instructions": [
                "Call this before saying anything about an order's status.",
                "Never read out the customer's full address.",
            ],
        },
        "PATCH",
        agent=True,
    )
    ids = {
        "persona": by_name(demo, "personas", "Front desk"),
        "persona_history": by_name(demo, "personas", "Order tracker"),
        "tool": tool_id,
        "eval": by_name(demo, "evals", "Order status answers"),
        "invocation": by_name(demo, "invocations", "Support replies (production)"),
    }
    for kind in ("persona", "tool", "eval", "invocation"):  # an edit draft per kind, for the editor's pages
        ids[f"{kind}_draft"] = demo.op(f"{kind}s", "draft", {f"{kind}_id": ids[kind]}, "PATCH")["draft_id"]
    return ids


def snap(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.activeElement?.blur()")
    height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
    width = page.viewport_size["width"]
    path = OUT / f"{name}.png"
    png = page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
    # A flat interface needs few colours: a 128-colour palette keeps it crisp at a fraction of the size.
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)
    print(f"wrote {path}")


def visit(page: Page, url: str, heading: str | None = None) -> None:
    # Only the hash changes, so the page stays: clear it first, to wait for the new page, not see the old one.
    page.evaluate("document.getElementById('main')?.replaceChildren()")
    if page.url == url:
        page.reload()
    else:
        page.goto(url)
    expect(page.locator("main h1")).to_be_visible()
    if heading:
        expect(page.locator("main h1")).to_contain_text(heading)


def photograph(url: str, key: str, ids: dict[str, str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("pageerror", lambda error: print(f"page error: {error}", file=sys.stderr))
        # A 404 from a route another branch adds is expected (its section stays hidden): not worth a line.
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and "Failed to load resource" not in message.text
                and print(message.text, file=sys.stderr)
            ),
        )
        page.goto(f"{url}/")
        expect(page.get_by_label("API key")).to_be_visible()
        snap(page, "sign-in")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Personas", exact=True)).to_be_visible()
        for kind in ("persona", "tool", "eval", "invocation"):
            visit(page, f"{url}/#/k/{kind}s", f"{kind.capitalize()}s")
            snap(page, f"{kind}s-list")
            if kind == "persona":  # filtered by a facet: its chip and "Clear filters"
                page.locator("aside input[type=checkbox]").first.check()
                expect(page.locator("#active-filters")).to_be_visible()
                snap(page, "personas-list-filtered")
            visit(page, f"{url}/#/k/{kind}s/view/{ids[kind]}")
            snap(page, f"{kind}-page")
            kind_info = page.evaluate(
                f"fetch('/web/kinds').then(r => r.json()).then(ks => ks.find(k => k.name === "
                f"'{kind}').steps.map(s => s.key))"
            )
            for step in kind_info:
                visit(page, f"{url}/#/k/{kind}s/draft/{ids[f'{kind}_draft']}?step={step}")
                snap(page, f"{kind}-editor-{step.replace('_step', '')}")
            visit(page, f"{url}/#/k/{kind}s/docs", "docs")
            snap(page, f"{kind}s-docs")
        visit(page, f"{url}/#/proposals", "Review queue")
        expect(page.locator("article.proposal").first).to_be_visible()
        snap(page, "proposals")
        visit(page, f"{url}/#/k/personas/history/{ids['persona_history']}", "History")
        snap(page, "persona-history")
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.locator("#diff-result")).to_be_visible()
        snap(page, "persona-history-compare")
        page.get_by_role("button", name="Move label").click()  # production, from version 1 to the latest
        expect(page.get_by_role("dialog")).to_be_visible()
        snap(page, "persona-history-label-confirm")
        page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
        visit(page, f"{url}/#/keys", "Keys")
        snap(page, "keys")
        visit(page, f"{url}/#/webhooks", "Webhooks")
        snap(page, "webhooks")
        page.set_viewport_size({"width": 390, "height": 844})
        visit(page, f"{url}/#/k/personas", "Personas")
        snap(page, "phone-personas-list")
        visit(page, f"{url}/#/k/personas/view/{ids['persona']}")
        snap(page, "phone-persona-page")
        visit(page, f"{url}/#/proposals", "Review queue")
        expect(page.locator("article.proposal").first).to_be_visible()
        snap(page, "phone-proposals")
        visit(page, f"{url}/#/k/personas/history/{ids['persona_history']}", "History")
        snap(page, "phone-persona-history")
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="loomwork-screenshots-") as home:
        env = {**os.environ, "LOOMWORK_DATA_DIR": home, "LOOMWORK_DATABASE_URL": f"sqlite:///{home}/demo.sqlite3"}
        env.pop("LOOMWORK_SECRET_KEY", None)
        loomwork = str(BIN / "loomwork")
        # The sample project, as a reader loads it; on an empty database it also makes the admin key.
        subprocess.run([loomwork, "seed-demo"], env=env, check=True)
        key = (Path(home) / "admin.key").read_text().strip()
        # A second agent, as a reader would make one, for a proposal of another kind.
        agent = [loomwork, "keys", "create", "--group", "default", "--name", "Help-centre assistant", "--role"]
        made = subprocess.run(
            [*agent, "editor", "--agent", "--sponsor", "Ada Okafor"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        agent_key = made.stdout.strip().splitlines()[-1]
        with serve_process([], env) as (url, _server):
            ids = add_activity(Demo(url, key, agent_key))
            photograph(url, key, ids)


if __name__ == "__main__":
    main()
