"""The schema on open: migrate with Alembic from code, refuse a newer or foreign one.

promptdeck keeps its migration bookkeeping in its own table, ``promptdeck_schema``
(Alembic's ``version_table``), which is also what marks a database as a promptdeck
store. Stores made before that kept it in ``alembic_version``; they are recognised by
promptdeck's own tables beside a revision promptdeck wrote, and moved over on open.
Anything else (another application's ``alembic_version``, an empty one, other tables)
is refused and left untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url

from promptdeck.config import redact
from promptdeck.errors import StoreError
from promptdeck.store.engine import WRITE_OPTION, enable_wal

# The newest migration this code knows, and all of them. A test checks both against
# migrations/ (kept here so that opening a store never loads Alembic's script files).
SCHEMA_HEAD = "0003"
KNOWN_REVISIONS = ("0001", "0002", "0003")
SCRIPT_LOCATION = "promptdeck.store:migrations"
VERSION_TABLE = "promptdeck_schema"
LEGACY_VERSION_TABLE = "alembic_version"
# Tables every promptdeck schema since 0001 has: how a store from before the marker
# table is told apart from another application that also uses Alembic.
PROMPTDECK_TABLES = frozenset(
    {"features", "versions", "deployments", "rollback_stack", "audit_events", "store_state"}
)
# pg_advisory_xact_lock key: processes creating one empty PostgreSQL store take turns.
CREATION_LOCK = 0x70726F6D7074  # "prompt"


def migrate(
    engine: Engine,
    url: str,
    *,
    upgrade: bool = True,
    new: bool = True,
    then: Callable[[Connection], object] | None = None,
) -> None:
    """Bring the schema to SCHEMA_HEAD (or, ``upgrade=False``, refuse an older one).

    ``new=False`` refuses a database holding no store (a typo in its name is enough),
    naming it and ``init``. ``then`` runs in the same transaction once the schema is at
    head (``init`` on PostgreSQL: the roles and GRANTs), so a new store is never seen
    without them."""
    shown = redact(url)
    with engine.connect() as connection:
        current = read_schema_revision(connection)
        if current is None and not new:
            database = make_url(url).database or "?"
            raise StoreError(
                f"database {database!r} at {shown} holds no promptdeck store; "
                f"create one with `promptdeck --db URL init`"
            )
        if current is None:
            refuse_foreign_database(connection, url)
        legacy = current is not None and not inspect(connection).has_table(VERSION_TABLE)
    if current == SCHEMA_HEAD and (not legacy or not upgrade) and then is None:
        return
    if current is not None and current not in KNOWN_REVISIONS:
        raise StoreError(_newer(shown, current))
    if not upgrade:
        raise StoreError(
            f"the store {shown} has schema {current or 'none'}, not {SCHEMA_HEAD}; "
            f"migrate it with `promptdeck --db URL init`"
        )
    # Imported here: opening an up-to-date store (the common case, and the runtime
    # library's) does not pay for loading Alembic.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if current is None:
        enable_wal(engine, url)
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # CREATE TYPE/TABLE race on an empty database: one creator at a time.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": CREATION_LOCK}
                )
            # Read again under the lock: another process may have migrated meanwhile.
            current = read_schema_revision(connection)
            if current is None:
                refuse_foreign_database(connection, url)
            elif current not in KNOWN_REVISIONS:
                raise StoreError(_newer(shown, current))
            _adopt_legacy_bookkeeping(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            if then is not None:
                then(connection)


def _newer(shown: str, revision: str) -> str:
    return (
        f"the store {shown} has schema {revision}, newer than this promptdeck knows "
        f"({SCHEMA_HEAD}); upgrade promptdeck to use it"
    )


def _adopt_legacy_bookkeeping(connection: Any) -> None:
    """A store from before ``promptdeck_schema``: move its revision into it."""
    inspector = inspect(connection)
    if inspector.has_table(VERSION_TABLE) or not _is_legacy_store(connection):
        return
    revision = _legacy_revision(connection)
    connection.execute(
        text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    )
    connection.execute(text(f"INSERT INTO {VERSION_TABLE} VALUES (:v)"), {"v": revision})
    connection.execute(text(f"DROP TABLE {LEGACY_VERSION_TABLE}"))


def _legacy_revision(connection: Any) -> str | None:
    rows = connection.execute(text(f"SELECT version_num FROM {LEGACY_VERSION_TABLE}")).all()
    return str(rows[0][0]) if len(rows) == 1 else None


def _is_legacy_store(connection: Any) -> bool:
    """promptdeck's tables beside an ``alembic_version`` holding a revision it wrote."""
    tables = set(inspect(connection).get_table_names())
    if LEGACY_VERSION_TABLE not in tables or not tables >= PROMPTDECK_TABLES:
        return False
    return _legacy_revision(connection) in KNOWN_REVISIONS


def refuse_foreign_database(connection: Any, url: str) -> None:
    """A database with tables but no promptdeck marker is someone else's: leave it."""
    tables = sorted(inspect(connection).get_table_names())
    if not tables:
        return
    listed = f"{', '.join(tables[:3])}{', ...' if len(tables) > 3 else ''}"
    if LEGACY_VERSION_TABLE in tables:
        revision = _legacy_revision(connection)
        if revision is None:
            raise StoreError(
                f"{redact(url)} is not a promptdeck store: it holds an empty "
                f"alembic_version table of another application ({listed}); leaving it alone"
            )
        raise StoreError(
            f"{redact(url)} is not a promptdeck store: it holds another application's "
            f"tables ({listed}) at its Alembic revision {revision}; leaving it alone"
        )
    raise StoreError(f"{redact(url)} is not a promptdeck store: it holds other tables ({listed})")


def read_schema_revision(connection: Any) -> str | None:
    """promptdeck's schema revision: from its own table, else (a store from before the
    marker) from ``alembic_version`` beside promptdeck's tables; None for anything else."""
    inspector = inspect(connection)
    if inspector.has_table(VERSION_TABLE):
        value = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        return str(value) if value is not None else None
    if _is_legacy_store(connection):
        return _legacy_revision(connection)
    return None
