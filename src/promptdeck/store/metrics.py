"""``store.metrics``: outcome aggregates added to the store, and read back for statistics.

Writes are additive upserts, never read-modify-write in the application, so any number
of processes add to the same keys without losing a count::

    INSERT INTO metric_buckets (...) VALUES (...), (...)
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

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from promptdeck.errors import StoreError
from promptdeck.metrics.aggregate import (
    ADDITIVE_COLUMNS,
    OR_COLUMNS,
    AggregateRow,
    Moments,
    merge_rows,
)
from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.engine import WRITE_OPTION
from promptdeck.store.rows import (
    METRIC_KEY,
    StoreIdentityRow,
    metric_buckets,
    metric_latency,
    metric_scores,
)

__all__ = ["MetricsStore"]

_RETRIES = 3  # deadlock / serialization failure: retried, the batch is unchanged
_ROW_KEY = METRIC_KEY[1:]  # feature, environment, version_uid, bucket_start
# Transient PostgreSQL states worth one more try: serialization failure, deadlock.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


_STATEMENTS: dict[tuple[str, str], Any] = {}  # (dialect, table) -> the built upsert


def _upsert_statement(dialect: str, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE adding (or OR-ing) into the existing row; built
    once per dialect and table (building it costs more than running it)."""
    cached = _STATEMENTS.get((dialect, table.name))
    if cached is not None:
        return cached
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    excluded = statement.excluded
    key = {column.name for column in table.primary_key.columns}
    updates: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        if name in key or name == "version":
            continue
        if name in OR_COLUMNS:
            updates[name] = column.op("|")(excluded[name])
        else:
            updates[name] = column + excluded[name]
    built = statement.on_conflict_do_update(index_elements=sorted(key), set_=updates)
    _STATEMENTS[(dialect, table.name)] = built
    return built


def _upsert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``, adding (or OR-ing) into the rows whose key exists."""
    if rows:
        connection.execute(_upsert_statement(connection.dialect.name, table), rows)


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
        uid = connection.scalar(select(StoreIdentityRow.uid).where(StoreIdentityRow.id == 1))
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
            if connection.dialect.name == "postgresql":
                # The runtime's engine reads in autocommit: this batch is one transaction.
                connection = connection.execution_options(isolation_level="READ COMMITTED")
            else:
                connection = connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                if self._origin is None:
                    self._origin = self._read_origin(connection)
                origin = self._origin
                buckets: list[dict[str, Any]] = []
                latency: list[dict[str, Any]] = []
                scores: list[dict[str, Any]] = []
                for row in merged:
                    key = {"origin": origin, **dict(zip(_ROW_KEY, row.key, strict=True))}
                    buckets.append({**row.columns(), "origin": origin})
                    latency.extend(
                        {**key, "bucket": bucket, "count": count}
                        for bucket, count in sorted(row.latency_histogram.items())
                    )
                    scores.extend(
                        {**key, "name": name, "count": m.count, "sum": m.sum, "sumsq": m.sumsq}
                        for name, m in sorted(row.scores.items())
                    )
                _upsert(connection, metric_buckets, buckets)
                _upsert(connection, metric_latency, latency)
                _upsert(connection, metric_scores, scores)

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
assert set(ADDITIVE_COLUMNS) | set(OR_COLUMNS) <= set(metric_buckets.c.keys())
