"""Alembic environment: promptdeck runs migrations from code on the store's connection."""

from __future__ import annotations

from alembic import context

from promptdeck.store.rows import Base
from promptdeck.store.schema import VERSION_TABLE

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - promptdeck always passes its connection
    raise RuntimeError("promptdeck migrations run through PromptStore, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # promptdeck's own bookkeeping: another application's alembic_version is not ours.
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
