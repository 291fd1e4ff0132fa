"""Run the Alembic tree that ships inside the package, against any database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


DATABASE_OWNED = ("search_fts", "ix_search_documents_words")


def is_database_owned(name: str | None) -> bool:
    """The text-search structures each database makes its own way (FTS5 tables, a tsvector index): no model maps them."""
    return name is not None and name.startswith(DATABASE_OWNED)


def schema_differences(connection: Connection) -> list[Any]:
    """What the migrated schema lacks or has beyond the models (empty when migrations match them)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from loomwork.db.all_models import metadata

    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_name": lambda name, type_, parent: not is_database_owned(name),
        },
    )
    differences: list[Any] = compare_metadata(context, metadata)  # tuples (or lists of them), shaped per kind
    return differences
