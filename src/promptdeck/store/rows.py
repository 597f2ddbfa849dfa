"""SQLAlchemy 2.x typed ORM rows. No logic: the rules live in the unit of work and the API."""

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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints keep Alembic batch migrations on SQLite predictable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class FeatureRow(Base):
    __tablename__ = "features"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class VersionRow(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("feature_id", "number", name="uq_versions_feature_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    feature_id: Mapped[int] = mapped_column(ForeignKey("features.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    system_prompt: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    parent_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))


class DeploymentRow(Base):
    """The active version and canary of one feature in one environment."""

    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("feature_id", "environment", name="uq_deployments_feature_environment"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature_id: Mapped[int] = mapped_column(ForeignKey("features.id"))
    environment: Mapped[str] = mapped_column(String(100))
    active_version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), nullable=True)
    canary_version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), nullable=True)
    canary_percent: Mapped[int] = mapped_column(Integer, default=0)
    # The store revision of the last change: the runtime reloads only what moved.
    revision: Mapped[int] = mapped_column(Integer, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RollbackEntryRow(Base):
    """The rollback stack: versions that were active before, per feature and environment."""

    __tablename__ = "rollback_stack"
    __table_args__ = (
        UniqueConstraint("deployment_id", "position", name="uq_rollback_stack_deployment_position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    feature: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    environment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class RoleRow(Base):
    __tablename__ = "roles"

    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))


class StoreStateRow(Base):
    """One row: a counter bumped by every write, cheap for clients to poll."""

    __tablename__ = "store_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)


# --- sync bookkeeping (migration 0002) ------------------------------------------------


class StoreIdentityRow(Base):
    """One row: a random id given to the store once, so sync can tell stores apart."""

    __tablename__ = "store_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36))


class SyncRemoteRow(Base):
    """Per remote this store syncs with: where both sides stood after the last sync."""

    __tablename__ = "sync_remotes"

    # sha256 of the remote's redacted URL: the password never reaches the store.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    remote_uid: Mapped[str] = mapped_column(String(36))
    local_revision: Mapped[int] = mapped_column(Integer)
    remote_revision: Mapped[int] = mapped_column(Integer)
    # The newest local audit event id already accounted for (for pending-change counts).
    local_audit_id: Mapped[int] = mapped_column(Integer)
    # Local changes left unsent by the last sync (conflicts, refusals, pull-only runs).
    pending: Mapped[int] = mapped_column(Integer)
    # True when the last sync left both sides identical (versions and pointers).
    clean: Mapped[bool] = mapped_column(Boolean)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncPointerRow(Base):
    """Active and canary of one feature/environment on both sides at the last sync."""

    __tablename__ = "sync_pointers"

    remote_key: Mapped[str] = mapped_column(ForeignKey("sync_remotes.key"), primary_key=True)
    feature: Mapped[str] = mapped_column(String(200), primary_key=True)
    environment: Mapped[str] = mapped_column(String(100), primary_key=True)
    local_active: Mapped[str | None] = mapped_column(String(36), nullable=True)
    local_canary: Mapped[str | None] = mapped_column(String(36), nullable=True)
    local_percent: Mapped[int] = mapped_column(Integer)
    remote_active: Mapped[str | None] = mapped_column(String(36), nullable=True)
    remote_canary: Mapped[str | None] = mapped_column(String(36), nullable=True)
    remote_percent: Mapped[int] = mapped_column(Integer)


# --- governance, checks and metrics (migration 0003) -----------------------------------


class EnvironmentRow(Base):
    """An environment exists only once created; production exists from the start."""

    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Protected: a version goes live only after review (and passing checks, if required).
    protected: Mapped[bool] = mapped_column(Boolean)
    required_approvals: Mapped[int] = mapped_column(Integer)
    require_checks: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class ReviewRow(Base):
    """Append-only: a review request, an approval or a rejection of one version."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # request | approve | reject
    actor: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SuiteRow(Base):
    """Append-only: one revision of a feature's behavioural suite (its cases as data)."""

    __tablename__ = "suites"
    __table_args__ = (UniqueConstraint("feature_id", "number", name="uq_suites_feature_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    feature_id: Mapped[int] = mapped_column(ForeignKey("features.id"))
    number: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CheckRunRow(Base):
    """Append-only: one run of a suite against a version, with every answer and verdict."""

    __tablename__ = "check_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    suite_uid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))  # passed | failed | error
    runner: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any]] = mapped_column(JSON)


class StoreSettingRow(Base):
    """Settings of the store itself (e.g. the database role prefix on PostgreSQL)."""

    __tablename__ = "store_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# Metrics are written by Core upserts that add (never read-modify-write), so they are
# tables rather than ORM classes. Rows are keyed by the store they were recorded in
# (origin): sync copies another store's rows by replacing, so nothing counts twice.
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
    Base.metadata,
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
    Base.metadata,
    *_metric_key_columns(),
    Column("bucket", Integer(), nullable=False),
    Column("count", BigInteger(), nullable=False),
    PrimaryKeyConstraint(*METRIC_KEY, "bucket", name="pk_metric_latency"),
)

metric_scores = Table(
    "metric_scores",
    Base.metadata,
    *_metric_key_columns(),
    Column("name", String(100), nullable=False),
    Column("count", BigInteger(), nullable=False),
    Column("sum", Float(), nullable=False),
    Column("sumsq", Float(), nullable=False),
    PrimaryKeyConstraint(*METRIC_KEY, "name", name="pk_metric_scores"),
)
