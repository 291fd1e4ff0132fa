"""CSV export, download and import (API.md sections 2 and 5), through HTTP and the CLI.

The rules are the engine's (engine/transfer.py), the same for every kind; they run through the persona kind,
so the columns here are the persona's. test_kind_generic.py round-trips every kind, test_export_snapshot.py
checks that an export reads one moment's data while writers carry on.

Every test names the rule it checks and runs on SQLite and PostgreSQL (through
the `api` / `make_api` fixtures, which take `dialect`); the CLI test runs on a
SQLite file only. The format: one row per artifact, the columns `import_fields`
names, RFC 4180 quoting, multiple values joined with "; " (a "\\" or ";" inside a
value escaped by a backslash), flags as `type=value`, and a cell a spreadsheet
would run (=, +, -, @, tab, CR, LF) or one starting with "'" prefixed with "'".
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import assert_error

KIND = "personas"
COLUMNS = [
    "persona_id",
    "name",
    "description",
    "color",
    "icon",
    "instructions",
    "flags",
    "examples",
    "departments",
    "parameter_fields",
    "voices",
    "scenarios",
    "labels",
]
SECTIONS = [
    "names",
    "descriptions",
    "colors",
    "icons",
    "instructions",
    "flags",
    "examples",
    "departments",
    "parameter_fields",
    "voices",
    "scenarios",
]
SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="{r}" fill="#0f0" /></svg>'


# --- helpers -----------------------------------------------------------------------------------------------


def create_all(api, items: list[dict[str, Any]]) -> list[str]:
    results = api.ok(KIND, "create", {KIND: items})["results"]
    assert all(r["success"] for r in results), results
    return [r["persona_id"] for r in results]


def update(api, persona_id: str, **fields: Any) -> dict[str, Any]:
    (result,) = api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, **fields}]})["results"]
    assert result["success"], result
    return result


def download(api, upload_id: str):
    return api.client.get(f"/api/v5/uploads/{upload_id}", headers=api.headers)


def export_text(api, **body: Any) -> tuple[dict[str, Any], str]:
    """Export with these filters; returns the export answer and the downloaded CSV text."""
    answer = api.ok(KIND, "export", body)
    response = download(api, answer["upload_id"])
    assert response.status_code == 200, response.text
    return answer, response.content.decode("utf-8")


def parse(text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == COLUMNS, rows[0]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def exported(api, **body: Any) -> list[dict[str, str]]:
    """The exported rows as dicts column -> raw cell."""
    answer, text = export_text(api, **body)
    rows = parse(text)
    assert answer["row_count"] == len(rows)
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def without_ids(text: str) -> bytes:
    """The same CSV with the persona_id column dropped, so every row creates a new persona."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return to_csv([row[1:] for row in rows])


def import_file(api, data: bytes, file_name: str = "personas.csv"):
    return api.client.post(
        f"/api/v5/artifacts/{KIND}/import", headers=api.headers, files={"file": (file_name, data, "text/csv")}
    )


def import_ok(api, data: bytes) -> dict[str, Any]:
    response = import_file(api, data)
    assert response.status_code == 200, response.text
    return response.json()


def form(api, persona_id: str) -> dict[str, Any]:
    """What a persona holds, as get shows it: each section's selected values in order, and active."""
    shown = api.ok(KIND, "get", {"persona_id": persona_id})
    held = {s: [o["value"] for o in shown[s]["options"] if o["selected"]] for s in SECTIONS}
    assert all(len(held[s]) == len(shown[s]["selected_ids"]) for s in SECTIONS), "a selection was cut"
    return {**held, "active": shown["active"], "pending_ids": shown["pending_ids"]}


def persona_names(api) -> list[str]:
    return sorted(p["name"] for p in api.ok(KIND, "search", {"page_size": 200})[KIND])


def name_resources(api, needle: str) -> list[str]:
    return [o["value"] for o in api.ok(KIND, "get", {"names_search": needle})["names"]["options"]]


