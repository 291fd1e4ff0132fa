"""Stateful contract fuzzing (issue 21): Schemathesis chains operations along the OpenAPI links the app
declares (loomwork/openapi_links.py): create, then get, update, draft, duplicate, export and delete the
artifact or resource the create made, checking every answer against the document as it goes.

`make test` runs a few short scenarios; `make fuzz` (LOOMWORK_FUZZ=1) runs many longer ones.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from test_openapi_contract import SEMANTIC_422_SUFFIXES, HttpOnly, admin_key, baseline  # noqa: F401 - fixtures

FUZZ = bool(os.environ.get("LOOMWORK_FUZZ"))
SCENARIOS, STEPS = (200, 10) if FUZZ else (2, 3)


def test_the_document_links_each_create_to_the_operations_that_take_what_it_made(client) -> None:
    document = client.get("/openapi.json").json()
    links = {
        operation["operationId"]: operation["responses"]["200"].get("links", {})
        for item in document["paths"].values()
        for operation in item.values()
    }
    assert {link["operationId"] for link in links["create_persona"].values()} == {
        "get_persona",
        "update_persona",
        "draft_persona",
        "duplicate_persona",
        "export_persona",
        "delete_persona",
    }
    assert links["create_persona"]["DeleteCreated"]["requestBody"] == {
        "persona_ids": ["$response.body#/results/0/persona_id"]
    }
    assert {link["operationId"] for link in links["create_key_resources"].values()} == {
        "get_key_resources",
        "delete_key_resources",
    }
    targets = {link["operationId"] for operation_links in links.values() for link in operation_links.values()}
    assert targets <= set(links)  # every link names an operation that exists


def test_chains_of_operations_along_the_links_keep_the_contract(client, admin_key, baseline) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", HttpOnly(client.app))
    schema.config.generation.update(allow_x00=False)
    credentials = {"X-Api-Key": admin_key}

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            baseline.restore()

        def get_call_kwargs(self, case):
            return {"headers": credentials}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            excluded = [positive_data_acceptance] if case.path.endswith(SEMANTIC_422_SUFFIXES) else []
            case.validate_response(
                response, additional_checks=additional_checks, excluded_checks=excluded, transport_kwargs=kwargs or None
            )

    Scenario.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
