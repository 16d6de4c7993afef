"""Alembic environment: always run on a connection handed over by opencrm."""

from __future__ import annotations

from alembic import context

from opencrm.storage.sqlalchemy.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run opencrm migrations through `opencrm db upgrade URL`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
