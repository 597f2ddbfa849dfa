"""Engines with promptdeck's connection settings: SQLite pragmas and BEGIN IMMEDIATE
for writers, pre-ping for server databases."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from promptdeck.config import redact
from promptdeck.errors import StoreError

# PostgreSQL stores NOTIFY this channel with the new revision after every write.
NOTIFY_CHANNEL = "promptdeck"
# The execution option a write transaction sets: SQLite then begins with IMMEDIATE.
WRITE_OPTION = "promptdeck_write"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None  # create_store_engine reports the bad URL
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def read_only_url(path: Path) -> str | None:
    """A URL that reads the SQLite file at ``path`` where its directory cannot be
    written (a read-only directory or filesystem); None where it can.

    WAL needs a ``-shm`` file beside the database, which such a directory cannot hold:
    with no pending WAL content the file is opened immutable (no locks, no ``-shm``);
    with a WAL left behind, read-only, which SQLite can do once ``-shm`` exists.
    """
    if not path.exists() or os.access(path.parent, os.W_OK):
        return None
    wal = path.with_name(path.name + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    options = "mode=ro" if pending else "mode=ro&immutable=1"
    return f"sqlite:///file:{quote(str(path))}?{options}&uri=true"


def create_store_engine(url: str, options: Mapping[str, Any] | None = None) -> Engine:
    """An engine with promptdeck's connection settings for the URL's backend."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError(f"not a database URL or path: {redact(url)}") from None
    if parsed.get_backend_name() == "sqlite":
        in_memory = sqlite_path(url) is None
        engine = create_engine(
            parsed,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=StaticPool if in_memory else None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transactions over from pysqlite so BEGIN is ours (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not in_memory:
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Writers take the lock before reading the next version number.
            immediate = connection.get_execution_options().get(WRITE_OPTION, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    try:
        return create_engine(parsed, **{"pool_pre_ping": True, **(options or {})})
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database {redact(url)}: {exc}") from None


def enable_wal(engine: Engine, url: str) -> None:
    """WAL is a property of the file: set once, when promptdeck creates its schema,
    outside any transaction (SQLite cannot switch journal mode inside one)."""
    if sqlite_path(url) is None:
        return
    # Processes opening one new file at once race here: switching the journal mode can
    # fail at once as locked, without waiting on the busy timeout. Try again briefly;
    # should it still fail, the process creating the schema sets WAL itself.
    for _attempt in range(50):
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA journal_mode = WAL")  # type: ignore[union-attr]
            return
        except sqlite3.Error as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                # A full disk, a read-only directory: one line, not a driver traceback.
                raise StoreError(f"cannot set up the store {redact(url)}: {exc}") from None
        finally:
            raw.close()
        time.sleep(0.05)
