"""``store.metrics``: outcome aggregates added to the store, and read back for statistics.

Writes are additive upserts, never read-modify-write in the application, so any number
of processes add to the same keys without losing a count. A batch is one multi-row
statement per table (chunked at 500 rows), whatever the number of keys::

    INSERT INTO metric_buckets (...) VALUES (...), (...), ...
    ON CONFLICT (origin, feature, environment, version_uid, bucket_start) DO UPDATE SET
        count = metric_buckets.count + excluded.count, ...,
        users_0 = metric_buckets.users_0 | excluded.users_0, ...

One batch is one short transaction of its own (all or nothing: the recorder resends a
failed batch whole). It is deliberately *not* a unit of work: a unit bumps the store
revision, which every runtime process polls, and a metrics flush must not make a fleet
reload its prompts. Rows go in key order, so two batches touching the same keys lock
them in the same order and cannot deadlock each other; a deadlock or serialization
failure reported anyway is retried a few times.

Each row carries ``origin``, the uid of the store it was recorded in (store_identity):
sync copies another store's rows by replacing them under that origin, so nothing is
counted twice. Reads add the origins up.

The runtime's read-only database login needs INSERT and UPDATE on ``metric_buckets``,
``metric_latency`` and ``metric_scores`` (and SELECT on ``store_identity``).
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Float, Table, select
from sqlalchemy.exc import OperationalError

from promptdeck.errors import StoreError
from promptdeck.metrics.aggregate import (
    ADDITIVE_COLUMNS,
    INFO_COLUMNS,
    KEY_COLUMNS,
    OR_COLUMNS,
    AggregateRow,
    Moments,
    merge_rows,
)
from promptdeck.store.bulk import pg_array_type
from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.engine import WRITE_OPTION
from promptdeck.store.tables_rest import (  # Core tables: recording never loads the ORM
    METRIC_KEY,
    metric_buckets,
    metric_latency,
    metric_scores,
    store_identity,
)

__all__ = ["MetricsStore", "table_rows"]

_RETRIES = 3  # deadlock / serialization failure: retried, the batch is unchanged
# metric_buckets' columns after origin, in table order: what AggregateRow.columns() gives.
_BUCKET_COLUMNS = tuple(column.name for column in metric_buckets.columns)[1:]
# Transient PostgreSQL states worth one more try: serialization failure, deadlock.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


# PostgreSQL: one statement per table takes the batch as one array per column
# (INSERT ... SELECT FROM unnest(...)): a short, constant text whatever the row count,
# so neither the driver nor the server parses thousands of placeholders; chunked only
# to bound one statement's memory. SQLite: multi-row VALUES, chunked below its
# parameter limit (32,766 since 3.32; 999 before).
_PG_ROWS_PER_STATEMENT = 20_000
_SQLITE_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_SQLITE_ROWS_PER_STATEMENT = 500  # larger statements gain nothing measurable


def _quoted(name: str) -> str:
    return f'"{name}"'


@functools.lru_cache(maxsize=32)  # a few shapes recur: full chunks, small batches
def _upsert_sql(dialect: str, table: Table, rows: int) -> str:
    """INSERT ... ON CONFLICT DO UPDATE adding (or OR-ing) into the existing rows, as
    driver SQL (compiling it through SQLAlchemy would cost more than running it).
    ``rows`` is the VALUES row count for SQLite; PostgreSQL's text does not depend on it.
    """
    columns = [column.name for column in table.columns]
    key = [column.name for column in table.primary_key.columns]
    updates = ", ".join(
        f"{_quoted(name)} = {table.name}.{_quoted(name)} "
        f"{'|' if name in OR_COLUMNS else '+'} excluded.{_quoted(name)}"
        for name in columns
        if name not in key and name != "version"
    )
    if dialect == "postgresql":
        arrays = ", ".join(f"%b::{pg_array_type(column)}" for column in table.columns)
        source = f"SELECT * FROM unnest({arrays})"
    else:
        one_row = "(" + ", ".join(["?"] * len(columns)) + ")"
        source = f"VALUES {', '.join([one_row] * rows)}"
    return (
        f"INSERT INTO {table.name} ({', '.join(map(_quoted, columns))}) {source} "
        f"ON CONFLICT ({', '.join(map(_quoted, key))}) DO UPDATE SET {updates}"
    )


@functools.lru_cache(maxsize=1)
def _pg_one_statement_sql() -> str:
    """The three upserts as ONE statement (two data-modifying CTEs and the main INSERT):
    in autocommit it is a transaction of its own, all or nothing, in one round trip
    instead of BEGIN, three statements and COMMIT."""
    first, second, last = (
        _upsert_sql("postgresql", table, 0)
        for table in (metric_buckets, metric_latency, metric_scores)
    )
    return f"WITH added_buckets AS ({first}), added_latency AS ({second}) {last}"


def _pg_arrays(table: Table, rows: list[tuple[Any, ...]]) -> tuple[list[Any], ...]:
    """One list per column of ``table``. A float column's list holds floats only: a sum
    can be an int (whole-number scores, token counts) and the driver refuses to send a
    list of mixed types as one array."""
    if not rows:
        return tuple([] for _ in table.columns)
    columns = zip(*rows, strict=True)
    return tuple(
        [float(value) for value in values] if isinstance(column.type, Float) else list(values)
        for column, values in zip(table.columns, columns, strict=True)
    )


def rows_per_statement(dialect: str, table: Table) -> int:
    """The most rows of ``table`` one upsert statement carries on ``dialect``."""
    if dialect == "postgresql":
        return _PG_ROWS_PER_STATEMENT
    return min(_SQLITE_ROWS_PER_STATEMENT, _SQLITE_PARAMETERS // len(table.columns))


def _upsert(connection: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values in the table's column order, distinct keys, sorted),
    adding (or OR-ing) into the rows whose key exists: one statement per chunk."""
    dialect = connection.dialect.name
    chunk = rows_per_statement(dialect, table)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        if dialect == "postgresql":
            parameters: tuple[Any, ...] = _pg_arrays(table, part)
            sql = _upsert_sql(dialect, table, 0)
        else:
            parameters = tuple(value for row in part for value in row)
            sql = _upsert_sql(dialect, table, len(part))
        connection.exec_driver_sql(sql, parameters)


