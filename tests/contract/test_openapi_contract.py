"""Contract fuzzing (issue 9): Schemathesis drives every operation of the OpenAPI document, in process.

Each operation gets a fixed, derandomized budget of generated requests, valid and invalid, sent by an admin
of a fresh database; every default check runs on each answer (no 5xx, status codes, content types, headers
and bodies as documented, invalid data refused, valid data accepted, auth enforced). The database goes back
to its starting rows before every example, so no example sees what an earlier one wrote and a failure
replays the same way. Run alone with `.venv/bin/python -m pytest tests/contract -q`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from sqlalchemy import delete, insert, select

from conftest import make_key
from loomwork.db.all_models import metadata
from loomwork.db.database import Database

# Examples per operation: 163 operations x 2 databases must stay within a few minutes on a 2-core machine.
# `make fuzz` (LOOMWORK_FUZZ=1) runs the coverage phase too, and five times the examples, whatever it costs.
FUZZ = bool(os.environ.get("LOOMWORK_FUZZ"))
MAX_EXAMPLES = 100 if FUZZ else 20

# Not in the document, so not fuzzed: /mcp is the agents' streamable-HTTP transport, mounted beside the
# OpenAPI routes (its JSON-RPC contract is tested in tests/mcp).
#
# positive_data_acceptance is off for two kinds of operation whose refusals the document cannot state, as
# API.md requires them: a draft patch answers schema-valid input with 422 when a rule across fields fails
# (section 4: pending_ids not selected, two flags of one type, a (type, value) no flag has); an import's
# multipart file must be CSV whose first line names the import_fields columns (sections 2 and 5); a new
# profile's role and sponsor depend on its type, and a new key's expiry must lie in the future (section 7); a
# webhook's URL must resolve to a public address (section 10); a persona's try needs a value for each
# {{variable}} its instructions use, and one of persona_id and draft_id (section 15).
SEMANTIC_422_SUFFIXES = ("/draft", "/import", "/profiles/create", "/keys/create", "/webhooks/create", "/personas/try")


class HttpOnly:
    """The shared app's HTTP side. Its lifespan (the MCP session manager, which starts only once) already
    runs under the shared TestClient, so the lifespan Schemathesis sends is answered here."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            await send({"type": f"{message['type']}.complete"})
            if message["type"] == "lifespan.shutdown":
                return


class Baseline:
    """Every row of a fresh database (its group, admin profile, key and seeded catalog), to restore before
    each example: delete everything, insert these back."""

    def __init__(self, db: Database):
        self.db = db
        with db.engine.connect() as conn:
            self.rows = [
                (table, [dict(row._mapping) for row in conn.execute(select(table))]) for table in metadata.sorted_tables
            ]

    def restore(self) -> None:
        with self.db.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(delete(table))
            for table, rows in self.rows:
                if rows:
                    conn.execute(insert(table), rows)


@pytest.fixture
def admin_key(db: Database) -> str:
    return make_key(db, "acme", "contract-admin", "admin")


@pytest.fixture
def baseline(admin_key: str, db: Database) -> Baseline:
    return Baseline(db)


@pytest.fixture
def contract_schema(client, admin_key: str):
    # The change feed's long poll would wait up to 30 s for a change no example makes: a short cap keeps the
    # budget (the wait itself is tested in tests/events).
    client.app.state.settings = replace(client.app.state.settings, changes_max_wait_s=0.05)
    schema = schemathesis.openapi.from_asgi("/openapi.json", HttpOnly(client.app))
    # NUL is refused anywhere in a body (PostgreSQL text cannot hold it: 422 naming the path, see
    # RequestModel), but JSON Schema cannot say "no NUL inside this free-form value", so none is generated.
    schema.config.generation.update(allow_x00=False)
    # The coverage phase's case count grows with each schema's size (about 2,400 for one kind's get) and
    # max_examples does not bound it; the fuzzing phase, valid and invalid data alike, keeps the budget fixed.
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"] if FUZZ else ["examples", "fuzzing"])
    return schema


schema = schemathesis.pytest.from_fixture("contract_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
def test_every_operation_keeps_its_openapi_contract(case, baseline: Baseline, admin_key: str) -> None:
    baseline.restore()
    excluded = [positive_data_acceptance] if case.path.endswith(SEMANTIC_422_SUFFIXES) else []
    # Passed per call (not in the config), so the ignored-auth check knows these are the valid credentials:
    # it removes them, then tries bad ones of each scheme, and expects 401.
    credentials = {"X-Api-Key": admin_key, "Authorization": f"Bearer {admin_key}"}
    case.call_and_validate(headers=credentials, excluded_checks=excluded)


def test_every_authenticated_operation_documents_each_error_with_the_error_body(client) -> None:
    document = client.get("/openapi.json").json()
    operations = [(path, operation) for path, item in document["paths"].items() for operation in item.values()]
    secured = [(path, operation) for path, operation in operations if operation.get("security")]

    assert len(secured) == len(operations) - 2  # all but /healthz and /readyz
    for path, operation in secured:
        for status in ("401", "403", "404", "409", "413", "422"):
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["detail", "code"]
