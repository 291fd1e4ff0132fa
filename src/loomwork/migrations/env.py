"""Alembic environment: one tree for SQLite and PostgreSQL (batch mode makes SQLite alterable)."""

from alembic import context

from loomwork.db.all_models import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
