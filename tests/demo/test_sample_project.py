"""The sample project of `loomwork seed-demo` (loomwork/sample.py), read back through the API as the pages do.

Rules: it fills every kind; a persona's `{{variables}}` are its parameter fields; a tool's arguments come
out as a JSON Schema with required fields; an eval's model flags, positions and rubrics belong to the models
it compares, and it has a judge; an invocation has an endpoint, a primary model and a temperature a model
accepts; some versions carry `production` and `staging`, some artifacts have a history with messages; one
AI agent's proposal waits for review; loading it again changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import make_key
from loomwork import sample
from loomwork.resources import secrets

KINDS = ("personas", "tools", "evals", "invocations")


@pytest.fixture
def loaded(db, settings, client) -> dict[str, Any]:
    secrets.configure(settings.keyring)  # the invocations' provider keys are encrypted under it
    first = sample.load(db, "default")
    key = make_key(db, "default", "reader", "admin")
    return {"first": first, "key": key, "client": client}


def _resolve_all(loaded: dict[str, Any], plural: str, label: str = "latest") -> dict[str, dict[str, Any]]:
    client, headers = loaded["client"], {"X-Api-Key": loaded["key"]}
    found = client.post(f"/api/v5/artifacts/{plural}/search", json={"page_size": 100}, headers=headers).json()
    configs = {}
    for row in found[plural]:
        response = client.get(f"/api/v5/resolve/{plural}/{row[f'{plural[:-1]}_id']}?label={label}", headers=headers)
        if response.status_code == 200:
            configs[row["name"]] = response.json()
    return configs


def test_the_sample_fills_every_kind_and_loading_it_again_changes_nothing(loaded, db, dialect) -> None:
    assert loaded["first"].counts == {"persona": 12, "tool": 6, "eval": 4, "invocation": 4}
    again = sample.load(db, "default")
    assert again.already_there and again.counts == {}
    for plural in KINDS:
        assert len(_resolve_all(loaded, plural)) == {"personas": 12, "tools": 6, "evals": 4, "invocations": 4}[plural]


def test_every_persona_uses_its_parameter_fields_as_variables_and_has_examples(loaded, dialect) -> None:
    for name, answer in _resolve_all(loaded, "personas").items():
        config = answer["config"]
        assert config["variables"], name
        assert set(config["variables"]) == set(config["parameter_fields"]), name
        assert config["examples"] and config["departments"] and config["voices"], name


def test_every_tool_has_an_arguments_schema_with_required_arguments(loaded, dialect) -> None:
    for name, answer in _resolve_all(loaded, "tools").items():
        parameters = answer["config"]["function"]["parameters"]
        assert parameters["properties"] and parameters["required"], name
        assert set(parameters["required"]) <= set(parameters["properties"]), name
        assert all(p["description"] for p in parameters["properties"].values()), name


def test_every_eval_flags_positions_and_judges_only_the_models_it_compares(loaded, dialect) -> None:
    for name, answer in _resolve_all(loaded, "evals").items():
        models = answer["config"]["models"]
        assert len(models) >= 2, name
        roles = [model["flags"].get("eval_role") for model in models]
        assert None not in roles and roles.count("judge") == 1, (name, roles)  # every model has a role
        assert all(model["position"] and model["rubric"] for model in models), (name, models)


def test_every_invocation_calls_a_primary_model_at_an_endpoint_with_a_usable_temperature(loaded, dialect) -> None:
    for name, answer in _resolve_all(loaded, "invocations").items():
        config = answer["config"]
        assert config["endpoint"].startswith(("https://", "http://localhost")), name
        assert 0 <= float(config["temperature_level"]) <= 2, name
        roles = [model["flags"].get("invocation_role") for model in config["models"]]
        assert roles.count("primary") == 1 and None not in roles, (name, roles)
        assert config["key"]["secret"].startswith("****"), name  # stored encrypted, shown masked


def test_labels_history_and_one_waiting_agent_proposal(loaded, dialect) -> None:
    production = _resolve_all(loaded, "personas", "production")
    staging = _resolve_all(loaded, "personas", "staging")
    assert production["Order tracker"]["version"] == 1 and staging["Order tracker"]["version"] == 2
    assert production["Order tracker"]["config"]["voices"] != staging["Order tracker"]["config"]["voices"]
    assert "staging" in _resolve_all(loaded, "invocations", "staging")["Support replies (production)"]["label"]

    client, headers = loaded["client"], {"X-Api-Key": loaded["key"]}
    tracker = production["Order tracker"]["persona_id"]
    history = client.post("/api/v5/artifacts/personas/history", json={"persona_id": tracker}, headers=headers)
    versions = history.json()["revisions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["message"] and versions[0]["author"]["name"] == sample.EDITOR

    waiting = client.post("/api/v5/proposals/search", json={"status": "waiting"}, headers=headers).json()
    assert waiting["total_count"] == 1
    (proposal,) = waiting["proposals"]
    assert proposal["proposer"]["type"] == "agent" and proposal["artifact_name"] == "Front desk"
