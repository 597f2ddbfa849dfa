"""Rows checked against the columns they are going into, before a sync writes them.

A SQLite store can hold what PostgreSQL refuses (a version number past 2^31 - 1, an
author longer than its column, a NUL character): without this check a push fails on
the remote with the driver's "integer out of range", naming no feature or version
(issue 14). The limits are read from the table definitions themselves, so they are
the remote's, whatever the local backend let in.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Table

INT32 = 2**31 - 1
INT64 = 2**63 - 1


@cache
def _limits(table: Table) -> dict[str, tuple[int | None, int | None]]:
    """Per column: (largest integer, longest string), None where not limited."""
    limits: dict[str, tuple[int | None, int | None]] = {}
    for column in table.c:
        kind = column.type
        largest = INT64 if isinstance(kind, BigInteger) else INT32
        limits[column.name] = (
            largest if isinstance(kind, Integer) else None,
            kind.length if isinstance(kind, String) and kind.length else None,
        )
    return limits


def misfit(table: Table, row: Mapping[str, Any]) -> str | None:
    """Why ``row`` cannot be stored in ``table`` on every backend, or None."""
    limits = _limits(table)
    for name, value in row.items():
        if value is None or name not in limits:
            continue
        largest, longest = limits[name]
        if isinstance(value, str):
            if "\x00" in value:
                return f"{name} holds a NUL character"
            if longest is not None and len(value) > longest:
                return f"{name} is {len(value)} characters long (at most {longest})"
        elif (
            largest is not None
            and isinstance(value, int)
            and not isinstance(value, bool)
            and not -largest - 1 <= value <= largest
        ):
            return f"{name} {value} is out of range (at most {largest})"
    return None
