"""Slow generations stall nobody (issue 28, finding 7): a generation awaits its model call on the event loop,
so sixty waiting on a slow endpoint hold none of the threads that serve other requests. The timing assertion
is asked for explicitly by the issue; it is generous (a second, where an answer takes milliseconds)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import time

import httpx

from conftest import TEST_SECRET, serve_process
from generation.stub import Stub, make_generator, stub_model_server

WAITING = 60


def test_sixty_slow_generations_leave_other_groups_search_and_create_fast(
    settings, db, client, make_api, tmp_path
) -> None:
    """`loomwork serve` in a process of its own; the stub model server answers only when the test is done."""
    client.app.state.settings = dataclasses.replace(settings, allow_private_urls=True)  # for the set-up below
    admin, editor, other = make_api("admin"), make_api("editor"), make_api("editor", group="other")
    env = {
        **os.environ,
        "LOOMWORK_SECRET_KEY": TEST_SECRET.decode(),
        "LOOMWORK_DATA_DIR": str(tmp_path),
        "LOOMWORK_ALLOW_PRIVATE_URLS": "1",
        "LOOMWORK_DELIVERY_WORKER": "0",
        "LOOMWORK_GENERATOR_TIMEOUT_S": "120",
        "LOOMWORK_MAX_GENERATIONS": str(WAITING + 4),
        "LOOMWORK_MAX_GENERATIONS_PER_GROUP": str(WAITING),
    }
    with stub_model_server() as (stub_url, current):
        slow = current[0] = Stub(answer={"name": "Ada"}, delay_s=120.0)
        invocation_id = make_generator(admin, stub_url + "/v1")
        configured = admin.post("/api/v5/settings/update", {"ai_generator": {"invocation_id": invocation_id}})
        assert configured.status_code == 200, configured.text
        with serve_process(["--database-url", settings.database_url], env) as (url, _server):

            def generate(_: int) -> int:
                with httpx.Client(base_url=url, headers=editor.headers, timeout=180) as http:
                    return http.post("/api/v5/artifacts/personas/generate", json={"step": "basic"}).status_code

            with concurrent.futures.ThreadPoolExecutor(WAITING) as pool:
                answers = pool.map(generate, range(WAITING))
                deadline = time.monotonic() + 15  # all sixty reach the model, or as many as threads serve
                while len(slow.received) < WAITING and time.monotonic() < deadline:
                    time.sleep(0.05)
                try:
                    with httpx.Client(base_url=url, headers=other.headers, timeout=180) as http:
                        started = time.monotonic()
                        searched = http.post("/api/v5/artifacts/personas/search", json={})
                        search_s = time.monotonic() - started
                        started = time.monotonic()
                        made = http.post("/api/v5/artifacts/personas/create", json={"personas": [{"name": "Grace"}]})
                        create_s = time.monotonic() - started
                    waiting = len(slow.received)
                finally:
                    slow.release.set()  # the model answers every generation now
                statuses = list(answers)

    assert searched.status_code == 200 and made.status_code == 200, (searched.text, made.text)
    assert search_s < 1.0 and create_s < 1.0, (search_s, create_s)
    assert waiting == WAITING  # every generation was waiting on the model meanwhile
    assert statuses == [200] * WAITING