def tricky_personas() -> list[dict[str, Any]]:
    """Ten personas using every slot, with text that needs quoting, escaping or neutralising."""
    items: list[dict[str, Any]] = [
        {
            "name": 'Smith, "Jr."',
            "description": "Line one\nLine two, with a comma",
            "color": "#abc",
            "icon": SVG.format(r=1),
            "instructions": 'Greet {{customer}}; say "hi"\r\nthen C:\\path\\',
            "flags": [{"type": "tier", "value": "gold=1; x\\y"}],
            "examples": ["Hello, world", "Semi; colon", "Back\\slash", "=formula", "tail\\"],
            "departments": ["Sales", "R&D", "Équipe ☃"],
            "parameter_fields": ["customer", "order_id"],
            "voices": ["Alto"],
            "scenarios": ['Refund "fast"', "Upgrade"],
        },
        {
            "name": "=SUM(A1:A9)",
            "description": "+1 555 0100",
            "instructions": "-rm everything",
            "active": False,
            "examples": ["@mention", "plain"],
            "departments": ["'quoted", "a=b"],
            "voices": ["-low", "+high"],
            "scenarios": ["@start"],
            "color": "#12345678",
        },
        {
            "name": "'Apostrophe first",
            "description": "'twice quoted'",
            "departments": ["Upgrade", "Sales"],
            "scenarios": ["Upgrade", 'Refund "fast"'],
            "parameter_fields": ["order_id", "customer"],
        },
        {"name": "Only a name"},
        {"name": "Multi\nline\nname?", "examples": ["a;b;c", "; leading", "trailing ;", "\\;"]},
        {
            "name": "Unicode ✓ 日本語",
            "description": "Ünïcödé — “quotes” ‘single’",
            "active": True,
            "voices": ["Sopran ♪"],
            "icon": SVG.format(r=2),
        },
        {"name": "Commas, commas, commas", "departments": [f"Dept {i}" for i in range(5)], "color": "#ABCDEF"},
        {
            "name": "Backslash \\ in the middle",
            "instructions": "Use \\n literally; then {{order_id}}",
            "parameter_fields": ["order_id"],
        },
        {"name": 'Quote " only', "description": '"', "examples": ['"', '""']},
        {
            "name": "Last one",
            "flags": [{"type": "tier", "value": "silver"}],
            "scenarios": ['Refund "fast"'],
            "voices": ["Alto", "Sopran ♪"],
        },
    ]
    return items


def create_tricky(api, count: int = 10) -> list[str]:
    """The tricky personas; the two with a tier flag get `active` by a later update, so a version > 1 and
    flags set in two steps are part of what the round trip must reproduce."""
    ids = create_all(api, tricky_personas()[:count])
    for index, active in ((0, True), (9, False)):
        if index < count:
            update(api, ids[index], active=active)
            flags = form(api, ids[index])["flags"]
            assert len(flags) == 2 and flags[0]["type"] == "tier", flags
    return ids


# --- export and download -----------------------------------------------------------------------------------


def test_export_answers_an_upload_its_group_can_download_as_csv(api, make_api):
    create_all(api, [{"name": "Ada"}, {"name": "Bob"}])

    answer = make_api("viewer").ok(KIND, "export", {})  # a viewer may export

    assert set(answer) >= {"upload_id", "file_name", "row_count"}
    uuid.UUID(answer["upload_id"])
    assert answer["file_name"].endswith(".csv") and answer["row_count"] == 2
    response = download(make_api("viewer"), answer["upload_id"])  # any profile of the group
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert sorted(r["name"] for r in parse(response.content.decode("utf-8"))) == ["Ada", "Bob"]


def test_an_upload_is_404_for_another_group_and_an_unknown_id_and_401_without_a_key(api, make_api):
    api.create(KIND, name="Ada")
    upload_id = api.ok(KIND, "export", {})["upload_id"]

    assert_error(download(make_api("admin", "other"), upload_id), 404)
    assert_error(download(api, str(uuid.uuid4())), 404)
    assert_error(api.client.get(f"/api/v5/uploads/{upload_id}"), 401)
    assert_error(api.client.get(f"/api/v5/uploads/{upload_id}", headers={"X-Api-Key": "lw_bad_key"}), 401)
    assert download(api, upload_id).status_code == 200


