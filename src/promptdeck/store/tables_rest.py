"""The store's other tables, declared with SQLAlchemy Core on tables.py's ``metadata``:
sync bookkeeping, reviews, suites, check runs and metrics.

Plain reads (store/reads.py) never touch these, so they are declared apart: a command
that only reads does not pay for declaring them. rows.py imports this module, so the
metadata is complete wherever the ORM, backup and migrations use it. No logic here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from promptdeck.store.tables import UTCDateTime, metadata, optional, reference, required, table_id

# --- sync bookkeeping (migration 0002) ------------------------------------------------

# One row: a random id given to the store once, so sync can tell stores apart.
store_identity = Table(
    "store_identity",
    metadata,
    table_id(),
    required("uid", String(36)),
)

# Per remote this store syncs with: where both sides stood after the last sync.
sync_remotes = Table(
    "sync_remotes",
    metadata,
    # sha256 of the remote's redacted URL: the password never reaches the store.
    Column("key", String(64), primary_key=True),
    required("url", Text()),
    required("remote_uid", String(36)),
    required("local_revision", Integer()),
    required("remote_revision", Integer()),
    # The newest local audit event id already accounted for (for pending-change counts).
    required("local_audit_id", Integer()),
    # Local changes left unsent by the last sync (conflicts, refusals, pull-only runs).
    required("pending", Integer()),
    # True when the last sync left both sides identical (versions and pointers).
    required("clean", Boolean()),
    required("synced_at", UTCDateTime()),
)

# Active and canary of one feature/environment on both sides at the last sync.
sync_pointers = Table(
    "sync_pointers",
    metadata,
    Column("remote_key", String(64), ForeignKey("sync_remotes.key"), primary_key=True),
    Column("feature", String(200), primary_key=True),
    Column("environment", String(100), primary_key=True),
    optional("local_active", String(36)),
    optional("local_canary", String(36)),
    required("local_percent", Integer()),
    optional("remote_active", String(36)),
    optional("remote_canary", String(36)),
    required("remote_percent", Integer()),
)

# --- reviews, checks and metrics (migration 0003) -------------------------------------

# Append-only: a review request, an approval or a rejection of one version.
reviews = Table(
    "reviews",
    metadata,
    table_id(),
    required("uid", String(36), unique=True),
    reference("version_id", "versions.id", index=True),
    required("kind", String(10)),  # request | approve | reject
    required("actor", String(200)),
    required("comment", Text()),
    required("created_at", UTCDateTime()),
)

# Append-only: one revision of a feature's behavioural suite (its cases as data).
suites = Table(
    "suites",
    metadata,
    table_id(),
    required("uid", String(36), unique=True),
    reference("feature_id", "features.id"),
    required("number", Integer()),
    required("body", JSON()),
    required("content_hash", String(64)),
    required("author", String(200)),
    required("reason", Text()),
    required("created_at", UTCDateTime()),
    UniqueConstraint("feature_id", "number", name="uq_suites_feature_number"),
)

# Append-only: one run of a suite against a version, with every answer and verdict.
check_runs = Table(
    "check_runs",
    metadata,
    table_id(),
    required("uid", String(36), unique=True),
    reference("version_id", "versions.id", index=True),
    optional("suite_uid", String(36)),
    required("model", String(200)),
    required("status", String(10)),  # passed | failed | error
    required("runner", String(200)),
    required("started_at", UTCDateTime()),
    required("finished_at", UTCDateTime()),
    required("summary", JSON()),
    required("results", JSON()),
)

# Metrics are written by Core upserts that add (never read-modify-write), so they have
# no ORM class. Rows are keyed by the store they were recorded in (origin): sync copies
# another store's rows by replacing, so nothing counts twice.
METRIC_KEY = ("origin", "feature", "environment", "version_uid", "bucket_start")
METRIC_MEASURES = ("cost", "tokens_in", "tokens_out", "latency_ms")
USER_SKETCH_WORDS = 16


def _metric_key_columns() -> list[Column[Any]]:
    return [
        Column("origin", String(36), nullable=False),
        Column("feature", String(200), nullable=False),
        Column("environment", String(100), nullable=False),
        Column("version_uid", String(36), nullable=False),
        Column("bucket_start", BigInteger(), nullable=False),
    ]


metric_buckets = Table(
    "metric_buckets",
    metadata,
    *_metric_key_columns(),
    Column("version", Integer(), nullable=False),
    Column("count", BigInteger(), nullable=False),
    Column("successes", BigInteger(), nullable=False),
    Column("failures", BigInteger(), nullable=False),
    *[
        Column(f"{measure}_{part}", BigInteger() if part == "count" else Float(), nullable=False)
        for measure in METRIC_MEASURES
        for part in ("count", "sum", "sumsq")
    ],
    *[Column(f"users_{i}", BigInteger(), nullable=False) for i in range(USER_SKETCH_WORDS)],
    PrimaryKeyConstraint(*METRIC_KEY, name="pk_metric_buckets"),
    Index("ix_metric_buckets_feature_bucket", "feature", "bucket_start"),
)

metric_latency = Table(
    "metric_latency",
    metadata,
    *_metric_key_columns(),
    Column("bucket", Integer(), nullable=False),
    Column("count", BigInteger(), nullable=False),
    PrimaryKeyConstraint(*METRIC_KEY, "bucket", name="pk_metric_latency"),
)

metric_scores = Table(
    "metric_scores",
    metadata,
    *_metric_key_columns(),
    Column("name", String(100), nullable=False),
    Column("count", BigInteger(), nullable=False),
    Column("sum", Float(), nullable=False),
    Column("sumsq", Float(), nullable=False),
    PrimaryKeyConstraint(*METRIC_KEY, "name", name="pk_metric_scores"),
)
