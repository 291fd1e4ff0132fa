"""Alembic environment: one tree for SQLite and PostgreSQL (batch mode makes SQLite alterable)."""

from alembic import context

from loomwork.db.all_models import metadata
from loomwork.db.migrate import is_database_owned

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
    include_name=lambda name, type_, parent: not is_database_owned(name),
)
with context.begin_transaction():
    context.run_migrations()