def test_export_uses_the_search_filters_and_an_artifact_id_exports_one(api, make_api):
    ada, grace, bob = create_all(
        api,
        [
            {"name": "Ada Lovelace", "departments": ["Sales"], "scenarios": ["Refund"], "parameter_fields": ["x"]},
            {"name": "Grace Hopper", "departments": ["Ops"], "scenarios": ["Refund"]},
            {"name": "Bob Ada", "departments": ["Sales"], "scenarios": ["Upgrade"]},
        ],
    )
    get = api.ok(KIND, "get", {"persona_id": ada})
    sales = get["departments"]["selected_ids"][0]
    refund = get["scenarios"]["selected_ids"][0]
    field = get["parameter_fields"]["selected_ids"][0]

    def ids(**body: Any) -> set[str]:
        return {r["persona_id"] for r in exported(api, **body)}

    assert ids() == {ada, grace, bob}
    assert ids(search="ada") == {ada, bob}
    assert ids(search="ada lovelace") == {ada}
    assert ids(filter_department_ids=[sales]) == {ada, bob}
    assert ids(scenario_ids=[refund]) == {ada, grace}
    assert ids(filter_department_ids=[sales], scenario_ids=[refund]) == {ada}
    assert ids(field_ids=[field]) == {ada}
    assert ids(search="nobody") == set()
    assert ids(persona_id=grace) == {grace}
    searched = api.ok(KIND, "search", {"search": "ada"})[KIND]
    assert [r["persona_id"] for r in exported(api, search="ada")] == [p["persona_id"] for p in searched]

    assert_error(api.op(KIND, "export", {"persona_id": str(uuid.uuid4())}), 404)
    foreign = make_api("editor", "other").create(KIND, name="Elsewhere")
    assert_error(api.op(KIND, "export", {"persona_id": foreign}), 404)
    assert foreign not in ids()


def test_an_export_read_in_many_chunks_equals_one_read_in_a_single_chunk(api, monkeypatch):
    """Large exports read the artifacts a chunk at a time and the catalog in one pass; small ones look up
    only the resources they need. Both paths must write the same file, with every list in order."""
    from loomwork.engine import transfer

    create_tricky(api)
    departments = [f"Dept {n}" for n in (12, 3, 11, 1, 10, 2, 9, 4, 8, 5, 7, 6)]  # positions 0..11, not sorted
    create_all(api, [{"name": "Many departments", "departments": departments}])
    _answer, single_chunk = export_text(api)
    monkeypatch.setattr(transfer, "CHUNK", 3)
    _answer, many_chunks = export_text(api)

    assert many_chunks.splitlines()[1:] == single_chunk.splitlines()[1:]
    rows = list(csv.DictReader(io.StringIO(single_chunk, newline="")))
    assert len(rows) == 11
    assert next(r for r in rows if r["name"] == "Many departments")["departments"] == "; ".join(departments)
    ordered = next(r for r in rows if r["parameter_fields"] == "order_id; customer")  # kept in its given order
    assert ordered["scenarios"] == 'Upgrade; Refund "fast"'


def test_export_leaves_out_pending_connections(api):
    persona_id = api.create(KIND, name="Ada", description="Secret plan", departments=["Sales", "Hidden"])
    shown = api.ok(KIND, "get", {"persona_id": persona_id})
    hidden = shown["departments"]["selected_ids"][1]
    update(api, persona_id, pending_ids=[hidden, shown["descriptions"]["selected_ids"][0]])

    (row,) = exported(api)

    assert row["departments"] == "Sales"
    assert row["description"] == ""
    assert row["name"] == "Ada"


# --- the format --------------------------------------------------------------------------------------------


