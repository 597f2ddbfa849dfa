"""The store's tables, declared with SQLAlchemy Core only.

The schema itself (what migrations/ creates): every column, constraint and index. The
ORM rows in rows.py are mapped onto these same Table objects; reads (store/reads.py)
select from them with Core, so a command that only reads never loads the ORM (about
half of SQLAlchemy's import time). No logic here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

# Named constraints keep Alembic batch migrations on SQLite predictable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC, on every backend alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("promptdeck stores aware datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _id() -> Column[int]:
    return Column("id", Integer(), primary_key=True)


def _required(name: str, type_: Any, **options: Any) -> Column[Any]:
    return Column(name, type_, nullable=False, **options)


def _optional(name: str, type_: Any, **options: Any) -> Column[Any]:
    return Column(name, type_, nullable=True, **options)


def _reference(name: str, target: str, *, nullable: bool = False, **options: Any) -> Column[Any]:
    return Column(name, Integer(), ForeignKey(target), nullable=nullable, **options)


features = Table(
    "features",
    metadata,
    _id(),
    _required("name", String(200), unique=True),
    _required("created_at", UTCDateTime()),
    _required("created_by", String(200)),
)

versions = Table(
    "versions",
    metadata,
    _id(),
    _required("uid", String(36), unique=True),
    _reference("feature_id", "features.id", index=True),
    _required("number", Integer()),
    _required("system_prompt", Text()),
    _required("model", String(200)),
    _required("parameters", JSON()),
    _required("author", String(200)),
    _required("reason", Text()),
    _required("created_at", UTCDateTime()),
    _optional("parent_number", Integer()),
    _required("content_hash", String(64)),
    UniqueConstraint("feature_id", "number", name="uq_versions_feature_number"),
)

# The active version and canary of one feature in one environment.
deployments = Table(
    "deployments",
    metadata,
    _id(),
    _reference("feature_id", "features.id"),
    _required("environment", String(100)),
    _reference("active_version_id", "versions.id", nullable=True),
    _reference("canary_version_id", "versions.id", nullable=True),
    _required("canary_percent", Integer(), default=0),
    # The store revision of the last change: the runtime reloads only what moved.
    _required("revision", Integer(), index=True),
    _required("updated_at", UTCDateTime()),
    UniqueConstraint("feature_id", "environment", name="uq_deployments_feature_environment"),
)

# The rollback stack: versions that were active before, per feature and environment.
rollback_stack = Table(
    "rollback_stack",
    metadata,
    _id(),
    _reference("deployment_id", "deployments.id", index=True),
    _required("position", Integer()),
    _reference("version_id", "versions.id"),
    UniqueConstraint("deployment_id", "position", name="uq_rollback_stack_deployment_position"),
)

audit_events = Table(
    "audit_events",
    metadata,
    _id(),
    _required("uid", String(36), unique=True),
    _required("at", UTCDateTime()),
    _required("actor", String(200)),
    _required("action", String(50)),
    _optional("feature", String(200), index=True),
    _optional("environment", String(100)),
    _optional("from_version", Integer()),
    _optional("to_version", Integer()),
    _required("reason", Text()),
    _required("details", JSON()),
)

roles = Table(
    "roles",
    metadata,
    Column("user", String(200), primary_key=True),
    _required("role", String(20)),
)

# One row: a counter bumped by every write, cheap for clients to poll.
store_state = Table(
    "store_state",
    metadata,
    _id(),
    _required("revision", Integer()),
)

# --- sync bookkeeping (migration 0002) ------------------------------------------------

# One row: a random id given to the store once, so sync can tell stores apart.
store_identity = Table(
    "store_identity",
    metadata,
    _id(),
    _required("uid", String(36)),
)

# Per remote this store syncs with: where both sides stood after the last sync.
sync_remotes = Table(
    "sync_remotes",
    metadata,
    # sha256 of the remote's redacted URL: the password never reaches the store.
    Column("key", String(64), primary_key=True),
    _required("url", Text()),
    _required("remote_uid", String(36)),
    _required("local_revision", Integer()),
    _required("remote_revision", Integer()),
    # The newest local audit event id already accounted for (for pending-change counts).
    _required("local_audit_id", Integer()),
    # Local changes left unsent by the last sync (conflicts, refusals, pull-only runs).
    _required("pending", Integer()),
    # True when the last sync left both sides identical (versions and pointers).
    _required("clean", Boolean()),
    _required("synced_at", UTCDateTime()),
)

# Active and canary of one feature/environment on both sides at the last sync.
sync_pointers = Table(
    "sync_pointers",
    metadata,
    Column("remote_key", String(64), ForeignKey("sync_remotes.key"), primary_key=True),
    Column("feature", String(200), primary_key=True),
    Column("environment", String(100), primary_key=True),
    _optional("local_active", String(36)),
    _optional("local_canary", String(36)),
    _required("local_percent", Integer()),
    _optional("remote_active", String(36)),
    _optional("remote_canary", String(36)),
    _required("remote_percent", Integer()),
)

# --- governance, checks and metrics (migration 0003) -----------------------------------

# An environment exists only once created; production exists from the start.
environments = Table(
    "environments",
    metadata,
    _id(),
    _required("name", String(100), unique=True),
    # Protected: a version goes live only after review (and passing checks, if required).
    _required("protected", Boolean()),
    _required("required_approvals", Integer()),
    _required("require_checks", Boolean()),
    _required("created_at", UTCDateTime()),
    _required("created_by", String(200)),
)

# Append-only: a review request, an approval or a rejection of one version.
reviews = Table(
    "reviews",
    metadata,
    _id(),
    _required("uid", String(36), unique=True),
    _reference("version_id", "versions.id", index=True),
    _required("kind", String(10)),  # request | approve | reject
    _required("actor", String(200)),
    _required("comment", Text()),
    _required("created_at", UTCDateTime()),
)

# Append-only: one revision of a feature's behavioural suite (its cases as data).
suites = Table(
    "suites",
    metadata,
    _id(),
    _required("uid", String(36), unique=True),
    _reference("feature_id", "features.id"),
    _required("number", Integer()),
    _required("body", JSON()),
    _required("content_hash", String(64)),
    _required("author", String(200)),
    _required("reason", Text()),
    _required("created_at", UTCDateTime()),
    UniqueConstraint("feature_id", "number", name="uq_suites_feature_number"),
)

# Append-only: one run of a suite against a version, with every answer and verdict.
check_runs = Table(
    "check_runs",
    metadata,
    _id(),
    _required("uid", String(36), unique=True),
    _reference("version_id", "versions.id", index=True),
    _optional("suite_uid", String(36)),
    _required("model", String(200)),
    _required("status", String(10)),  # passed | failed | error
    _required("runner", String(200)),
    _required("started_at", UTCDateTime()),
    _required("finished_at", UTCDateTime()),
    _required("summary", JSON()),
    _required("results", JSON()),
)

# Settings of the store itself (e.g. the database role prefix on PostgreSQL).
store_settings = Table(
    "store_settings",
    metadata,
    Column("key", String(100), primary_key=True),
    _required("value", Text()),
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
