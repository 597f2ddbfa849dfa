"""The store: the one writer of promptdeck.

- engine.py        engines and connection settings (SQLite pragmas, BEGIN IMMEDIATE)
- schema.py        the schema on open: Alembic migrations (migrations/) run from code
- tables.py        the tables, in SQLAlchemy Core (the schema migrations/ creates)
- rows.py          the ORM rows mapped onto them (only writers and sync touch them)
- reads.py         the plain reads, in Core: reading never loads the ORM
- identity.py      who acts on a store (resolved on every open)
- unit_of_work.py  one write transaction + revision bump, with the role checks, lookups,
                   pointer moves, version adds and audit events every writer uses
- api.py           PromptStore: the reads and writes UIs call
- transfer.py      import from and export to feature documents
- driver_errors.py driver errors turned into one-line StoreErrors
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Last: api.py looks create_store_engine up on this package, so tests can replace it.
from promptdeck.store.api import PromptStore
from promptdeck.store.clock import utcnow
from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.engine import NOTIFY_CHANNEL, create_store_engine, sqlite_path
from promptdeck.store.reads import VersionRef
from promptdeck.store.schema import SCHEMA_HEAD
from promptdeck.store.validation import (
    check_model,
    check_parameters,
    check_percent,
    check_prompt,
    check_reason,
)

if TYPE_CHECKING:
    from promptdeck.store.transfer import ImportResult
    from promptdeck.store.unit_of_work import UnitOfWork

# Loaded on first use: both import the ORM, which reading from a store never needs.
_LAZY = {
    "ImportResult": "promptdeck.store.transfer",
    "UnitOfWork": "promptdeck.store.unit_of_work",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