def test_csv_quotes_commas_quotes_and_newlines_rfc_4180(api):
    persona_id = api.create(
        KIND,
        name='Smith, "Jr."',
        description="Line one\nLine two, with a comma",
        instructions='Say "hi"\r\nthen leave',
        examples=["a, b", 'c "d"'],
    )

    _answer, text = export_text(api)
    (row,) = parse(text)

    assert row["persona_id"] == persona_id
    assert row["name"] == 'Smith, "Jr."'
    assert row["description"] == "Line one\nLine two, with a comma"
    assert row["instructions"] == 'Say "hi"\r\nthen leave'
    assert row["examples"] == 'a, b; c "d"'
    assert '"Smith, ""Jr."""' in text  # quoted, inner quotes doubled
    assert text.count("\r\n") >= 2  # records end with CRLF


def test_multiple_values_are_joined_with_semicolons_and_escaped(api):
    persona_id = api.create(
        KIND,
        name="Ada",
        departments=["Sales; EU", "R\\D", "plain"],
        voices=["one"],
        flags=[{"type": "tier", "value": "gold"}],
    )
    update(api, persona_id, active=True)

    (row,) = exported(api)

    assert row["departments"] == "Sales\\; EU; R\\\\D; plain"
    assert row["voices"] == "one"
    assert row["flags"] == "tier=gold; persona_active=true"
    assert row["examples"] == "" and row["scenarios"] == ""


def test_values_with_separators_and_backslashes_round_trip(api):
    original = api.create(
        KIND,
        name="Ada",
        departments=["Sales; EU", "R\\D", "a;b;c", "end\\", "\\;", "x"],
        examples=["; leading", "trailing ;", "both\\;"],
        description="C:\\temp; done",
    )
    _answer, text = export_text(api)

    result = import_ok(api, without_ids(text))

    assert result["created"] == 1 and result["failed"] == 0, result
    copy = result["results"][0]["id"]
    assert copy != original
    assert form(api, copy) == form(api, original)


def test_formula_cells_are_neutralised_and_import_restores_them(api):
    original = api.create(
        KIND,
        name="=SUM(A1:A9)",
        description="+1 555",
        instructions="-rm everything",
        examples=["@mention", "plain"],
        departments=["'quoted", "a=b"],
        voices=["Voice=1"],
        scenarios=["-start", "+plus"],
        parameter_fields=["@field"],
    )
    _answer, text = export_text(api)
    (row,) = parse(text)

    assert row["name"] == "'=SUM(A1:A9)"
    assert row["description"] == "'+1 555"
    assert row["instructions"] == "'-rm everything"
    assert row["examples"] == "'@mention; plain"
    assert row["departments"] == "''quoted; a=b"  # a leading ' is itself protected, so import can undo it
    assert row["voices"] == "Voice=1"  # only the first character of a cell matters
    assert row["scenarios"] == "'-start; +plus"
    assert row["parameter_fields"] == "'@field"
    for cell in row.values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n")), cell

    result = import_ok(api, without_ids(text))

    assert result["created"] == 1 and result["failed"] == 0, result
    assert form(api, result["results"][0]["id"]) == form(api, original)


def test_import_removes_exactly_one_leading_apostrophe(api):
    data = to_csv([["name", "description", "examples"], ["'=1+1", "''kept one", "'@a; 'b"], ["plain", "'", ""]])

    result = import_ok(api, data)

    assert result["created"] == 2 and result["failed"] == 0, result
    first = form(api, result["results"][0]["id"])
    assert first["names"] == ["=1+1"] and first["descriptions"] == ["'kept one"]
    assert first["examples"] == ["@a", "'b"]  # only the cell's own first character is a prefix


# --- round trips -------------------------------------------------------------------------------------------


