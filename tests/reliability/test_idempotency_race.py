"""One idempotency key, many identical requests at once, on a running server (issue 9, part 3).

Exactly one entry is written; every other answer is a byte-identical replay of the first, or a 409
while the first is still in flight. The same key with another body is 409 `idempotency_mismatch`.
Both for a patch on an existing draft (which the row lock serialises) and for a patch that starts
a new draft (where there is no draft row to lock yet).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select
from test_crash_recovery import serve

from conftest import assert_error, make_key
from loomwork.engine.models import Draft, DraftEntry

CLIENTS = 50
KEY = "retry-me-7f3a"


def race(url: str, headers: dict[str, str], body: dict) -> list[httpx.Response]:
    """Send the same body from CLIENTS clients at once, each on its own connection."""

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as own:
            return own.patch("/api/v5/artifacts/personas/draft", json=body)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(send, range(CLIENTS)))


def assert_one_write_and_replays(responses: list[httpx.Response]) -> bytes:
    successes = [r for r in responses if r.status_code == 200]
    assert successes, [r.text for r in responses]
    first = successes[0].content
    assert all(r.content == first for r in successes), "every 200 is a byte-identical replay"
    for r in responses:
        if r.status_code != 200:
            assert_error(r, 409, "idempotency_in_flight")
    return first


def entries_with_key(db) -> int:
    with db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(DraftEntry).where(DraftEntry.key == KEY))


@pytest.fixture(params=["one-process", "two-workers"])
def server_url(request: pytest.FixtureRequest, database_url: str, tmp_path) -> Iterator[str]:
    """The app in this process, or `loomwork serve --workers 2`: the locks must hold across processes too."""
    if request.param == "one-process":
        yield request.getfixturevalue("live_server").url
        return
    with serve(database_url, tmp_path / "data", workers=2) as (url, _process):
        yield url


@pytest.mark.parametrize("existing_draft", [True, False], ids=["existing-draft", "new-draft"])
def test_concurrent_identical_patches_write_one_entry(server_url, db, existing_draft):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    body = {"examples": ["written once"], "idempotency_key": KEY}
    if existing_draft:
        with httpx.Client(base_url=server_url, headers=headers) as http:
            start = http.patch("/api/v5/artifacts/personas/draft", json={"name": "Start"})
            body["draft_id"] = start.json()["draft_id"]

    answer = assert_one_write_and_replays(race(server_url, headers, body))

    assert entries_with_key(db) == 1
    with db.transaction(write=False) as session:
        drafts = session.scalars(select(Draft)).all()
    assert len(drafts) == 1, "a retried new-draft patch must not start a second draft"
    assert drafts[0].version == (2 if existing_draft else 1), "the patch applied exactly once"
    assert str(drafts[0].id).encode() in answer


def test_the_same_key_with_another_body_is_an_idempotency_mismatch(live_server, db):
    headers = {"X-Api-Key": make_key(db, "acme", "editor", "editor")}
    with httpx.Client(base_url=live_server.url, headers=headers) as http:
        first = http.patch("/api/v5/artifacts/personas/draft", json={"name": "One", "idempotency_key": KEY})
        assert first.status_code == 200, first.text
        draft_id = first.json()["draft_id"]
        for body in (
            {"name": "Another", "idempotency_key": KEY},
            {"name": "Another", "idempotency_key": KEY, "draft_id": draft_id},
        ):
            assert_error(http.patch("/api/v5/artifacts/personas/draft", json=body), 409, "idempotency_mismatch")
    assert entries_with_key(db) == 1
