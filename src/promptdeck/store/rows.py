"""SQLAlchemy 2.x typed ORM rows. No logic: the rules live in the unit of work and the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
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