def test_export_then_import_into_an_empty_group_reproduces_every_artifact(api, make_api):
    """Ids are unique across the database, so another group gets new ids; everything else is identical.
    (Ids are kept where they are free: see the delete-and-reimport test and the CLI test into a new database.)"""
    ids = create_tricky(api)
    update(api, ids[1], description="Changed once more")
    before = sorted((form(api, persona_id) for persona_id in ids), key=repr)
    answer, text = export_text(api)
    assert answer["row_count"] == 10

    fresh = make_api("editor", "fresh-group")
    assert fresh.ok(KIND, "search", {})["total_count"] == 0
    result = import_ok(fresh, text.encode("utf-8"))

    assert result["failed"] == 0 and result["created"] == 10, result["results"]
    new_ids = [r["id"] for r in result["results"]]
    assert not set(new_ids) & set(ids)
    assert all("new id" in r["message"] for r in result["results"])
    assert sorted((form(fresh, persona_id) for persona_id in new_ids), key=repr) == before
    _answer, again = export_text(fresh)
    without_ids = lambda t: sorted(tuple(row[1:]) for row in csv.reader(io.StringIO(t, newline="")))  # noqa: E731
    assert without_ids(again) == without_ids(text)


def test_export_then_import_restores_deleted_artifacts_exactly_with_their_ids(api):
    ids = create_tricky(api)
    before = {persona_id: form(api, persona_id) for persona_id in ids}
    _answer, text = export_text(api)
    deleted = api.ok(KIND, "delete", {"persona_ids": ids})["results"]
    assert all(r["success"] for r in deleted)

    result = import_ok(api, text.encode("utf-8"))

    assert result["failed"] == 0 and result["created"] == 10, result["results"]
    assert sorted(r["id"] for r in result["results"]) == sorted(ids)
    assert {persona_id: form(api, persona_id) for persona_id in ids} == before


def test_importing_an_unchanged_export_changes_nothing(api):
    ids = create_tricky(api, 4)
    before = {persona_id: form(api, persona_id) for persona_id in ids}
    versions = {p["persona_id"]: p["version"] for p in api.ok(KIND, "search", {})[KIND]}
    _answer, text = export_text(api)

    result = import_ok(api, text.encode("utf-8"))

    assert result["updated"] == 4 and result["created"] == 0 and result["failed"] == 0, result
    assert {persona_id: form(api, persona_id) for persona_id in ids} == before
    assert {p["persona_id"]: p["version"] for p in api.ok(KIND, "search", {})[KIND]} == versions


# --- import rules ------------------------------------------------------------------------------------------


def test_import_creates_rows_without_id_and_patches_rows_with_one(api):
    ada = api.create(KIND, name="Ada", description="Old", color="#aa0000", departments=["Sales"])
    data = to_csv([["persona_id", "name", "description"], [ada, "Ada Renamed", "New"], ["", "Bob", "Fresh"]])

    result = import_ok(api, data)

    assert (result["created"], result["updated"], result["failed"]) == (1, 1, 0), result
    first, second = result["results"]
    assert (first["line"], first["success"], first["id"]) == (2, True, ada)
    assert (second["line"], second["success"]) == (3, True) and second["id"] != ada
    updated = form(api, ada)
    assert updated["names"] == ["Ada Renamed"] and updated["descriptions"] == ["New"]
    assert updated["colors"] == ["#aa0000"] and updated["departments"] == ["Sales"]  # columns absent: kept
    assert api.ok(KIND, "get", {"persona_id": ada})["version"] == 2
    created = form(api, second["id"])
    assert created["names"] == ["Bob"] and created["descriptions"] == ["Fresh"] and created["colors"] == []


def test_import_results_name_each_rows_line_number(api):
    data = b"name,color\r\nAda,#111111\r\n\r\nBob,#222222\r\nCy,not-a-color\r\n"

    result = import_ok(api, data)

    assert [(r["line"], r["success"]) for r in result["results"]] == [(2, True), (4, True), (5, False)]


