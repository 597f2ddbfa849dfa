"""The store's tables, declared with SQLAlchemy Core only.

The schema itself (what migrations/ creates): every column, constraint and index. The
ORM rows in rows.py are mapped onto these same Table objects; reads (store/reads.py)
select from them with Core, so a command that only reads never loads the ORM (about
half of SQLAlchemy's import time). No logic here.

The tables opening and reading a store use are here; the rest (sync bookkeeping,
reviews, suites, check runs, metrics: about two thirds of the columns, and of the
time it takes to declare them) are in tables_rest.py, on the same ``metadata``.
rows.py imports both, so the metadata is complete wherever the ORM, backup and the
migrations use it (``rows.Base.metadata``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
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


# Column builders, shared with tables_rest.py: NOT NULL unless optional, as the ORM's
# Mapped[...] annotations made them before.


def table_id() -> Column[int]:
    return Column("id", Integer(), primary_key=True)


def required(name: str, type_: Any, **options: Any) -> Column[Any]:
    return Column(name, type_, nullable=False, **options)


def optional(name: str, type_: Any, **options: Any) -> Column[Any]:
    return Column(name, type_, nullable=True, **options)


def reference(name: str, target: str, *, nullable: bool = False, **options: Any) -> Column[Any]:
    return Column(name, Integer(), ForeignKey(target), nullable=nullable, **options)


features = Table(
    "features",
    metadata,
    table_id(),
    required("name", String(200), unique=True),
    required("created_at", UTCDateTime()),
    required("created_by", String(200)),
)

versions = Table(
    "versions",
    metadata,
    table_id(),
    required("uid", String(36), unique=True),
    reference("feature_id", "features.id", index=True),
    required("number", Integer()),
    required("system_prompt", Text()),
    required("model", String(200)),
    required("parameters", JSON()),
    required("author", String(200)),
    required("reason", Text()),
    required("created_at", UTCDateTime()),
    optional("parent_number", Integer()),
    required("content_hash", String(64)),
    UniqueConstraint("feature_id", "number", name="uq_versions_feature_number"),
)

# The active version and canary of one feature in one environment.
deployments = Table(
    "deployments",
    metadata,
    table_id(),
    reference("feature_id", "features.id"),
    required("environment", String(100)),
    reference("active_version_id", "versions.id", nullable=True),
    reference("canary_version_id", "versions.id", nullable=True),
    required("canary_percent", Integer(), default=0),
    # The store revision of the last change: the runtime reloads only what moved.
    required("revision", Integer(), index=True),
    required("updated_at", UTCDateTime()),
    UniqueConstraint("feature_id", "environment", name="uq_deployments_feature_environment"),
)

# The rollback stack: versions that were active before, per feature and environment.
rollback_stack = Table(
    "rollback_stack",
    metadata,
    table_id(),
    reference("deployment_id", "deployments.id", index=True),
    required("position", Integer()),
    reference("version_id", "versions.id"),
    UniqueConstraint("deployment_id", "position", name="uq_rollback_stack_deployment_position"),
)

audit_events = Table(
    "audit_events",
    metadata,
    table_id(),
    required("uid", String(36), unique=True),
    required("at", UTCDateTime()),
    required("actor", String(200)),
    required("action", String(50)),
    optional("feature", String(200), index=True),
    optional("environment", String(100)),
    optional("from_version", Integer()),
    optional("to_version", Integer()),
    required("reason", Text()),
    required("details", JSON()),
)

roles = Table(
    "roles",
    metadata,
    Column("user", String(200), primary_key=True),
    required("role", String(20)),
)

# One row: a counter bumped by every write, cheap for clients to poll.
store_state = Table(
    "store_state",
    metadata,
    table_id(),
    required("revision", Integer()),
)

# --- governance (migration 0003): what opening and reading a store also reads --------

# An environment exists only once created; production exists from the start.
environments = Table(
    "environments",
    metadata,
    table_id(),
    required("name", String(100), unique=True),
    # Protected: a version goes live only after review (and passing checks, if required).
    required("protected", Boolean()),
    required("required_approvals", Integer()),
    required("require_checks", Boolean()),
    required("created_at", UTCDateTime()),
    required("created_by", String(200)),
)

# Settings of the store itself (e.g. the database role prefix on PostgreSQL).
store_settings = Table(
    "store_settings",
    metadata,
    Column("key", String(100), primary_key=True),
    required("value", Text()),
)
