"""Export takes the body search takes (API.md section 5: "the same filters as search"), for every kind: a list
whose facet search box was used exports its rows, and the facet's text changes no row of the file."""

from __future__ import annotations

import csv
import io

import pytest

from loomwork.kinds import ARTIFACT_KINDS


def exported_names(api, kind, body) -> list[str]:
    response = api.op(kind.plural, "export", body)
    assert response.status_code == 200, response.text
    upload = api.client.get(f"/api/v5/uploads/{response.json()['upload_id']}", headers=api.headers)
    rows = list(csv.DictReader(io.StringIO(upload.text.lstrip("\ufeff"))))
    return sorted(row["name"] for row in rows)


@pytest.mark.parametrize("kind", ARTIFACT_KINDS, ids=lambda k: k.plural)
def test_a_facets_search_text_is_taken_and_changes_no_exported_row(api, kind):
    for name in ("Alpha", "Beta"):
        api.create(kind.plural, **{kind.name_slot.value_field: name})
    facet_texts = {facet.search_field: "zzz" for facet in kind.facets}
    assert facet_texts, f"{kind.plural} has no facet"
    assert exported_names(api, kind, {"search": "alpha", **facet_texts}) == ["Alpha"]
    assert exported_names(api, kind, facet_texts) == ["Alpha", "Beta"]
