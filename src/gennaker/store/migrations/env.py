"""Alembic environment: runs against the connection Gennaker hands it (see store.database.migrate)."""

from alembic import context

from gennaker.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
