"""Alembic environment: promptdeck runs migrations from code on the store's connection."""

from __future__ import annotations

from alembic import context

from promptdeck.store.rows import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - promptdeck always passes its connection
    raise RuntimeError("promptdeck migrations run through PromptStore, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