def test_a_failing_import_row_changes_nothing_while_the_others_succeed(api):
    ada = api.create(KIND, name="Ada", color="#aa0000")
    data = to_csv(
        [
            ["persona_id", "name", "color", "departments"],
            [ada, "Ada Changed", "not-a-color", "Newdept"],
            ["", "Brokenrow", "#zzz", "Brokendept"],
            ["", "Good", "#00ff00", "Gooddept"],
        ]
    )

    result = import_ok(api, data)

    assert (result["created"], result["updated"], result["failed"]) == (1, 0, 2), result
    bad_update, bad_create, good = result["results"]
    for bad in (bad_update, bad_create):
        assert bad["success"] is False and bad["field"] == "color" and "color" in bad["message"], bad
    assert good["success"] is True and good["line"] == 4
    shown = api.ok(KIND, "get", {"persona_id": ada})
    assert shown["version"] == 1 and form(api, ada)["names"] == ["Ada"] and form(api, ada)["colors"] == ["#aa0000"]
    assert persona_names(api) == ["Ada", "Good"]
    assert name_resources(api, "changed") == [] and name_resources(api, "brokenrow") == []
    departments = [o["value"] for o in shown["departments"]["options"]]
    assert departments == ["Gooddept"]


def test_an_empty_cell_clears_its_slot(api):
    ada = api.create(
        KIND,
        name="Ada",
        description="Old",
        color="#aa0000",
        departments=["Sales", "Ops"],
        active=True,
        instructions="Do it",
    )
    data = to_csv([["persona_id", "description", "color", "departments", "flags"], [ada, "", "", "", ""]])

    result = import_ok(api, data)

    assert result["updated"] == 1 and result["failed"] == 0, result
    cleared = form(api, ada)
    assert cleared["descriptions"] == [] and cleared["colors"] == [] and cleared["departments"] == []
    assert cleared["flags"] == [] and cleared["active"] is None
    assert cleared["names"] == ["Ada"] and cleared["instructions"] == ["Do it"]  # absent columns stay


def test_an_empty_name_cell_fails_its_row_because_a_name_is_required(api):
    ada = api.create(KIND, name="Ada")
    result = import_ok(api, to_csv([["persona_id", "name", "description"], [ada, "", ""], ["", "", "No name"]]))

    assert result["failed"] == 2 and result["created"] == 0, result
    assert all(r["field"] == "name" for r in result["results"]), result
    assert form(api, ada)["names"] == ["Ada"]


def test_an_import_row_with_two_flags_of_one_type_fails_and_changes_nothing(api):
    ada = api.create(KIND, name="Ada")
    data = to_csv(
        [
            ["persona_id", "name", "flags"],
            [ada, "Ada", "tier=gold; tier=silver"],
            ["", "Bob", "persona_active=true; persona_active=false"],
            ["", "Cy", "tier=gold; persona_active=true"],
        ]
    )

    result = import_ok(api, data)

    assert [r["success"] for r in result["results"]] == [False, False, True], result
    assert all("flag" in r["field"] for r in result["results"][:2]), result
    assert form(api, ada)["flags"] == []
    assert persona_names(api) == ["Ada", "Cy"]


def test_import_with_an_unknown_column_is_422_naming_it(api):
    error = assert_error(import_file(api, to_csv([["name", "colour"], ["Ada", "#fff"]])), 422)

    assert "colour" in error["detail"]
    assert persona_names(api) == []


def test_import_that_is_not_utf8_or_not_a_file_is_422(api):
    assert_error(import_file(api, "name\r\nCafé\r\n".encode("latin-1")), 422)
    assert_error(import_file(api, b""), 422)
    assert_error(api.client.post(f"/api/v5/artifacts/{KIND}/import", headers=api.headers), 422)
    assert persona_names(api) == []
    assert import_ok(api, "\ufeffname\r\nCafé\r\n".encode("utf-8"))["created"] == 1  # a BOM is fine


