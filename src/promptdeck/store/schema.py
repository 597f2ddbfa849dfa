"""The schema on open: migrate with Alembic from code, refuse a newer or foreign one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect, text

from promptdeck.config import redact
from promptdeck.errors import StoreError
from promptdeck.store.engine import WRITE_OPTION, enable_wal

# The newest migration this code knows. A test checks it against migrations/.
SCHEMA_HEAD = "0003"
SCRIPT_LOCATION = "promptdeck.store:migrations"


def migrate(engine: Engine, url: str, *, upgrade: bool = True) -> None:
    """Bring the schema to SCHEMA_HEAD (or, ``upgrade=False``, refuse an older one)."""
    shown = redact(url)
    with engine.connect() as connection:
        current = read_schema_revision(connection)
    if current == SCHEMA_HEAD:
        return
    # Imported here: opening an up-to-date store (the common case, and the runtime
    # library's) does not pay for loading Alembic.
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    script = ScriptDirectory.from_config(config)
    if not upgrade:
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise StoreError(
                f"the store {shown} has schema {current}, newer than this promptdeck "
                f"knows ({SCHEMA_HEAD}); upgrade promptdeck to read it"
            )
        raise StoreError(
            f"the store {shown} has schema {current or 'none'}, not "
            f"{SCHEMA_HEAD}; migrate it with `promptdeck --db URL init`"
        )
    if current is None:
        refuse_foreign_database(engine, url)
        enable_wal(engine, url)
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            current = read_schema_revision(connection)
            if current is not None and current not in {
                rev.revision for rev in script.walk_revisions()
            }:
                raise StoreError(
                    f"the store {shown} has schema {current}, newer than this "
                    f"promptdeck knows ({SCHEMA_HEAD}); upgrade promptdeck to use it"
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def refuse_foreign_database(engine: Engine, url: str) -> None:
    """A database with tables but no promptdeck schema is someone else's: leave it."""
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
    # alembic_version present: another process has just created the schema.
    if tables and "alembic_version" not in tables:
        raise StoreError(
            f"{redact(url)} is not a promptdeck store: it holds other tables "
            f"({', '.join(sorted(tables)[:3])}{', ...' if len(tables) > 3 else ''})"
        )


def read_schema_revision(connection: Any) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None