def table_rows(origin: str, merged: list[AggregateRow]) -> dict[Table, list[tuple[Any, ...]]]:
    """The rows of each metric table for a merged batch, values in column order."""
    buckets: list[tuple[Any, ...]] = []
    latency: list[tuple[Any, ...]] = []
    scores: list[tuple[Any, ...]] = []
    for row in merged:  # sorted by key: every batch locks keys in one order
        key = (origin, *row.key)
        columns = row.columns()
        buckets.append((origin, *(columns[name] for name in _BUCKET_COLUMNS)))
        latency.extend(
            (*key, bucket, count) for bucket, count in sorted(row.latency_histogram.items())
        )
        scores.extend(
            (*key, name, m.count, m.sum, m.sumsq) for name, m in sorted(row.scores.items())
        )
    return {metric_buckets: buckets, metric_latency: latency, metric_scores: scores}


def _is_transient(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES


class MetricsStore:
    """Adds aggregate rows to a store and reads them back (``PromptStore.metrics``)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._url = url
        self._origin: str | None = None

    # -- writing ---------------------------------------------------------------------------

    def origin(self) -> str:
        """This store's uid: the ``origin`` of every row recorded here (read once)."""
        if self._origin is None:
            with translated_errors(self._url), self._engine.connect() as connection:
                self._origin = self._read_origin(connection)
        return self._origin

    @staticmethod
    def _read_origin(connection: Connection) -> str:
        uid = connection.scalar(select(store_identity.c.uid).where(store_identity.c.id == 1))
        if not uid:
            raise StoreError("the store has no identity; open it once with promptdeck to set it")
        return str(uid)

    def add(self, rows: Sequence[AggregateRow]) -> None:
        """Add one batch in one transaction: every row, or nothing (then it raises)."""
        merged = merge_rows(rows)  # one row per key, sorted: a statement touches a key once
        if not merged:
            return
        with translated_errors(self._url):
            for attempt in range(_RETRIES):
                try:
                    self._add_once(merged)
                    return
                except OperationalError as exc:
                    if attempt + 1 == _RETRIES or not _is_transient(exc):
                        raise
                    time.sleep(0.01 * (attempt + 1))

    def _add_once(self, merged: list[AggregateRow]) -> None:
        with self._engine.connect() as connection:
            if self._origin is None:
                self._origin = self._read_origin(connection)
                connection.rollback()  # the write below picks its own transaction mode
            tables = table_rows(self._origin, merged)
            if connection.dialect.name == "postgresql":
                if all(len(values) <= _PG_ROWS_PER_STATEMENT for values in tables.values()):
                    # One statement, one transaction, one round trip.
                    single = connection.execution_options(isolation_level="AUTOCOMMIT")
                    parameters = tuple(
                        array
                        for table, values in tables.items()
                        for array in _pg_arrays(table, values)
                    )
                    single.exec_driver_sql(_pg_one_statement_sql(), parameters)
                    return
                # The runtime's engine reads in autocommit: this batch is one transaction.
                connection = connection.execution_options(isolation_level="READ COMMITTED")
            else:
                connection = connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                for table, values in tables.items():
                    _upsert(connection, table, values)

    # -- reading ---------------------------------------------------------------------------

    def rows(
        self,
        feature: str | None = None,
        *,
        environment: str | None = None,
        version_uids: Iterable[str] | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[AggregateRow]:
        """The rows matching every filter given, origins added up, sorted by key.

        ``since``/``until`` are seconds since the epoch: buckets that start at or after
        ``since`` and before ``until``.
        """
        uids = None if version_uids is None else sorted(set(version_uids))
        if uids == []:
            return []

        def where(table: Table) -> list[Any]:
            clauses: list[Any] = []
            if feature is not None:
                clauses.append(table.c.feature == feature)
            if environment is not None:
                clauses.append(table.c.environment == environment)
            if uids is not None:
                clauses.append(table.c.version_uid.in_(uids))
            if since is not None:
                clauses.append(table.c.bucket_start >= since)
            if until is not None:
                clauses.append(table.c.bucket_start < until)
            return clauses

        with (
            translated_errors(self._url),
            self._engine.connect() as connection,
            connection.begin(),
        ):
            buckets = connection.execute(
                select(metric_buckets).where(*where(metric_buckets))
            ).mappings()
            by_key: dict[tuple[Any, ...], dict[str, Any]] = {
                tuple(record[name] for name in METRIC_KEY): dict(record) for record in buckets
            }
            histograms: dict[tuple[Any, ...], dict[int, int]] = {}
            for record in connection.execute(
                select(metric_latency).where(*where(metric_latency))
            ).mappings():
                key = tuple(record[name] for name in METRIC_KEY)
                histograms.setdefault(key, {})[int(record["bucket"])] = int(record["count"])
            score_sets: dict[tuple[Any, ...], dict[str, Moments]] = {}
            for record in connection.execute(
                select(metric_scores).where(*where(metric_scores))
            ).mappings():
                key = tuple(record[name] for name in METRIC_KEY)
                score_sets.setdefault(key, {})[str(record["name"])] = Moments(
                    int(record["count"]), float(record["sum"]), float(record["sumsq"])
                )
        return merge_rows(
            AggregateRow.from_columns(columns, histograms.get(key), score_sets.get(key))
            for key, columns in by_key.items()
        )


# The columns every batch adds; kept beside the upsert so a schema change shows up here.
assert (*KEY_COLUMNS, *INFO_COLUMNS, *ADDITIVE_COLUMNS, *OR_COLUMNS) == _BUCKET_COLUMNS
assert [c.name for c in metric_latency.columns] == [*METRIC_KEY, "bucket", "count"]
assert [c.name for c in metric_scores.columns] == [*METRIC_KEY, "name", "count", "sum", "sumsq"]
