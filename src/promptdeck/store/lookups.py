"""Reads shared by the API's read transactions and the unit of work: rows by name or
number, and rows turned into the frozen records the store hands out."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Text, and_, cast, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from promptdeck.errors import NotFoundError, ValidationError
from promptdeck.permissions import RANK
from promptdeck.records import (
    AuditEvent,
    Deployment,
    FeatureSummary,
    Role,
    ServingEntry,
    Version,
)
from promptdeck.store.rows import (
    AuditEventRow,
    DeploymentRow,
    FeatureRow,
    RoleRow,
    RollbackEntryRow,
    StoreStateRow,
    VersionRow,
)

VersionRef = int | str  # a number, "active" or "latest"


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


def unknown_feature(name: str) -> str:
    return f"unknown feature {name!r}"


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


def resolve(session: Session, feature: FeatureRow, ref: VersionRef, environment: str) -> VersionRow:
    if isinstance(ref, int) and not isinstance(ref, bool):
        return version_row(session, feature, ref)
    if isinstance(ref, str) and ref.isdigit():
        return version_row(session, feature, int(ref))
    if ref == "latest":
        return latest_version_row(session, feature)
    if ref == "active":
        deployment = deployment_row(session, feature, environment)
        if deployment is None or deployment.active_version_id is None:
            raise NotFoundError(f"{feature.name} has no active version in {environment}")
        row = session.get(VersionRow, deployment.active_version_id)
        assert row is not None
        return row
    raise ValidationError(f"not a version: {ref!r} (use a number, 'active' or 'latest')")


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


def to_version(row: VersionRow, feature: str) -> Version:
    return Version(
        uid=row.uid,
        feature=feature,
        number=row.number,
        system_prompt=row.system_prompt,
        model=row.model,
        parameters=dict(row.parameters),
        author=row.author,
        reason=row.reason,
        created_at=row.created_at,
        parent=row.parent_number,
        content_hash=row.content_hash,
    )


def maybe_version(
    versions: Mapping[int, VersionRow], version_id: int | None, feature: str
) -> Version | None:
    if version_id is None or version_id not in versions:
        return None
    return to_version(versions[version_id], feature)


def to_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        uid=row.uid,
        at=row.at,
        actor=row.actor,
        action=row.action,
        feature=row.feature,
        environment=row.environment,
        from_version=row.from_version,
        to_version=row.to_version,
        reason=row.reason,
        details=dict(row.details or {}),
    )


def feature_summaries(
    session: Session, environment: str, name: str | None = None
) -> list[FeatureSummary]:
    """Every feature (or the one called ``name``) with its state in ``environment``."""
    stats = (
        select(
            VersionRow.feature_id,
            func.count().label("count"),
            func.max(VersionRow.number).label("latest"),
        )
        .group_by(VersionRow.feature_id)
        .subquery()
    )
    active = aliased(VersionRow)
    canary = aliased(VersionRow)
    query = (
        select(
            FeatureRow.name,
            stats.c.count,
            stats.c.latest,
            active.number,
            canary.number,
            DeploymentRow.canary_percent,
        )
        .outerjoin(stats, stats.c.feature_id == FeatureRow.id)
        .outerjoin(
            DeploymentRow,
            and_(
                DeploymentRow.feature_id == FeatureRow.id,
                DeploymentRow.environment == environment,
            ),
        )
        .outerjoin(active, active.id == DeploymentRow.active_version_id)
        .outerjoin(canary, canary.id == DeploymentRow.canary_version_id)
        .order_by(FeatureRow.name)
    )
    if name is not None:
        query = query.where(FeatureRow.name == name)
    return [
        FeatureSummary(
            name=name,
            versions=count or 0,
            latest=latest,
            active=active_number,
            canary=canary_number,
            canary_percent=(percent or 0) if canary_number is not None else 0,
        )
        for name, count, latest, active_number, canary_number, percent in session.execute(query)
    ]


def serving_entries(
    session: Session,
    environment: str,
    since_revision: int,
    on_bad_entry: Callable[[str, Exception], None] | None = None,
) -> tuple[int, list[ServingEntry]]:
    """The store revision and the deployments of ``environment`` changed after
    ``since_revision``, with their versions, in one statement (one round trip: a
    runtime thread waits for the GIL after each one while the application's threads
    run). When nothing moved, one row: the revision alone.

    A version that cannot be decoded (parameters too deeply nested, not an object)
    raises, unless ``on_bad_entry(feature, error)`` is given: then that feature is
    reported to it and left out, and the others are still returned.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    active, canary = aliased(VersionRow), aliased(VersionRow)
    rows = session.execute(
        select(
            StoreStateRow.revision,
            FeatureRow.name,
            DeploymentRow.canary_percent,
            DeploymentRow.revision,
            *_serving_columns(active, "active", sqlite),
            *_serving_columns(canary, "canary", sqlite),
        )
        .select_from(StoreStateRow)
        .outerjoin(
            DeploymentRow,
            and_(
                DeploymentRow.environment == environment,
                DeploymentRow.revision > since_revision,
            ),
        )
        .outerjoin(FeatureRow, FeatureRow.id == DeploymentRow.feature_id)
        .outerjoin(active, active.id == DeploymentRow.active_version_id)
        .outerjoin(canary, canary.id == DeploymentRow.canary_version_id)
        .where(StoreStateRow.id == 1)
    ).all()
    revision = (rows[0][0] if rows else 0) or 0
    width = len(_SERVING_FIELDS)
    entries: list[ServingEntry] = []
    for row in rows:
        name = row[1]
        if name is None:  # nothing moved: the store row alone
            continue
        try:
            canary_version = _serving_version(row[4 + width : 4 + 2 * width], name)
            entries.append(
                ServingEntry(
                    feature=name,
                    environment=environment,
                    active=_serving_version(row[4 : 4 + width], name),
                    canary=canary_version,
                    canary_percent=row[2] if canary_version is not None else 0,
                    revision=row[3],
                )
            )
        except (RecursionError, ValueError, TypeError) as exc:
            if on_bad_entry is None:
                raise
            on_bad_entry(name, exc)
    return revision, entries


