"""Resources for many forms at once: bulk create works out every item's values in Python, then
writes each resource kind's new values with one insert and one select for the whole request.

1. `prefetch`: before any item is applied, the ids the items reference (one query) and the values
   they give, found by hash (one query per resource kind). A value the group has resolves to its
   real id, exactly as the per-item path would resolve it.
2. The items are applied through the plan (`engine.form.apply_patch_with`), with no SQL at all. A
   value the group lacks gets a planned id, one per (kind, value) for the whole request, so two
   items that bring the same new value share one resource.
3. `create`: only the planned values that the surviving items use are inserted, so a value that a
   failed item alone brought is never written.

Anything the prefetch did not cover (a reference given by value, a flag looked up by its value, an
id no item named) raises `NeedsOwnTransaction`: that item takes the per-item path instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomwork.db.scoping import in_group
from loomwork.resources.kinds import RESOURCE_KINDS, ResourceKind
from loomwork.resources.models import Resource
from loomwork.resources.service import (
    DirectResolver,
    ResourceValue,
    insert_values,
    load,
    normalise_value,
    resolve_references_with,
    value_hash,
)


class NeedsOwnTransaction(Exception):
    """The item needs the database in the middle of its rules; the plan cannot decide it up front."""


@dataclass
class PlannedResolver:
    """A `service.Resolver` that answers from what `prefetch` read and plans what is new."""

    session: Session
    group_id: uuid.UUID
    reader: uuid.UUID | None = None  # whose staged values may be selected by id (service.Resolver)
    known: dict[uuid.UUID, ResourceValue] = field(default_factory=dict)
    asked: set[uuid.UUID] = field(default_factory=set)  # ids looked up: absent ones really are absent
    by_hash: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)  # (kind, hash) -> existing or planned id
    looked_up: set[tuple[str, str]] = field(default_factory=set)
    planned: dict[uuid.UUID, tuple[ResourceKind, Any, str]] = field(default_factory=dict)  # id -> kind, value, hash

    # --- reading ahead ---------------------------------------------------------------------------------------

    def prefetch(self, ids: set[uuid.UUID], values: dict[str, list[Any]]) -> None:
        """Read the referenced ids (one query) and the given values by hash (one query per resource kind)."""
        self.known.update(load(self.session, self.group_id, ids))
        self.asked |= ids
        for kind_name, kind_values in values.items():
            kind = RESOURCE_KINDS[kind_name]
            hashes = {value_hash(kind.dedupe_text(v)) for v in kind_values}
            rows = self.session.execute(
                select(Resource.value_hash, Resource.id, Resource.value, Resource.staged_by).where(
                    in_group(Resource, self.group_id), Resource.kind == kind_name, Resource.value_hash.in_(hashes)
                )
            )
            for text_hash, rid, stored, staged_by in rows:
                self.by_hash[(kind_name, text_hash)] = rid
                self.known[rid] = ResourceValue(rid, kind_name, kind.load(stored), staged_by)
            self.looked_up |= {(kind_name, h) for h in hashes}

    # --- the Resolver protocol, answered without SQL -------------------------------------------------------------

    def load(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ResourceValue]:
        found = {}
        for rid in ids:
            if rid in self.known:
                found[rid] = self.known[rid]
            elif rid in self.planned:
                kind, value, _hash = self.planned[rid]
                found[rid] = ResourceValue(rid, kind.name, value)
            elif rid not in self.asked:
                raise NeedsOwnTransaction(f"resource {rid} was not read ahead")
        return found

    def create_values(
        self, kind: ResourceKind, raws: Sequence[Any], field: str, *, indexed: bool = True
    ) -> list[uuid.UUID]:
        if kind.references:  # resolving a reference may create and load other resources
            raise NeedsOwnTransaction(f"{kind.name} values refer to other resources")
        names = [f"{field}[{i}]" if indexed else field for i in range(len(raws))]
        return self.find_or_create(kind, [normalise_value(kind, raw, name) for raw, name in zip(raws, names)])

    def find_or_create(self, kind: ResourceKind, values: Sequence[Any]) -> list[uuid.UUID]:
        ids = []
        for value in values:
            key = (kind.name, value_hash(kind.dedupe_text(value)))
            if key not in self.looked_up:
                raise NeedsOwnTransaction(f"a {kind.name} value was not read ahead")
            if key not in self.by_hash:
                planned_id = uuid.uuid4()
                self.by_hash[key] = planned_id
                self.planned[planned_id] = (kind, value, key[1])
            ids.append(self.by_hash[key])
        return ids

    def find_existing(self, kind: ResourceKind, value: Any) -> uuid.UUID | None:
        raise NeedsOwnTransaction(f"a {kind.name} is looked up by value")

    # --- writing ------------------------------------------------------------------------------------------------

    def create(self, used: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Insert the planned values among `used`; returns planned id -> real id, and `known` holds them after.

        Each is inserted under its planned id; when a concurrent writer inserted the same value
        first, the select after the insert finds that writer's row instead.
        """
        by_kind: dict[str, list[uuid.UUID]] = {}
        for planned_id in used & self.planned.keys():
            by_kind.setdefault(self.planned[planned_id][0].name, []).append(planned_id)
        real: dict[uuid.UUID, uuid.UUID] = {}
        for kind_name, planned_ids in by_kind.items():
            stored = insert_values(
                self.session,
                self.group_id,
                kind_name,
                {
                    text_hash: (pid, kind.dump(value))
                    for pid in planned_ids
                    for kind, value, text_hash in [self.planned[pid]]
                },
            )
            for pid in planned_ids:
                kind, value, text_hash = self.planned[pid]
                rid = real[pid] = stored[text_hash]
                self.known[rid] = ResourceValue(rid, kind_name, kind.load(kind.dump(value)))  # as stored
        return real


