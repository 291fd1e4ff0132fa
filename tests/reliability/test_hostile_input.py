"""Hostile input, for every operation the OpenAPI document lists (issue 9, part 5).

Each check walks the app's own OpenAPI document, so a new kind, resource kind or operation is
covered the day it appears. Every hostile request gets a clear 4xx (never a 5xx) and writes
nothing: the row count of every table is the same before and after. Checks that need one kind's
data (CSV formula cells) run over every kind's text slots. The SVG attack corpus is in
tests/resources/test_svg_sanitizer.py.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, literal, select, union_all

from conftest import Api
from loomwork.db.all_models import metadata
from loomwork.engine.declaration import ArtifactKind
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.resources.kinds import RESOURCE_KINDS, ResourceKind

NOT_UUIDS = ["not-a-uuid", "123", "' OR 1=1 --", "00000000-0000-0000-0000-00000000000g"]
# No letters that could prefix-match the plain words (search matches word prefixes, "a" finds "Alpha").
SEARCH_METACHARACTERS = ["%", "_", "\\%", "' OR '1'='1", "'; DROP TABLE artifacts; --", '"*"(:1{^']
FORMULA_PAYLOADS = ["=1+2", "+SUM(A1:A2)", "-2+3", "@cmd", "\t=1", "\r=1", '=HYPERLINK("http://x","y")']
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- the OpenAPI document, walked -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(shared_client) -> dict[str, Any]:
    return shared_client.app.openapi()


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a $ref and drop the `null` of an optional field."""
    if "$ref" in schema:
        return resolve(doc, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return resolve(doc, options[0]) if len(options) == 1 else schema


def json_operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, body schema) of every operation that takes a JSON body."""
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method, path, resolve(doc, content["application/json"]["schema"])


def properties(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: resolve(doc, prop) for name, prop in schema.get("properties", {}).items()}


def is_uuid(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and schema.get("format") == "uuid"


def id_fields(doc: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, body with that field not a UUID), for ids at the top level and inside bulk items."""
    for name, prop in properties(doc, schema).items():
        items = resolve(doc, prop.get("items", {})) if prop.get("type") == "array" else {}
        for bad in NOT_UUIDS[:2]:
            if is_uuid(prop):
                yield name, {name: bad}
            elif is_uuid(items):
                yield name, {name: [bad]}
        if items.get("type") == "object":
            for inner, body in id_fields(doc, items):
                yield inner, {name: [body]}


