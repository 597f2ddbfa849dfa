"""A backup that restores everything: every row of every table, history included.

Export writes what a team edits (features, versions, deployments); a backup is the whole
store as it is: the audit log, rollback stacks, roles, environments, reviews, suites,
check runs, metrics, sync bookkeeping and the store's identity and revision. It is one
JSON file read in one consistent snapshot, and restores only into an empty store of the
same schema, in one transaction: all of it, or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, Table, delete, func, select, text

from promptdeck.errors import ValidationError
from promptdeck.store.engine import WRITE_OPTION
from promptdeck.store.rows import Base, UTCDateTime
from promptdeck.store.schema import SCHEMA_HEAD

FORMAT = "promptdeck-backup"
FORMAT_VERSION = 1
# Rows every new store is born with; a restore replaces them with the backup's.
_BIRTH_TABLES = frozenset({"store_state", "store_identity", "environments", "store_settings"})


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)  # parents before children


def _encode(table: Table, row: RowMapping) -> list[Any]:
    values: list[Any] = []
    for column in table.columns:
        value = row[column.name]
        if isinstance(value, datetime):
            value = value.isoformat()
        values.append(value)
    return values


def _decode(table: Table, values: list[Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column, value in zip(table.columns, values, strict=True):
        if value is not None and isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
        row[column.name] = value
    return row


def dump(connection: Connection) -> dict[str, Any]:
    """Every row of every table, in a stable order (the caller holds one snapshot)."""
    tables: dict[str, Any] = {}
    for table in _tables():
        order = list(table.primary_key.columns) or list(table.columns)
        rows = connection.execute(select(table).order_by(*order)).mappings()
        tables[table.name] = {
            "columns": [c.name for c in table.columns],
            "rows": [_encode(table, row) for row in rows],
        }
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema": SCHEMA_HEAD,
        "tables": tables,
    }


def to_bytes(backup: Mapping[str, Any]) -> bytes:
    return json.dumps(backup, ensure_ascii=False, allow_nan=False).encode("utf-8")


def parse(data: bytes, source: str) -> dict[str, Any]:
    try:
        backup = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{source} is not a promptdeck backup: {exc}") from None
    if not isinstance(backup, dict) or backup.get("format") != FORMAT:
        raise ValidationError(f"{source} is not a promptdeck backup")
    if backup.get("format_version") != FORMAT_VERSION:
        raise ValidationError(
            f"{source} is a backup in format {backup.get('format_version')!r}; this "
            f"promptdeck reads format {FORMAT_VERSION}"
        )
    if backup.get("schema") != SCHEMA_HEAD:
        raise ValidationError(
            f"{source} was made with schema {backup.get('schema')!r}, this promptdeck has "
            f"{SCHEMA_HEAD}: restore it with the promptdeck that made it, then upgrade"
        )
    tables = backup.get("tables")
    if not isinstance(tables, dict):
        raise ValidationError(f"{source} is not a promptdeck backup: no tables")
    for table in _tables():
        entry = tables.get(table.name)
        if not isinstance(entry, dict) or entry.get("columns") != [c.name for c in table.columns]:
            raise ValidationError(f"{source}: table {table.name} does not match this schema")
        if not isinstance(entry.get("rows"), list) or not all(
            isinstance(r, list) and len(r) == len(table.columns) for r in entry["rows"]
        ):
            raise ValidationError(f"{source}: table {table.name} has malformed rows")
    return backup


def restore(engine: Engine, backup: Mapping[str, Any], source: str) -> int:
    """Write the backup into an empty store in one transaction; returns rows written."""
    written = 0
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            _refuse_unless_empty(connection, source)
            for table in reversed(_tables()):
                connection.execute(delete(table))
            for table in _tables():
                rows = [_decode(table, values) for values in backup["tables"][table.name]["rows"]]
                if rows:
                    connection.execute(table.insert(), rows)
                    written += len(rows)
            if connection.dialect.name == "postgresql":
                _advance_sequences(connection)
    return written


def _refuse_unless_empty(connection: Connection, source: str) -> None:
    for table in _tables():
        if table.name in _BIRTH_TABLES:
            continue
        if connection.scalar(select(func.count()).select_from(table)):
            raise ValidationError(
                f"cannot restore {source}: the store already holds data ({table.name}); "
                "restore into a new, empty store"
            )


def _advance_sequences(connection: Connection) -> None:
    """Rows came with their ids: serial sequences must continue after them."""
    for table in _tables():
        columns = [
            c
            for c in table.primary_key.columns
            if c.autoincrement is True or (c.name == "id" and len(table.primary_key.columns) == 1)
        ]
        for column in columns:
            sequence = connection.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": table.name, "c": column.name},
            )
            if sequence is None:
                continue
            connection.execute(
                text(
                    f"SELECT setval(:s, COALESCE((SELECT max({column.name}) FROM "
                    f"{table.name}), 0) + 1, false)"
                ),
                {"s": sequence},
            )