@dataclass
class ReadAheadResolver(PlannedResolver):
    """Answers from what `prefetch` found, and goes to the database (`DirectResolver`) for anything else.

    For items that run one at a time, each in its own savepoint (an import's updates): it plans nothing, and
    what it creates is not remembered, so a row that rolls back leaves no id behind for the next. A row that
    changes nothing, the common case of a re-import, then costs no look-up per value."""

    def load(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ResourceValue]:
        ids = set(ids)
        found = {rid: self.known[rid] for rid in ids & self.known.keys()}
        unread = ids - found.keys()
        return {**found, **load(self.session, self.group_id, unread)} if unread else found

    def create_values(
        self, kind: ResourceKind, raws: Sequence[Any], field: str, *, indexed: bool = True
    ) -> list[uuid.UUID]:
        if kind.references:  # resolving a reference may create other resources
            return self._direct.create_values(kind, raws, field, indexed=indexed)
        names = [f"{field}[{i}]" if indexed else field for i in range(len(raws))]
        return self.find_or_create(kind, [normalise_value(kind, raw, name) for raw, name in zip(raws, names)])

    def find_or_create(self, kind: ResourceKind, values: Sequence[Any]) -> list[uuid.UUID]:
        keys = [(kind.name, value_hash(kind.dedupe_text(value))) for value in values]
        if all(key in self.by_hash for key in keys):
            return [self.by_hash[key] for key in keys]
        return self._direct.find_or_create(kind, values)

    def find_existing(self, kind: ResourceKind, value: Any) -> uuid.UUID | None:
        key = (kind.name, value_hash(kind.dedupe_text(value)))
        return self.by_hash[key] if key in self.by_hash else self._direct.find_existing(kind, value)

    @property
    def _direct(self) -> DirectResolver:
        return DirectResolver(self.session, self.group_id)


@dataclass
class DryRunResolver(PlannedResolver):
    """Runs a form's rules as a write would, reading the group's resources as it goes, but writes nothing:
    a value the group lacks gets a planned id that lives only here. A proposal is checked with it, so its
    values stay inside the proposal until a person accepts it (API.md section 8)."""

    def load(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ResourceValue]:
        ids = set(ids)
        unread = ids - self.known.keys() - self.planned.keys() - self.asked
        if unread:
            self.prefetch(unread, {})
        return super().load(ids)

    def create_values(
        self, kind: ResourceKind, raws: Sequence[Any], field: str, *, indexed: bool = True
    ) -> list[uuid.UUID]:
        names = [f"{field}[{i}]" if indexed else field for i in range(len(raws))]
        values = [normalise_value(kind, raw, name) for raw, name in zip(raws, names)]
        if kind.references:
            values = [resolve_references_with(self, kind, value, name) for value, name in zip(values, names)]
        return self.find_or_create(kind, values)

    def find_or_create(self, kind: ResourceKind, values: Sequence[Any]) -> list[uuid.UUID]:
        unread = [v for v in values if (kind.name, value_hash(kind.dedupe_text(v))) not in self.looked_up]
        if unread:
            self.prefetch(set(), {kind.name: unread})
        return super().find_or_create(kind, values)

    def find_existing(self, kind: ResourceKind, value: Any) -> uuid.UUID | None:
        (rid,) = self.find_or_create(kind, [value]) if self._has(kind, value) else (None,)
        return rid

    def _has(self, kind: ResourceKind, value: Any) -> bool:
        key = (kind.name, value_hash(kind.dedupe_text(value)))
        if key not in self.looked_up:
            self.prefetch(set(), {kind.name: [value]})
        return key in self.by_hash

    def label(self, rid: uuid.UUID) -> str | None:
        """A resource's readable value, a planned one as it would be stored (a key masked, an icon sanitized)."""
        if rid in self.planned:
            kind, value, _hash = self.planned[rid]
            return kind.label(kind.load(kind.dump(value)))
        found = self.load([rid]).get(rid)
        return found.label if found else None
