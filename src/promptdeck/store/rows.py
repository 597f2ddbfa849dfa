"""SQLAlchemy 2.x typed ORM rows, mapped onto the Core tables of tables.py and
tables_rest.py (importing this module declares them all on one metadata).

No logic: the rules live in the unit of work and the API. Only writers (the unit of
work, sync's applying side) and the ORM read helpers load this module; plain reads
select from tables.py with Core and never import the ORM.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, Table
from sqlalchemy.orm import DeclarativeBase, Mapped

from promptdeck.store import tables, tables_rest
from promptdeck.store.tables import NAMING_CONVENTION, UTCDateTime
from promptdeck.store.tables_rest import (
    METRIC_KEY,
    METRIC_MEASURES,
    USER_SKETCH_WORDS,
    metric_buckets,
    metric_latency,
    metric_scores,
)

__all__ = [
    "METRIC_KEY",
    "METRIC_MEASURES",
    "NAMING_CONVENTION",
    "USER_SKETCH_WORDS",
    "AuditEventRow",
    "Base",
    "CheckRunRow",
    "DeploymentRow",
    "EnvironmentRow",
    "FeatureRow",
    "ReviewRow",
    "RoleRow",
    "RollbackEntryRow",
    "StoreIdentityRow",
    "StoreSettingRow",
    "StoreStateRow",
    "SuiteRow",
    "SyncPointerRow",
    "SyncRemoteRow",
    "UTCDateTime",
    "VersionRow",
    "metric_buckets",
    "metric_latency",
    "metric_scores",
]


class Base(DeclarativeBase):
    metadata = tables.metadata


def _mapped(table: Table) -> FromClause:
    """A table to map a class onto, typed as DeclarativeBase types ``__table__`` (code
    that needs the Table itself takes it from tables.py or tables_rest.py)."""
    return table


class FeatureRow(Base):
    __table__ = _mapped(tables.features)

    id: Mapped[int]
    name: Mapped[str]
    created_at: Mapped[datetime]
    created_by: Mapped[str]


class VersionRow(Base):
    __table__ = _mapped(tables.versions)

    id: Mapped[int]
    uid: Mapped[str]
    feature_id: Mapped[int]
    number: Mapped[int]
    system_prompt: Mapped[str]
    model: Mapped[str]
    parameters: Mapped[dict[str, Any]]
    author: Mapped[str]
    reason: Mapped[str]
    created_at: Mapped[datetime]
    parent_number: Mapped[int | None]
    content_hash: Mapped[str]


class DeploymentRow(Base):
    """The active version and canary of one feature in one environment."""

    __table__ = _mapped(tables.deployments)

    id: Mapped[int]
    feature_id: Mapped[int]
    environment: Mapped[str]
    active_version_id: Mapped[int | None]
    canary_version_id: Mapped[int | None]
    canary_percent: Mapped[int]
    revision: Mapped[int]
    updated_at: Mapped[datetime]


class RollbackEntryRow(Base):
    """The rollback stack: versions that were active before, per feature and environment."""

    __table__ = _mapped(tables.rollback_stack)

    id: Mapped[int]
    deployment_id: Mapped[int]
    position: Mapped[int]
    version_id: Mapped[int]


class AuditEventRow(Base):
    __table__ = _mapped(tables.audit_events)

    id: Mapped[int]
    uid: Mapped[str]
    at: Mapped[datetime]
    actor: Mapped[str]
    action: Mapped[str]
    feature: Mapped[str | None]
    environment: Mapped[str | None]
    from_version: Mapped[int | None]
    to_version: Mapped[int | None]
    reason: Mapped[str]
    details: Mapped[dict[str, Any]]


class RoleRow(Base):
    __table__ = _mapped(tables.roles)

    user: Mapped[str]
    role: Mapped[str]


class StoreStateRow(Base):
    """One row: a counter bumped by every write, cheap for clients to poll."""

    __table__ = _mapped(tables.store_state)

    id: Mapped[int]
    revision: Mapped[int]


# --- sync bookkeeping (migration 0002) ------------------------------------------------


class StoreIdentityRow(Base):
    """One row: a random id given to the store once, so sync can tell stores apart."""

    __table__ = _mapped(tables_rest.store_identity)

    id: Mapped[int]
    uid: Mapped[str]


class SyncRemoteRow(Base):
    """Per remote this store syncs with: where both sides stood after the last sync."""

    __table__ = _mapped(tables_rest.sync_remotes)

    key: Mapped[str]
    url: Mapped[str]
    remote_uid: Mapped[str]
    local_revision: Mapped[int]
    remote_revision: Mapped[int]
    local_audit_id: Mapped[int]
    pending: Mapped[int]
    clean: Mapped[bool]
    synced_at: Mapped[datetime]


class SyncPointerRow(Base):
    """Active and canary of one feature/environment on both sides at the last sync."""

    __table__ = _mapped(tables_rest.sync_pointers)

    remote_key: Mapped[str]
    feature: Mapped[str]
    environment: Mapped[str]
    local_active: Mapped[str | None]
    local_canary: Mapped[str | None]
    local_percent: Mapped[int]
    remote_active: Mapped[str | None]
    remote_canary: Mapped[str | None]
    remote_percent: Mapped[int]


# --- governance, checks and metrics (migration 0003) -----------------------------------


class EnvironmentRow(Base):
    """An environment exists only once created; production exists from the start."""

    __table__ = _mapped(tables.environments)

    id: Mapped[int]
    name: Mapped[str]
    protected: Mapped[bool]
    required_approvals: Mapped[int]
    require_checks: Mapped[bool]
    created_at: Mapped[datetime]
    created_by: Mapped[str]


class ReviewRow(Base):
    """Append-only: a review request, an approval or a rejection of one version."""

    __table__ = _mapped(tables_rest.reviews)

    id: Mapped[int]
    uid: Mapped[str]
    version_id: Mapped[int]
    kind: Mapped[str]
    actor: Mapped[str]
    comment: Mapped[str]
    created_at: Mapped[datetime]


class SuiteRow(Base):
    """Append-only: one revision of a feature's behavioural suite (its cases as data)."""

    __table__ = _mapped(tables_rest.suites)

    id: Mapped[int]
    uid: Mapped[str]
    feature_id: Mapped[int]
    number: Mapped[int]
    body: Mapped[dict[str, Any]]
    content_hash: Mapped[str]
    author: Mapped[str]
    reason: Mapped[str]
    created_at: Mapped[datetime]


class CheckRunRow(Base):
    """Append-only: one run of a suite against a version, with every answer and verdict."""

    __table__ = _mapped(tables_rest.check_runs)

    id: Mapped[int]
    uid: Mapped[str]
    version_id: Mapped[int]
    suite_uid: Mapped[str | None]
    model: Mapped[str]
    status: Mapped[str]
    runner: Mapped[str]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    summary: Mapped[dict[str, Any]]
    results: Mapped[dict[str, Any]]


class StoreSettingRow(Base):
    """Settings of the store itself (e.g. the database role prefix on PostgreSQL)."""

    __table__ = _mapped(tables.store_settings)

    key: Mapped[str]
    value: Mapped[str]
