"""`make screenshots`: a PNG of every page, with the demo data of `loomwork seed-demo`, in docs/screenshots/.

It seeds a throwaway SQLite database, makes an admin key for the demo group with `loomwork keys create`,
serves it with `loomwork serve`, adds what seed-demo does not make (a persona written by hand with {{variables}},
an edit, agents' proposals), then signs in as that admin in Debian's chromium and photographs each page
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

from conftest import serve_process

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("LOOMWORK_CHROMIUM", "/usr/bin/chromium")
MAX_HEIGHT = 1800  # a long page is cut here: enough to read, small enough to keep in git
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><rect x="3" y="3" width="18" height="18" '
    'rx="4" fill="#2456c9"/><path d="M7 16l3-8 2 5 2-3 3 6z" fill="#fff"/></svg>'
)


class Demo:
    """The demo server's API, as its admin (`agent=True` speaks as an AI agent over X-MCP)."""

    def __init__(self, url: str, key: str):
        self.http = httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=60)

    def op(self, plural: str, operation: str, body: dict, method: str = "POST", agent: bool = False) -> dict:
        response = self.http.request(
            method,
            f"/api/v5/artifacts/{plural}/{operation}",
            json=body,
            headers={"X-MCP": "screenshots"} if agent else {},
        )
        response.raise_for_status()
        return response.json()

    def first_id(self, plural: str) -> str:
        kind = plural[:-1]
        return self.op(plural, "search", {"page_size": 1})[plural][0][f"{kind}_id"]


def add_activity(demo: Demo) -> dict[str, str]:
    """What seed-demo leaves out: a persona a person wrote, a change to it, and proposals from agents."""
    draft = demo.op(
        "personas",
        "draft",
        {
            "name": "Museum guide",
            "description": "Greets visitors and walks them through the collection.",
            "color": "#2456c9",
            "icon": ICON,
            "active": True,
            "instructions": "Welcome visitors to {{museum}}. Answer in {{language}}, in two or three sentences, and "
            "suggest one room to see next.",
            "examples": ["Where are the Impressionists?", "Is there a café on this floor?"],
            "departments": ["Visitor services", "Education"],
            "parameter_fields": ["museum", "language"],
            "voices": ["Warm", "Concise"],
            "scenarios": ["A school group arrives early"],
        },
        "PATCH",
    )
    persona = demo.op("personas", "create", {"personas": [{"draft_id": draft["draft_id"]}]})["results"][0]
    persona_id = persona["persona_id"]
    edit = demo.op("personas", "draft", {"persona_id": persona_id, "voices": ["Patient"]}, "PATCH")
    demo.op("personas", "update", {"personas": [{"persona_id": persona_id, "draft_id": edit["draft_id"]}]})
    # Agents propose; nothing changes until a person accepts (the Proposals page).
    demo.op(
        "personas",
        "draft",
        {
            "persona_id": persona_id,
            "description": "Greets visitors, walks them through "
            "the collection and answers questions about opening hours.",
        },
        "PATCH",
        agent=True,
    )
    tool_id = demo.first_id("tools")
    demo.op("tools", "draft", {"tool_id": tool_id, "departments": ["Research"]}, "PATCH", agent=True)
    ids = {
        "persona": persona_id,
        "tool": tool_id,
        "eval": demo.first_id("evals"),
        "invocation": demo.first_id("invocations"),
    }
    for kind, artifact_id in list(ids.items()):  # an edit draft per kind, for the editor's pages
        ids[f"{kind}_draft"] = demo.op(f"{kind}s", "draft", {f"{kind}_id": artifact_id}, "PATCH")["draft_id"]
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
        visit(page, f"{url}/#/k/personas/history/{ids['persona']}", "History")
        snap(page, "persona-history")
        visit(page, f"{url}/#/keys", "Keys")
        snap(page, "keys")
        visit(page, f"{url}/#/webhooks", "Webhooks")
        snap(page, "webhooks")
        page.set_viewport_size({"width": 390, "height": 844})
        visit(page, f"{url}/#/k/personas", "Personas")
        snap(page, "phone-personas-list")
        visit(page, f"{url}/#/k/personas/view/{ids['persona']}")
        snap(page, "phone-persona-page")
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="loomwork-screenshots-") as home:
        env = {**os.environ, "LOOMWORK_DATA_DIR": home, "LOOMWORK_DATABASE_URL": f"sqlite:///{home}/demo.sqlite3"}
        env.pop("LOOMWORK_SECRET_KEY", None)
        loomwork = str(BIN / "loomwork")
        subprocess.run(
            [loomwork, "seed-demo", "--personas", "60", "--tools", "20", "--evals", "20", "--invocations", "20"],
            env=env,
            check=True,
        )
        made = subprocess.run(
            [loomwork, "keys", "create", "--group", "default", "--name", "Ada Admin", "--role", "admin"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = made.stdout.strip().splitlines()[-1]
        with serve_process([], env) as (url, _server):
            ids = add_activity(Demo(url, key))
            photograph(url, key, ids)


if __name__ == "__main__":
    main()