def test_an_import_whose_multipart_body_cannot_be_split_is_422_naming_the_body(api):
    boundary = "b0undary"
    response = api.client.post(
        f"/api/v5/artifacts/{KIND}/import",
        content=f"--{boundary}\r\n2671--{boundary}--\r\n",
        headers={**api.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert assert_error(response, 422, "invalid")["field"] == "body"
    assert persona_names(api) == []


def test_import_needs_an_editor_and_refuses_agents(api, make_api):
    data = to_csv([["name"], ["Ada"]])

    assert "editor" in assert_error(import_file(make_api("viewer"), data), 403)["detail"]
    assert_error(import_file(api.as_agent(), data), 403)
    assert_error(import_file(make_api("admin").as_agent(), data), 403)
    assert_error(api.client.post(f"/api/v5/artifacts/{KIND}/import", files={"file": ("p.csv", data, "text/csv")}), 401)
    assert persona_names(api) == []
    assert import_ok(api, data)["created"] == 1


def test_import_of_a_row_naming_another_groups_artifact_does_not_touch_it(api, make_api):
    other = make_api("editor", "other")
    foreign = other.create(KIND, name="Theirs")

    response = import_file(api, to_csv([["persona_id", "name"], [foreign, "Hijacked"]]))

    assert response.status_code == 200, response.text
    assert form(other, foreign)["names"] == ["Theirs"]
    assert_error(api.op(KIND, "get", {"persona_id": foreign}), 404)


# --- the command line --------------------------------------------------------------------------------------


LOOMWORK = Path(sys.executable).parent / "loomwork"


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(LOOMWORK)] if LOOMWORK.exists() else [sys.executable, "-m", "loomwork.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOMWORK_")}
    env.update(
        LOOMWORK_DATA_DIR=str(tmp_path / "data"), LOOMWORK_SECRET_KEY="transfer-test-secret-0123456789-of-32-bytes"
    )
    return subprocess.run([*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def cli_ok(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = cli(tmp_path, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def sorted_rows(path: Path) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))
    assert rows[0] == COLUMNS
    return sorted(rows[1:])


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Once per module: a SQLite file with 30 demo personas in group `default`, and their CLI export."""
    home = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{home / 'cli.sqlite3'}"
    cli_ok(home, "seed-demo", "--bulk", "--personas", "30", "--database-url", url)
    out = home / "default.csv"
    cli_ok(home, "export", "personas", "--out", str(out), "--database-url", url, "--group", "default")
    assert len(sorted_rows(out)) == 30
    return home / "cli.sqlite3", out


@pytest.fixture
def seeded_file(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Path]:
    """This test's own copy of the seeded file (the URL) and the export of its group `default`."""
    if dialect == "postgresql":
        pytest.skip("the CLI round trip runs on a SQLite file only")
    database, out = request.getfixturevalue("seeded_template")
    shutil.copyfile(database, tmp_path / "cli.sqlite3")
    return f"sqlite:///{tmp_path / 'cli.sqlite3'}", out


def test_cli_export_then_import_into_another_group_creates_every_artifact(seeded_file, tmp_path):
    url, out = seeded_file

    done = cli(tmp_path, "import", "personas", str(out), "--database-url", url, "--group", "copy")

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Created 30" in done.stdout + done.stderr
    copy = tmp_path / "copy.csv"
    cli_ok(tmp_path, "export", "personas", "--out", str(copy), "--database-url", url, "--group", "copy")
    # Same database, so the ids are taken: new ids, identical content.
    assert sorted(row[1:] for row in sorted_rows(copy)) == sorted(row[1:] for row in sorted_rows(out))
    assert not {row[0] for row in sorted_rows(copy)} & {row[0] for row in sorted_rows(out)}


def test_cli_import_into_a_new_database_round_trips(seeded_file, tmp_path):
    _url, out = seeded_file
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"

    done = cli_ok(tmp_path, "import", "personas", str(out), "--database-url", fresh, "--group", "copy")

    assert "Created 30, updated 0, failed 0" in done.stdout + done.stderr
    copy = tmp_path / "copy.csv"
    cli_ok(tmp_path, "export", "personas", "--out", str(copy), "--database-url", fresh, "--group", "copy")
    assert sorted_rows(copy) == sorted_rows(out)
