"""Alembic environment: runs migrations on the connection ``migrate.upgrade`` provides."""

from __future__ import annotations

from alembic import context

from riskscore.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through riskscore.store.migrate (it supplies a connection)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
)
with context.begin_transaction():
    context.run_migrations()
