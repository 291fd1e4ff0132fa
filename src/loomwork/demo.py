"""A deterministic demo data set: `loomwork seed-demo` and the benchmarks use it.

The same arguments always produce the same rows (ids are derived from the group
and an index), so seeding twice changes nothing. Rows go in with bulk inserts a
chunk at a time, and search documents are built by the engine's own indexer.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any, assert_never

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from loomwork import groups
from loomwork.db.base import utcnow
from loomwork.db.database import Database
from loomwork.db.dialect import Dialect, insert_ignoring_conflicts
from loomwork.engine import revisions, search
from loomwork.engine.declaration import ArtifactKind, Slot
from loomwork.engine.form import FormState
from loomwork.engine.models import Artifact, Connection
from loomwork.identity import service as identity
from loomwork.principal import Principal, Role
from loomwork.resources import service
from loomwork.resources.kinds import ARG_TYPES, RESOURCE_KINDS
from loomwork.resources.models import Resource
from loomwork.resources.service import value_hash

SEED = 20261122
CHUNK = 2000
# How many distinct values each resource kind has in the demo catalog.
POOL_SIZES = {
    "department": 1000,
    "voice": 5000,
    "scenario": 200,
    "parameter_field": 300,
    "example": 10000,
    "instruction": 5000,
    "description": 20000,
    "color": 200,
    "icon": 50,
    # Structured kinds: each value is validated (and a key encrypted) on its own, so fewer.
    "arg": 2000,
    "args_output": 1000,
    "arg_position": 2000,
    "model_flag": 600,
    "key": 50,
    "model": 200,
    "modality": 6,
    "temperature_level": 5,
    "pricing": 20,
    "reasoning_level": 4,
    "quality": 5,
}
DEFAULT_POOL = 10000
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ser",
    "tan",
    "vo",
    "rue",
    "pel",
    "dor",
    "ix",
    "bra",
    "quo",
    "fen",
    "lu",
    "zar",
    "nim",
    "sol",
    "tra",
    "vek",
    "ori",
]


def _vocabulary(rng: random.Random, size: int = 2000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    return sorted(words)


def _text(rng: random.Random, vocabulary: list[str], words: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(words)).capitalize()


def _value(kind: str, index: int, rng: random.Random, vocabulary: list[str]) -> Any:
    if kind == "color":
        return f"#{rng.randrange(0x1000000):06x}"
    if kind == "icon":
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" '
            f'r="{index % 11 + 1}" fill="#{rng.randrange(0x1000000):06x}"/></svg>'
        )
    if kind == "instruction":
        return f"{_text(rng, vocabulary, 12)} for {{{{customer}}}} in {{{{{rng.choice(vocabulary)}}}}}."
    if kind == "description":
        return _text(rng, vocabulary, 8)
    if kind in ("arg", "args_output"):
        value = {
            "name": f"{rng.choice(vocabulary)}_{index}",
            "type": rng.choice(ARG_TYPES),
            "description": _text(rng, vocabulary, 5),
        }
        return value | ({"required": rng.random() < 0.5} if kind == "arg" else {})
    if kind == "key":
        return {
            "name": f"{rng.choice(vocabulary).capitalize()} key {index}",
            "secret": f"sk-demo-{rng.getrandbits(96):024x}",
        }
    return f"{_text(rng, vocabulary, 2)} {index}"


class DemoSeeder:
    """Creates pools of resources per slot, then artifacts that pick from them."""

    def __init__(self, db: Database, group_name: str = "default") -> None:
        self.db = db
        self.rng = random.Random(SEED)
        self.vocabulary = _vocabulary(self.rng)
        with db.transaction(write=True) as session:
            group = groups.ensure_group(session, group_name)
            # The seeded artifacts' first revisions name an author, as every write's do.
            author = identity.ensure_profile(session, group, "seed-demo", Role.ADMIN)
            self.group_id = group.id
            self.author = Principal(author.id, group.id, author.name, author.role)
        self.pools: dict[str, list[uuid.UUID]] = {}

    def _id(self, *parts: Any) -> uuid.UUID:
        return uuid.uuid5(self.group_id, "/".join(map(str, parts)))

    def pool(self, session: Session, resource: str) -> list[uuid.UUID]:
        """The demo catalog of one resource kind (created once, deterministically)."""
        if resource not in self.pools:
            kind = RESOURCE_KINDS[resource]
            if resource == "flag":
                return []
            rng = random.Random(f"{SEED}/{resource}")
            rows: list[dict[str, Any]] = []
            now = utcnow()
            for i in range(POOL_SIZES.get(resource, DEFAULT_POOL)):
                raw = (
                    self._reference(session, resource, i, rng)
                    if kind.references
                    else _value(resource, i, rng, self.vocabulary)
                )
                value = kind.normalise(raw)
                if kind.references:
                    value = service.resolve_references(session, self.group_id, kind, value, resource)
                rows.append(
                    {
                        "id": self._id(resource, i),
                        "group_id": self.group_id,
                        "kind": resource,
                        "value": kind.dump(value),
                        "value_hash": value_hash(kind.dedupe_text(value)),
                        "created_at": now,
                    }
                )
            for start in range(0, len(rows), 5000):
                insert_ignoring_conflicts(session, Resource.__table__, rows[start : start + 5000])
            # Two random values may be equal (dedupe keeps one row): pick only ids that really exist.
            self.pools[resource] = sorted(_existing(session, [r["id"] for r in rows]), key=str)
        return self.pools[resource]

    def _reference(self, session: Session, resource: str, index: int, rng: random.Random) -> dict[str, Any]:
        """A value of a reference kind, pointing into the pools of what it references."""
        if resource == "arg_position":
            return {"arg_id": str(rng.choice(self.pool(session, "arg"))), "position": index % 8}
        roles = [{"type": "eval_role", "value": v} for v in ("candidate", "baseline", "judge")]
        flags = service.find_or_create(session, self.group_id, RESOURCE_KINDS["flag"], roles)
        return {"model_id": str(rng.choice(self.pool(session, "model"))), "flag_id": str(rng.choice(flags))}

    def seed(self, kind: ArtifactKind, count: int, progress: Callable[[int], None] = lambda n: None) -> None:
        for start in range(0, count, CHUNK):
            ids = [self._id(kind.name, i) for i in range(start, min(start + CHUNK, count))]
            # A random stream per chunk: the data never depends on what an earlier run already wrote.
            rng = random.Random(f"{SEED}/{kind.name}/{start}")
            with self.db.transaction(write=True) as session:
                new_ids = self._insert_chunk(session, kind, ids, start, rng)
                search.reindex(session, kind, new_ids)
            progress(len(ids))
        # The seeder writes rows directly: the counts kept with each write are recomputed once, at the end.
        with self.db.transaction(write=True) as session:
            search.rebuild_tallies(session, kind, self.group_id)
        # Fresh statistics, so the planner sees the new sizes; on PostgreSQL VACUUM also marks the
        # pages all-visible, which lets the covering indexes answer without reading the table.
        dialect = self.db.dialect
        match dialect:
            case Dialect.SQLITE:
                with self.db.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
            case Dialect.POSTGRESQL:  # VACUUM cannot run inside a transaction
                with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE")
            case _:
                assert_never(dialect)

    def _active_flags(self, session: Session, kind: ArtifactKind) -> list[uuid.UUID]:
        values = [{"type": kind.active_flag_type, "value": v} for v in ("true", "false")]
        return service.find_or_create(session, self.group_id, RESOURCE_KINDS["flag"], values)

    def _insert_chunk(
        self, session: Session, kind: ArtifactKind, ids: list[uuid.UUID], start: int, rng: random.Random
    ) -> list[uuid.UUID]:
        """Insert the chunk's artifacts that are not there yet; returns their ids."""
        existing = _existing_artifacts(session, ids)
        if len(existing) == len(ids):
            return []
        flags = self._active_flags(session, kind)
        names = self._names(session, kind, start, len(ids))
        now = utcnow()
        connections = []
        picked: dict[uuid.UUID, dict[str, list[uuid.UUID]]] = {}
        for n, aid in enumerate(ids):
            picks = {slot.key: self._pick(session, slot, rng, flags, names[n]) for slot in kind.slots}
            if aid in existing:
                continue
            picked[aid] = picks
            for slot_key, chosen in picks.items():
                connections += [
                    {"artifact_id": aid, "slot": slot_key, "position": position, "resource_id": rid, "active": True}
                    for position, rid in enumerate(chosen)
                ]
        new_ids = [aid for aid in ids if aid not in existing]
        session.execute(
            insert(Artifact.__table__),
            [
                {
                    "id": aid,
                    "group_id": self.group_id,
                    "kind": kind.name,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for aid in new_ids
            ],
        )
        session.execute(insert(Connection.__table__), connections)
        # Version 1 of each, like a bulk create's: history, labels and resolve work on demo data too.
        states = {aid: FormState({key: ids for key, ids in chosen.items() if ids}) for aid, chosen in picked.items()}
        revisions.record_revisions(
            session,
            kind,
            self.author,
            [revisions.NewRevision(aid, 1, states[aid]) for aid in new_ids],
            operation="seed_demo",
        )
        return new_ids

    def _names(self, session: Session, kind: ArtifactKind, start: int, n: int) -> list[uuid.UUID]:
        rows: list[dict[str, Any]] = []
        now, name_kind = utcnow(), RESOURCE_KINDS["name"]
        for i in range(start, start + n):
            stored = name_kind.dump(f"{self.vocabulary[i % len(self.vocabulary)].capitalize()} {kind.title} {i}")
            rows.append(
                {
                    "id": self._id("name", kind.name, i),
                    "group_id": self.group_id,
                    "kind": "name",
                    "value": stored,
                    "value_hash": value_hash(stored),
                    "created_at": now,
                }
            )
        insert_ignoring_conflicts(session, Resource.__table__, rows)
        return [r["id"] for r in rows]

    def _pick(
        self, session: Session, slot: Slot, rng: random.Random, flags: list[uuid.UUID], name_id: uuid.UUID
    ) -> list[uuid.UUID]:
        if slot.key == "name":
            return [name_id]
        if slot.resource == "flag":
            return [flags[0] if rng.random() < 0.8 else flags[1]]
        pool = self.pool(session, slot.resource)
        if not slot.many:
            return [rng.choice(pool)] if rng.random() < 0.9 else []
        return list(dict.fromkeys(rng.choice(pool) for _ in range(rng.randint(0, 3))))


def _existing(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), 5000):
        found.update(session.scalars(select(Resource.id).where(Resource.id.in_(ids[start : start + 5000]))))
    return found


def _existing_artifacts(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(session.scalars(select(Artifact.id).where(Artifact.id.in_(ids))))
