"""The store's plain reads, in SQLAlchemy Core: no ORM, no sessions.

What PromptStore's read methods and the runtime call: one read transaction on a
Connection (``read_connection``), Core ``select()``s on the tables of tables.py, and
the frozen records the store hands out. A command that only reads (``features``,
``show``, ``diff``) therefore never loads ``sqlalchemy.orm``, about half of
SQLAlchemy's import time. Writers and the ORM helpers (lookups.py, the unit of work)
load the ORM when they are first used.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, String, Text, and_, cast, func, select, type_coerce

from promptdeck.errors import NotFoundError, ValidationError
from promptdeck.records import (
    AuditEvent,
    Deployment,
    FeatureSummary,
    ServingEntry,
    Version,
    VersionSummary,
)
from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.serving import serving_select
from promptdeck.store.tables import (
    audit_events,
    deployments,
    environments,
    features,
    rollback_stack,
    store_state,
    versions,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

VersionRef = int | str  # a number, "active" or "latest"


@contextmanager
def read_connection(engine: Engine, url: str) -> Iterator[Connection]:
    """One read transaction (a SQLite BEGIN, not IMMEDIATE: readers never wait on the
    write lock); driver errors become one-line StoreErrors naming ``url``."""
    with translated_errors(url), engine.connect() as connection, connection.begin():
        yield connection


# -- names ---------------------------------------------------------------------------


def unknown_feature(name: str) -> str:
    return f"unknown feature {name!r}"


def unknown_environment(name: str, known: Iterable[str]) -> str:
    """ "unknown environment 'stagign' (did you mean staging?)" """
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return (
        f"unknown environment {name!r}{hint}; an admin creates one with "
        f"`promptdeck env create {name}`"
        if not close
        else f"unknown environment {name!r}{hint}"
    )


def require_environment(connection: Connection, name: str) -> None:
    """NotFoundError, with "did you mean ...?", unless the environment ``name`` exists."""
    found = connection.scalar(select(environments.c.id).where(environments.c.name == name))
    if found is None:
        known = connection.scalars(select(environments.c.name)).all()
        raise NotFoundError(unknown_environment(name, known))


def feature_id(connection: Connection, name: str) -> int:
    """The id of the feature called ``name``; NotFoundError if there is none."""
    found = connection.scalar(select(features.c.id).where(features.c.name == name))
    if found is None:
        raise NotFoundError(unknown_feature(name))
    return int(found)


def revision(connection: Connection) -> int:
    return connection.scalar(select(store_state.c.revision).where(store_state.c.id == 1)) or 0


# -- features and versions ---------------------------------------------------------------


def feature_summaries(
    connection: Connection | Session, environment: str, name: str | None = None
) -> list[FeatureSummary]:
    """Every feature (or the one called ``name``) with its state in ``environment``
    (on a Connection, or an ORM session's: lookups.py re-exports it)."""
    stats = (
        select(
            versions.c.feature_id,
            func.count().label("count"),
            func.max(versions.c.number).label("latest"),
        )
        .group_by(versions.c.feature_id)
        .subquery()
    )
    active = versions.alias("active")
    canary = versions.alias("canary")
    query = (
        select(
            features.c.name,
            stats.c.count,
            stats.c.latest,
            active.c.number,
            canary.c.number,
            deployments.c.canary_percent,
        )
        .outerjoin(stats, stats.c.feature_id == features.c.id)
        .outerjoin(
            deployments,
            and_(
                deployments.c.feature_id == features.c.id,
                deployments.c.environment == environment,
            ),
        )
        .outerjoin(active, active.c.id == deployments.c.active_version_id)
        .outerjoin(canary, canary.c.id == deployments.c.canary_version_id)
        .order_by(features.c.name)
    )
    if name is not None:
        query = query.where(features.c.name == name)
    return [
        FeatureSummary(
            name=name,
            versions=count or 0,
            latest=latest,
            active=active_number,
            canary=canary_number,
            canary_percent=(percent or 0) if canary_number is not None else 0,
        )
        for name, count, latest, active_number, canary_number, percent in connection.execute(query)
    ]


def version_summaries(connection: Connection, feature: str) -> list[VersionSummary]:
    """The feature's versions without their texts, newest first."""
    found = feature_id(connection, feature)
    rows = connection.execute(
        select(
            versions.c.uid,
            versions.c.number,
            versions.c.model,
            versions.c.author,
            versions.c.reason,
            versions.c.created_at,
            versions.c.parent_number,
            versions.c.content_hash,
        )
        .where(versions.c.feature_id == found)
        .order_by(versions.c.number.desc())
    )
    return [
        VersionSummary(
            uid=uid,
            feature=feature,
            number=number,
            model=model,
            author=author,
            reason=reason,
            created_at=created_at,
            parent=parent,
            content_hash=digest,
        )
        for uid, number, model, author, reason, created_at, parent, digest in rows
    ]


def version(connection: Connection, feature: str, ref: VersionRef, environment: str) -> Version:
    """One version with its text: a number, ``"active"`` or ``"latest"``."""
    found = feature_id(connection, feature)
    query = select(versions).where(versions.c.feature_id == found)
    if isinstance(ref, str) and ref.isdigit():
        ref = int(ref)
    if isinstance(ref, int) and not isinstance(ref, bool):
        row = connection.execute(query.where(versions.c.number == ref)).first()
        if row is None:
            raise NotFoundError(f"{feature} has no version {ref}")
    elif ref == "latest":
        row = connection.execute(query.order_by(versions.c.number.desc()).limit(1)).first()
        if row is None:  # pragma: no cover - every feature has a first version
            raise NotFoundError(f"{feature} has no versions")
    elif ref == "active":
        row = connection.execute(
            query.join(deployments, deployments.c.active_version_id == versions.c.id).where(
                deployments.c.feature_id == found, deployments.c.environment == environment
            )
        ).first()
        if row is None:
            raise NotFoundError(f"{feature} has no active version in {environment}")
    else:
        raise ValidationError(f"not a version: {ref!r} (use a number, 'active' or 'latest')")
    return version_record(row, feature)


def version_record(row: Any, feature: str) -> Version:
    """A row of ``versions`` as a record: a Core row here, a VersionRow in the writers."""
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


# -- deployments ----------------------------------------------------------------------------


def deployment_records(
    connection: Connection, feature: str, environment: str | None = None
) -> list[Deployment]:
    """The feature's deployments (in ``environment`` only, if given), by environment,
    each with its active version, canary and rollback stack as version numbers."""
    found = feature_id(connection, feature)
    active, canary = versions.alias("active"), versions.alias("canary")
    query = (
        select(
            deployments.c.id,
            deployments.c.environment,
            active.c.number,
            canary.c.number,
            deployments.c.canary_percent,
        )
        .outerjoin(active, active.c.id == deployments.c.active_version_id)
        .outerjoin(canary, canary.c.id == deployments.c.canary_version_id)
        .where(deployments.c.feature_id == found)
        .order_by(deployments.c.environment)
    )
    if environment is not None:
        query = query.where(deployments.c.environment == environment)
    rows = connection.execute(query).all()
    stacks: dict[int, list[int]] = {row[0]: [] for row in rows}
    if stacks:
        for deployment_id, number in connection.execute(
            select(rollback_stack.c.deployment_id, versions.c.number)
            .join(versions, versions.c.id == rollback_stack.c.version_id)
            .where(rollback_stack.c.deployment_id.in_(list(stacks)))
            .order_by(rollback_stack.c.deployment_id, rollback_stack.c.position)
        ):
            stacks[deployment_id].append(number)
    return [
        Deployment(
            feature=feature,
            environment=name,
            active=active_number,
            canary=canary_number,
            canary_percent=percent if canary_number is not None else 0,
            previous=tuple(stacks[deployment_id]),
        )
        for deployment_id, name, active_number, canary_number, percent in rows
    ]


# -- history ---------------------------------------------------------------------------------


def events(connection: Connection, feature: str | None, limit: int | None) -> list[AuditEvent]:
    """Audit events, newest first; for one feature (which must exist) or the whole store."""
    # Newest first by time: events pulled from a remote keep their own times.
    query = select(audit_events).order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
    if feature is not None:
        feature_id(connection, feature)
        query = query.where(audit_events.c.feature == feature)
    if limit is not None:
        query = query.limit(limit)
    return [audit_event(row) for row in connection.execute(query)]


def audit_event(row: Any) -> AuditEvent:
    """A row of ``audit_events`` as a record (a Core row or an AuditEventRow)."""
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


# -- what the runtime serves ---------------------------------------------------------------


def serving_entries(
    connection: Connection | Session,
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
    reported to it and left out, and the others are still returned. Works on a
    Connection or an ORM session (lookups.py re-exports it).
    """
    bind = connection if isinstance(connection, Connection) else connection.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    rows = connection.execute(
        serving_select(
            lambda version: _serving_columns(version, sqlite), environment, since_revision
        )
    ).all()
    current = (rows[0][0] if rows else 0) or 0
    width = len(VERSION_FIELDS)
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
    return current, entries


# A version's own columns (all but its ids): what serving reads and sync copies.
VERSION_FIELDS = (
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


def _serving_columns(version: Any, sqlite: bool) -> list[Any]:
    """The version columns serving_entries() reads, in VERSION_FIELDS order.

    Parameters come as JSON text, decoded one row at a time so that one bad row is
    isolated; on SQLite, times come as ISO text, parsed by fromisoformat (C), 10x faster
    than the DateTime type's per-row regex.
    """
    columns = [version.c[name] for name in VERSION_FIELDS]
    columns[4] = cast(version.c.parameters, Text)
    if sqlite:
        columns[7] = type_coerce(version.c.created_at, String)
    return [
        column.label(f"{version.name}_{name}")
        for column, name in zip(columns, VERSION_FIELDS, strict=True)
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
