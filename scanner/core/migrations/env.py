"""Alembic's entry point: runs the revisions on the connection `upgrade()` passes in."""
from alembic import context

from scanner.core.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