_SERVING_FIELDS = (
    "uid",
    "number",
    "system_prompt",
    "model",
    "parameters",
    "author",
    "reason",
    "created_at",
    "parent_number",
    "content_hash",
)


def _serving_columns(version: Any, prefix: str, sqlite: bool) -> list[Any]:
    """The version columns serving_entries() reads, in _SERVING_FIELDS order.

    Parameters come as JSON text, decoded one row at a time so that one bad row is
    isolated; on SQLite, times come as ISO text, parsed by fromisoformat (C), 10x faster
    than the DateTime type's per-row regex.
    """
    columns = [getattr(version, name) for name in _SERVING_FIELDS]
    columns[4] = cast(version.parameters, Text)
    if sqlite:
        columns[7] = type_coerce(version.created_at, String)
    return [
        column.label(f"{prefix}_{name}")
        for column, name in zip(columns, _SERVING_FIELDS, strict=True)
    ]


def _serving_version(row: Sequence[Any], feature: str) -> Version | None:
    """A Version from the columns of _serving_columns(); None for an outer join's NULLs."""
    uid, number, system_prompt, model, parameters, author, reason, created_at, parent, hash_ = row
    if uid is None:
        return None
    if isinstance(parameters, str):
        parameters = json.loads(parameters)
    if not isinstance(parameters, dict):
        raise ValueError(f"parameters of version {number} are not an object")
    if isinstance(created_at, str):  # SQLite: naive UTC as ISO text
        created_at = datetime.fromisoformat(created_at).replace(tzinfo=UTC)
    return Version(
        uid=uid,
        feature=feature,
        number=number,
        system_prompt=system_prompt,
        model=model,
        parameters=parameters,
        author=author,
        reason=reason,
        created_at=created_at,
        parent=parent,
        content_hash=hash_,
    )