def bounded_arrays(doc: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, body with that array one element past its maxItems)."""
    props = properties(doc, schema)
    for name, prop in props.items():
        if prop.get("type") != "array" or "maxItems" not in prop:
            continue
        items = resolve(doc, prop.get("items", {}))
        # The other required fields valid too (a webhook's url), so the count is the only thing wrong.
        others = {
            field: valid_element(doc, resolve(doc, props[field]))
            for field in schema.get("required", [])
            if field != name and field in props
        }
        yield name, {**others, name: [valid_element(doc, items)] * (prop["maxItems"] + 1)}


def valid_element(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """An array element that passes its own schema (required fields filled), so only the count can be wrong."""
    if is_uuid(schema):
        return str(uuid.uuid4())
    if schema.get("type") == "object":
        props = properties(doc, schema)
        return {name: valid_element(doc, props[name]) for name in schema.get("required", [])}
    if schema.get("type") == "string" and "http" in schema.get("pattern", ""):
        return "https://example.com/hook"  # a URL field (a webhook's)
    return {"integer": 1, "number": 1, "boolean": False, "array": []}.get(schema.get("type"), "x")


def about_the_count(response, field: str) -> str | None:
    """A 422 whose field is the array itself (not an item's field) and whose reason is the count."""
    if response.status_code != 422:
        return f"{response.status_code} {response.text[:200]}"
    body = response.json()
    if body.get("field") != field or "at most" not in body.get("detail", ""):
        return f"the 422 is not about the count of {field}: {body}"
    return None


OUT_OF_RANGE_INTEGERS = [2**64, -(2**64), 2**31, 2**63]


def integer_fields(doc: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, body with that integer out of any database's range), at the top level and inside bulk items."""
    for name, prop in properties(doc, schema).items():
        items = resolve(doc, prop.get("items", {})) if prop.get("type") == "array" else {}
        if prop.get("type") == "integer":
            for bad in OUT_OF_RANGE_INTEGERS:
                yield name, {name: bad}
        if items.get("type") == "object":
            for inner, body in integer_fields(doc, items):
                yield inner, {name: [body]}


def search_fields(doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    return [
        name
        for name, prop in properties(doc, schema).items()
        if prop.get("type") == "string" and (name == "search" or name.endswith("_search"))
    ]


# --- what a request wrote ---------------------------------------------------------------------------------------


def row_counts(db) -> dict[str, int]:
    """The row count of every table, in one statement."""
    query = union_all(*(select(literal(t.name), func.count()).select_from(t) for t in metadata.sorted_tables))
    with db.transaction(write=False) as session:
        return dict(session.execute(query).all())


@pytest.fixture
def admin(make_api) -> Api:
    """Every role check passes, so each request reaches the input it is about."""
    return make_api("admin")


def send(api: Api, method: str, path: str, **kwargs: Any):
    return api.client.request(
        method.upper(), path, headers={**api.headers, "Content-Type": "application/json"}, **kwargs
    )


def check_each(api: Api, db, cases: Iterator[tuple[str, str, str, Any]], expect) -> None:
    """Send each (method, path, label, body); `expect(response, label)` says what is wrong, if anything.
    Fails listing every offending request, and if the requests wrote any row at all."""
    problems: list[str] = []
    before = row_counts(db)
    for method, path, label, body in cases:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        problem = expect(send(api, method, path, **kwargs), label)
        if problem:
            problems.append(f"{method.upper()} {path} [{label}]: {problem}")
    after = row_counts(db)
    assert not problems, "\n".join(problems[:40])
    assert after == before, {t: after[t] - before[t] for t in after if after[t] != before[t]}


def names_field_in_422(response, field: str) -> str | None:
    if response.status_code != 422:
        return f"{response.status_code} {response.text[:200]}"
    body = response.json()
    named = [body.get("field") or ""] + [e.get("field", "") for e in body.get("errors") or []]
    if body.get("code") != "invalid" or not any(field in f for f in named) or field not in body.get("detail", ""):
        return f"the 422 does not name {field}: {body}"
    return None


def a_clear_4xx(response, _label: str) -> str | None:
    if not 400 <= response.status_code < 500:
        return f"{response.status_code} {response.text[:200]}"
    body = response.json()
    if not (isinstance(body.get("detail"), str) and body["detail"] and body.get("code")):
        return f"not a {{detail, code}} error: {body}"
    return None


# --- the checks ---------------------------------------------------------------------------------------------------


def test_an_id_that_is_not_a_uuid_is_a_422_naming_the_field_in_every_operation(admin, db, openapi):
    cases = [
        (method, path, field, body)
        for method, path, schema in json_operations(openapi)
        for field, body in id_fields(openapi, schema)
    ]
    assert len(cases) > 100  # every kind's and resource kind's id fields are here
    check_each(admin, db, iter(cases), names_field_in_422)


def test_an_array_past_its_limit_is_a_422_naming_the_field_in_every_operation(admin, db, openapi):
    cases = [
        (method, path, field, body)
        for method, path, schema in json_operations(openapi)
        for field, body in bounded_arrays(openapi, schema)
    ]
    assert len(cases) > 50
    check_each(admin, db, iter(cases), about_the_count)


def test_an_integer_out_of_range_is_a_422_naming_the_field_in_every_operation(admin, db, openapi):
    """Issue 21 (5): `audit/search` with offset 2**64 answered 500; every integer of every request is bounded."""
    cases = [
        (method, path, field, body)
        for method, path, schema in json_operations(openapi)
        for field, body in integer_fields(openapi, schema)
    ]
    reached = {path for _method, path, _field, _body in cases}
    assert "/api/v5/audit/search" in reached and len(reached) > 20, sorted(reached)
    check_each(admin, db, iter(cases), names_field_in_422)


@pytest.mark.parametrize(
    ("label", "raw"),
    [
        ("over the size limit", b'{"search": "' + b"x" * (1024 * 1024 + 10) + b'"}'),
        ("invalid UTF-8", b'{"search": "\xff\xfe\xc3\x28", "name": "\xe2\x82"}'),
        ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
        ("deeply nested object", b'{"a":' * 20_000 + b"1" + b"}" * 20_000),
        ("truncated", b'{"search": "x'),
        ("not JSON", b"search=x"),
        ("a lone surrogate", b'{"search": "\\ud800", "name": "\\udfff"}'),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_malformed_body_is_a_clear_4xx_in_every_operation(admin, db, openapi, label, raw):
    cases = [(method, path, label, raw) for method, path, _ in json_operations(openapi)]
    check_each(admin, db, iter(cases), a_clear_4xx)


def test_sql_and_like_metacharacters_in_every_search_field_match_only_literally(admin, db, openapi):
    """Every kind holds plain-word data; a search for metacharacters finds none of it, and never fails."""
    for kind in ARTIFACT_KINDS:
        admin.create(
            kind.plural,
            **{
                kind.name_slot.value_field: PLAIN_WORDS[0],
                kind.slot_by_key["department"].value_field: list(PLAIN_WORDS[1:]),
            },
        )

    def finds_nothing(response, label: str) -> str | None:
        if response.status_code != 200:
            return f"{response.status_code} {response.text[:200]}"
        path, field, _ = label.split(" ", 2)
        answer = response.json()
        found = plain_words_in(searched_part(path, field, answer))
        if found:
            return f"matched {found}"
        # Nothing at all matches, not only none of the words made here: a text kind's values (and every
        # artifact) hold no metacharacter, so a wildcard read as such would show in the count.
        counted = field == "search" and (path.startswith("/api/v5/artifacts/") or text_kind_search(path))
        if counted and answer.get("total_count") != 0:
            return f"total_count {answer.get('total_count')}"
        return None

    cases = [
        (method, path, f"{path} {field} {text!r}", {field: text})
        for method, path, schema in json_operations(openapi)
        if path.endswith(("/search", "/get"))
        for field in search_fields(openapi, schema)
        for text in SEARCH_METACHARACTERS
    ]
    assert len(cases) > 400
    check_each(admin, db, iter(cases), finds_nothing)


PLAIN_WORDS = ("Alpha Beta", "Sales", "Ops")


def text_kind_search(path: str) -> bool:
    """A resource search of a plain-text kind (structured kinds' JSON holds quotes and underscores literally)."""
    return any(
        path == f"/api/v5/resources/{k.plural}/search" and type(k) is ResourceKind for k in RESOURCE_KINDS.values()
    )


def searched_part(path: str, field: str, answer: dict[str, Any]) -> Any:
    """The part of an answer that `field` narrows: a get section, a search's results or facet, a resource list."""
    kind = next((k for k in ARTIFACT_KINDS if f"/artifacts/{k.plural}/" in path), None)
    if kind is None:
        return answer  # a resource search lists one kind of thing
    if path.endswith("/get"):
        return next(answer[s.section] for s in kind.slots if field in (f"{s.key}_search", f"{s.section}_search"))
    if field == "search":
        return answer[kind.plural]
    return next(answer[f.filter_field] for f in kind.facets if field == f.search_field)


def plain_words_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [
            w
            for key, value in node.items()
            for w in ([value] if key in ("value", "label", "name") and value in PLAIN_WORDS else plain_words_in(value))
        ]
    if isinstance(node, list):
        return [w for value in node for w in plain_words_in(value)]
    return []


@pytest.fixture(params=ARTIFACT_KINDS, ids=lambda decl: decl.plural)
def kind(request: pytest.FixtureRequest) -> ArtifactKind:
    return request.param


def test_csv_formula_payloads_in_every_text_field_are_neutralised_in_the_export(admin, kind):
    text_slots = [s for s in kind.slots if type(RESOURCE_KINDS[s.resource]) is ResourceKind and s.value_field]
    item: dict[str, Any] = {}
    for n, slot in enumerate(text_slots):
        payloads = [f"{p} {slot.key}" for p in FORMULA_PAYLOADS]
        item[slot.value_field] = payloads if slot.many else payloads[n % len(payloads)]
    admin.create(kind.plural, **item)

    export = admin.ok(kind.plural, "export", {})
    download = admin.client.get(f"/api/v5/uploads/{export['upload_id']}", headers=admin.headers)
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    dangerous = [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert not dangerous, dangerous
    neutralised = [cell for cell in cells if cell.startswith("'")]
    assert len(neutralised) == len(text_slots), (neutralised, [s.key for s in text_slots])
