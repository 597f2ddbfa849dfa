"""Rows checked against the columns they are going into, before a sync writes them.

A SQLite store can hold what PostgreSQL refuses (a version number past 2^31 - 1, an
author longer than its column, a NUL character): without this check a push fails on
the remote with the driver's "integer out of range", naming no feature or version
(issue 14). The limits are read from the table definitions themselves, so they are
the remote's, whatever the local backend let in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Table

INT32 = 2**31 - 1
INT64 = 2**63 - 1


def misfit(table: Table, row: Mapping[str, Any]) -> str | None:
    """Why ``row`` cannot be stored in ``table`` on every backend, or None."""
    for name, value in row.items():
        column = table.c.get(name)
        if column is None or value is None:
            continue
        kind = column.type
        if isinstance(value, int) and not isinstance(value, bool):
            limit = INT64 if isinstance(kind, BigInteger) else INT32
            if isinstance(kind, Integer) and not -limit - 1 <= value <= limit:
                return f"{name} {value} is out of range (at most {limit})"
        elif isinstance(value, str):
            if "\x00" in value:
                return f"{name} holds a NUL character"
            if isinstance(kind, String) and kind.length and len(value) > kind.length:
                return f"{name} is {len(value)} characters long (at most {kind.length})"
    return None
