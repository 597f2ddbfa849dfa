"""The store: the one writer of promptdeck.

- engine.py        engines and connection settings (SQLite pragmas, BEGIN IMMEDIATE)
- schema.py        the schema on open: Alembic migrations (migrations/) run from code
- rows.py          the ORM rows (only the store and sync's applying side touch them)
- unit_of_work.py  one write transaction + revision bump, with the role checks, lookups,
                   pointer moves, version adds and audit events every writer uses
- api.py           PromptStore: the reads and writes UIs call
- transfer.py      import from and export to feature documents
- driver_errors.py driver errors turned into one-line StoreErrors
"""

from __future__ import annotations

# Last: api.py looks create_store_engine up on this package, so tests can replace it.
from promptdeck.store.api import PromptStore
from promptdeck.store.clock import utcnow
from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.engine import NOTIFY_CHANNEL, create_store_engine, sqlite_path
from promptdeck.store.lookups import VersionRef
from promptdeck.store.schema import SCHEMA_HEAD
from promptdeck.store.transfer import ImportResult
from promptdeck.store.unit_of_work import UnitOfWork
from promptdeck.store.validation import (
    check_model,
    check_parameters,
    check_percent,
    check_prompt,
    check_reason,
)

__all__ = [
    "NOTIFY_CHANNEL",
    "SCHEMA_HEAD",
    "ImportResult",
    "PromptStore",
    "UnitOfWork",
    "VersionRef",
    "check_model",
    "check_parameters",
    "check_percent",
    "check_prompt",
    "check_reason",
    "create_store_engine",
    "sqlite_path",
    "translated_errors",
    "utcnow",
]
