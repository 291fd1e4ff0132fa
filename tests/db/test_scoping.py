"""Tenant scoping: a query scoped with `in_group` to one group sees none of another group's rows,
whether it names a mapped class or a table (the search documents and tallies are queried as tables)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from loomwork import groups
from loomwork.db.database import Database
from loomwork.db.scoping import in_group
from loomwork.identity import service as identity
from loomwork.identity.models import Profile


def _two_groups(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    with db.transaction(write=True) as session:
        acme, beta = groups.ensure_group(session, "acme"), groups.ensure_group(session, "beta")
        identity.ensure_profile(session, acme, "ann", "editor")
        identity.ensure_profile(session, beta, "bob", "editor")
        identity.ensure_profile(session, beta, "ann", "editor")  # the same name in another group
        return acme.id, beta.id


def test_a_query_scoped_to_one_group_sees_none_of_another_groups_rows(db: Database) -> None:
    acme, beta = _two_groups(db)
    with db.transaction(write=False) as session:
        by_class = session.execute(select(Profile.name, Profile.group_id).where(in_group(Profile, acme))).all()
        table = Profile.__table__
        by_table = session.execute(select(table.c.name, table.c.group_id).where(in_group(table, beta))).all()
    assert by_class == [("ann", acme)]
    assert sorted(by_table) == [("ann", beta), ("bob", beta)]


def test_the_scope_is_one_bound_group_id_predicate() -> None:
    group_id = uuid.uuid4()
    predicate = in_group(Profile, group_id)
    assert str(predicate) == "profiles.group_id = :group_id_1"
    assert predicate.compile().params == {"group_id_1": group_id}
