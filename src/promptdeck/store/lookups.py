"""ORM lookups shared by the unit of work and the ORM read sessions: rows by name or
number, and a deployment row turned into its record.

Plain reads that need no ORM row (listings, one version, deployments, history, what
the runtime serves) are Core queries in reads.py, which also turns version and audit
rows (Core or ORM) into records."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptdeck.errors import NotFoundError
from promptdeck.permissions import RANK
from promptdeck.records import Deployment, Role
from promptdeck.store.reads import VersionRef as VersionRef
from promptdeck.store.reads import feature_summaries as feature_summaries
from promptdeck.store.reads import serving_entries as serving_entries
from promptdeck.store.reads import unknown_feature as unknown_feature
from promptdeck.store.rows import (
    DeploymentRow,
    FeatureRow,
    RoleRow,
    RollbackEntryRow,
    VersionRow,
)


def role_of(session: Session, user: str) -> Role:
    """On a PostgreSQL store secured by ``init``, the login's group roles say; else the
    ``roles`` table (no roles at all: one person's store, everything allowed)."""
    from promptdeck.store import pg_security  # circular at import time otherwise

    prefix = pg_security.stored_prefix(session)
    if prefix is not None:
        return pg_security.role_of_login(session, prefix, user)
    if session.scalar(select(func.count()).select_from(RoleRow)) == 0:
        return "admin"  # one person's store: no roles configured, everything allowed
    role = session.scalar(select(RoleRow.role).where(RoleRow.user == user))
    return role if role in RANK else "viewer"  # type: ignore[return-value,unused-ignore]


def feature_row(session: Session, name: str, *, lock: bool = False) -> FeatureRow:
    query = select(FeatureRow).where(FeatureRow.name == name)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise NotFoundError(unknown_feature(name))
    return row


def version_row(session: Session, feature: FeatureRow, number: int) -> VersionRow:
    row = session.scalars(
        select(VersionRow).where(VersionRow.feature_id == feature.id, VersionRow.number == number)
    ).first()
    if row is None:
        raise NotFoundError(f"{feature.name} has no version {number}")
    return row


def latest_version_row(session: Session, feature: FeatureRow) -> VersionRow:
    row = session.scalars(
        select(VersionRow)
        .where(VersionRow.feature_id == feature.id)
        .order_by(VersionRow.number.desc())
        .limit(1)
    ).first()
    if row is None:  # pragma: no cover - every feature has a first version
        raise NotFoundError(f"{feature.name} has no versions")
    return row


def deployment_row(session: Session, feature: FeatureRow, environment: str) -> DeploymentRow | None:
    return session.scalars(
        select(DeploymentRow).where(
            DeploymentRow.feature_id == feature.id, DeploymentRow.environment == environment
        )
    ).first()


def rollback_stack(session: Session, deployment: DeploymentRow) -> list[RollbackEntryRow]:
    """The versions active before, oldest first: the last one is where rollback goes."""
    return list(
        session.scalars(
            select(RollbackEntryRow)
            .where(RollbackEntryRow.deployment_id == deployment.id)
            .order_by(RollbackEntryRow.position)
        )
    )


def number_of(session: Session, version_id: int | None) -> int | None:
    if version_id is None:
        return None
    return session.scalar(select(VersionRow.number).where(VersionRow.id == version_id))


def to_deployment(
    session: Session, feature: str, environment: str, row: DeploymentRow | None
) -> Deployment:
    if row is None:
        return Deployment(feature=feature, environment=environment)
    previous = tuple(
        n
        for n in (number_of(session, entry.version_id) for entry in rollback_stack(session, row))
        if n is not None
    )
    canary = number_of(session, row.canary_version_id)
    return Deployment(
        feature=feature,
        environment=environment,
        active=number_of(session, row.active_version_id),
        canary=canary,
        canary_percent=row.canary_percent if canary is not None else 0,
        previous=previous,
    )
