"""Many rows into one table in as few statements as the backend allows, and many
values in one condition.

SQLAlchemy's executemany builds and processes a parameter dict per row, and on
PostgreSQL psycopg then sends one Bind/Execute per row: at the thousands of rows a
sync writes, that per-row cost was most of the run. Here PostgreSQL takes one array per
column (``INSERT ... SELECT FROM unnest(...)``): a short, constant statement text and
one round trip per chunk, parsed once by the server. SQLite takes the driver's own
executemany of plain tuples.

Values pass through each column type's bind processor first, as SQLAlchemy's insert
does, so what is stored is exactly what ``session.execute(insert(table), rows)`` would
store; a column a row leaves out takes its scalar Python default (else the database's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    any_,
    bindparam,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import QueryableAttribute, Session  # only callers that have one load it

# One PostgreSQL statement's rows and text at most. The text bound keeps a statement of
# large prompts (16 MB each at most) far below the server's 1 GB message limit and the
# memory both sides hold for it; a row larger than the bound goes alone.
ROWS_PER_STATEMENT = 5_000
CHARACTERS_PER_STATEMENT = 32 * 1024 * 1024
IN_CHUNK = 2000  # values per one_of(): a batch costs a constant number of queries

T = TypeVar("T")


def pg_array_type(column: Column[Any]) -> str:
    """The PostgreSQL array type a column's values travel in. Strings travel as text[]
    (an explicit cast to varchar(n) would truncate silently; the INSERT's assignment
    refuses an over-long value instead); JSON as text[], cast per value."""
    column_type = column.type
    if isinstance(column_type, String | JSON):
        return "text[]"
    if isinstance(column_type, Float):
        return "float8[]"
    if isinstance(column_type, BigInteger):
        return "int8[]"
    if isinstance(column_type, Integer):
        return "int4[]"
    if isinstance(column_type, Boolean):
        return "bool[]"
    if isinstance(column_type, DateTime) or isinstance(
        getattr(column_type, "impl_instance", None), DateTime
    ):
        return "timestamptz[]" if getattr(column_type, "timezone", False) else "timestamp[]"
    raise TypeError(f"no array type for {column.table.name}.{column.name} ({column_type})")


def _quoted(name: str) -> str:
    return f'"{name}"'


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys) into ``table``."""
    if not rows:
        return
    dialect = connection.dialect
    given = rows[0].keys()
    columns = [
        column
        for column in table.columns
        if column.name in given or _scalar_default(column) is not None
    ]
    names = ", ".join(_quoted(column.name) for column in columns)
    values = [_column_values(connection, column, rows) for column in columns]
    if dialect.name == "postgresql":
        arrays = ", ".join(f"%b::{pg_array_type(column)}" for column in columns)
        selected = ", ".join(
            f"{_quoted(column.name)}::json"
            if isinstance(column.type, JSON)
            else _quoted(column.name)
            for column in columns
        )
        sql = (
            f"INSERT INTO {table.name} ({names}) SELECT {selected} "
            f"FROM unnest({arrays}) AS given({names})"
        )
        text = [v for column, v in zip(columns, values, strict=True) if _travels_as_text(column)]
        sizes = _text_sizes(len(rows), text)
        for start, end in spans(sizes, ROWS_PER_STATEMENT, CHARACTERS_PER_STATEMENT):
            connection.exec_driver_sql(sql, tuple(column[start:end] for column in values))
    else:
        placeholders = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})"
        connection.exec_driver_sql(sql, list(zip(*values, strict=True)))


def _travels_as_text(column: Column[Any]) -> bool:
    return pg_array_type(column) == "text[]"


def spans(sizes: Sequence[int], most_rows: int, most_characters: int) -> list[tuple[int, int]]:
    """Consecutive (start, end) runs of rows, each of ``most_rows`` rows at most and at
    most ``most_characters`` of text in ``sizes`` (one row larger than that goes alone)."""
    found: list[tuple[int, int]] = []
    start, held = 0, 0
    for row, size in enumerate(sizes):
        if row > start and (row - start >= most_rows or held + size > most_characters):
            found.append((start, row))
            start, held = row, 0
        held += size
    found.append((start, len(sizes)))
    return found


def _text_sizes(count: int, text_columns: Sequence[list[Any]]) -> list[int]:
    sizes = [0] * count
    for column in text_columns:
        for row, value in enumerate(column):
            if value:
                sizes[row] += len(value)
    return sizes


def _scalar_default(column: Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    if not default.is_scalar:
        raise TypeError(f"{column.table.name}.{column.name} has a default insert_rows cannot give")
    return default.arg  # type: ignore[attr-defined]


def _column_values(
    connection: Connection, column: Column[Any], rows: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """One column's values, bound as SQLAlchemy would bind them on this connection."""
    name = column.name
    default = _scalar_default(column)
    raw = (
        [row.get(name, default) for row in rows]
        if default is not None
        else [row[name] for row in rows]
    )
    if isinstance(column.type, JSON) and connection.dialect.name == "postgresql":
        serialize: Callable[[Any], str] = (
            getattr(connection.dialect, "_json_serializer", None) or json.dumps
        )
        # None is JSON null, as SQLAlchemy's JSON type stores it (none_as_null=False).
        return [serialize(value) for value in raw]
    process = column.type.bind_processor(connection.dialect)
    if process is None:
        return raw
    return [process(value) for value in raw]


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of ``size`` at most (IN_CHUNK: one one_of() each)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def one_of(
    bind: Session | Connection,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    values: Collection[Any],
) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)``, one parameter.
    psycopg parses a statement's placeholders on every run it cannot cache, and an IN
    list of thousands was parsed anew each time: tens of milliseconds a sync. Strings
    compare as text, never cast to the column's varchar(n) (which would truncate)."""
    dialect = bind.dialect if isinstance(bind, Connection) else bind.get_bind().dialect
    expression = column if isinstance(column, ColumnElement) else column.__clause_element__()
    if dialect.name != "postgresql":
        return expression.in_(values)
    element: Any = Text() if isinstance(expression.type, String) else expression.type
    return expression == any_(bindparam(None, list(values), type_=ARRAY(element)))
