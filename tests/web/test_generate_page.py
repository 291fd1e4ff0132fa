"""The editor's Generate button: a person asks the group's generator to draft a step, sees the proposal
in the editor, and accepts it. Against the OpenAI-compatible stub on loopback."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from conftest import Api, make_key
from generation.stub import Stub, make_generator, stub_model_server
from web.conftest import LiveServer, shot
from web.test_browser import sign_in

pytestmark = pytest.mark.sqlite_only


def test_a_person_generates_a_step_and_accepts_the_proposal(
    page: Page, web_server: LiveServer, shared_server: LiveServer, api: Api, db: Any, dialect: str
) -> None:
    admin = Api(api.client, make_key(db, "acme", "generator-admin", "admin"))
    with stub_model_server() as (url, current):
        stub = current[0] = Stub(answer={"name": "Ada", "description": "A patient maths tutor"})
        # The stub is on loopback: allowed as an operator would with LOOMWORK_ALLOW_PRIVATE_URLS=1, both in the
        # app the test's API calls reach and in the server the browser talks to.
        settings = dataclasses.replace(web_server.settings, allow_private_urls=True, generator_retries=0)
        api.client.app.state.settings = shared_server.app.state.settings = settings
        invocation_id = make_generator(admin, url + "/v1")
        assert (
            admin.post("/api/v5/settings/update", {"ai_generator": {"invocation_id": invocation_id}}).status_code == 200
        )

        sign_in(page, web_server, api.key)
        page.get_by_role("link", name="New persona").click()
        expect(page.get_by_role("heading", name="Generate with AI")).to_be_visible()
        page.get_by_label("What should the model draft for this step? (optional)").fill("a maths tutor")
        page.get_by_role("button", name="Generate").click()

        proposals = page.locator("#draft-proposals")
        # The first generation loads the model SDK, which takes seconds on a busy machine.
        expect(proposals).to_contain_text("AI generator", timeout=60_000)
        expect(proposals).to_contain_text("A patient maths tutor")
        assert "a maths tutor" in stub.received[0]["body"]["messages"][-1]["content"]
        shot(page, "editor-generated-proposal")
        proposals.get_by_role("button", name="Accept").click()
        expect(page.locator("#draft-proposals")).to_have_count(0)
        expect(page.locator("#slot-name")).to_contain_text("Ada")
        expect(page.locator("#draft-version")).to_contain_text("Draft version 2")  # the empty start, then the accept
