"""Applying a plan: sync's writes, all through the target store's unit of work.

Only inserts rows and moves pointers: no version row is ever deleted, and the only
change to one is the renumbering of local-only versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from promptdeck.config import redact
from promptdeck.errors import ValidationError
from promptdeck.permissions import Action
from promptdeck.store import UnitOfWork, bulk, gates
from promptdeck.store.bulk import chunks
from promptdeck.store.clock import now
from promptdeck.store.reads import VERSION_FIELDS
from promptdeck.store.rows import (
    AuditEventRow,
    FeatureRow,
    SyncPointerRow,
    SyncRemoteRow,
    VersionRow,
)
from promptdeck.sync import copying, moving, row_limits
from promptdeck.sync.moving import BATCH
from promptdeck.sync.records import (
    Baselines,
    Direction,
    FeatureComparison,
    LastSync,
    PointerState,
    Progress,
    SyncPlan,
    TablesPlan,
)

_EVENT_COLUMNS = (
    "uid",
    "at",
    "actor",
    "action",
    "feature",
    "environment",
    "from_version",
    "to_version",
    "reason",
    "details",
)


def apply_plan(
    work: UnitOfWork,
    direction: Direction,
    planned: SyncPlan,
    source: Session,
    remote_url: str,
    progress: Progress | None,
    tables: TablesPlan,
) -> tuple[list[str], dict[tuple[str, str], PointerState]]:
    """Write ``planned`` (and ``tables``) in ``work`` (on the target side), copying rows
    from ``source``.

    Returns what was renumbered and the target's pointers after the moves (per feature
    and environment that moved)."""
    if planned.versions or planned.features or planned.events or tables.writes:
        work.require(Action.PUSH_VERSIONS if direction == "push" else Action.PULL_VERSIONS)
    if planned.moves:
        work.require(Action.PUSH_POINTERS if direction == "push" else Action.PULL_POINTERS)
    session = work.session
    # The gate's settings as this side held them before the run: protection that
    # travels in a run applies from the next run on (so a fresh clone of a protected
    # store can take what the store already serves); reviews, suites and check runs
    # that travel count at once (copied below, before the moves).
    moved_into = {change.environment for _comparison, change in planned.moves}
    gate_settings = gates.read_settings(session, moved_into) if moved_into else {}
    renumbered: list[str] = []
    for comparison in planned.renumber:  # pull resolving a version conflict
        renumbered.extend(renumber_local_only(work, comparison, remote_url))
    features = _insert_rows(session, direction, planned, source, progress)
    if tables.writes:
        copying.copy_tables(work, tables, source, features)
    after: dict[tuple[str, str], PointerState] = {}
    if planned.moves:
        after = moving.move_pointers(work, direction, planned, features, gate_settings)
    return renumbered, after


def _insert_rows(
    session: Session,
    direction: Direction,
    planned: SyncPlan,
    source: Session,
    progress: Progress | None,
) -> dict[str, int]:
    """Features, then versions, then audit events, in batches; returns feature ids."""
    features = _feature_ids(session)
    wanted = [name for name in planned.features if name not in features]
    if wanted:
        bulk.insert_rows(
            session.connection(),
            cast(Table, FeatureRow.__table__),
            [
                {"name": name, "created_at": created_at, "created_by": created_by}
                for name, created_at, created_by in source.execute(
                    select(FeatureRow.name, FeatureRow.created_at, FeatureRow.created_by).where(
                        FeatureRow.name.in_(wanted)
                    )
                )
            ],
        )
        features = _feature_ids(session)
    if planned.versions:
        _copy_versions(session, direction, planned.versions, source, features, progress)
    if planned.events:
        events = _fetch_events(source, planned.events)
        for event in events:
            what = f"the {event['action']} audit event of {event['feature'] or 'the store'}"
            if event["to_version"] is not None:
                what += f" (version {event['to_version']})"
            _refuse_misfit(AuditEventRow, event, what, direction)
        _insert_batches(session, AuditEventRow, events, "events", progress)
    session.flush()
    return features


def renumber_local_only(
    work: UnitOfWork, comparison: FeatureComparison, remote_url: str
) -> list[str]:
    """Give the feature's local-only versions numbers above the remote's."""
    local_only = sorted(comparison.local_only, key=lambda v: v.number)
    if not local_only:
        return []
    only = {v.uid for v in local_only}
    local_versions = comparison.local.versions_by_uid.values() if comparison.local else ()
    shared = [v.number for v in local_versions if v.uid not in only]
    remote_numbers = list(comparison.remote.versions_by_number) if comparison.remote else []
    top = max([0, *shared, *remote_numbers])
    mapping = {v.number: top + i for i, v in enumerate(local_only, start=1)}
    if all(old == new for old, new in mapping.items()):
        return []
    session = work.session
    rows = list(session.scalars(select(VersionRow).where(VersionRow.uid.in_(sorted(only)))))
    for row in rows:  # two steps: the unique (feature, number) never sees a duplicate
        row.number = -mapping[row.number]
    session.flush()
    for row in rows:
        row.number = -row.number
        if row.parent_number in mapping:
            row.parent_number = mapping[row.parent_number]
    session.flush()
    moved = [{"uid": v.uid, "from": v.number, "to": mapping[v.number]} for v in local_only]
    work.audit(
        "renumber",
        comparison.name,
        from_version=local_only[0].number,
        to_version=mapping[local_only[0].number],
        reason=f"local-only versions renumbered on top of {redact(remote_url)} to resolve a "
        "version conflict",
        details={"renumbered": moved},
    )
    return [f"{comparison.name} v{m['from']} -> v{m['to']}" for m in moved]


def record_bookkeeping(
    session: Session, key: str, url: str, last: LastSync, baselines: Baselines, old: Baselines
) -> None:
    """Write the local bookkeeping of the remote ``key``: the sync just done."""
    row = session.get(SyncRemoteRow, key)
    if row is None:
        row = SyncRemoteRow(key=key)
        session.add(row)
    row.url = url
    row.remote_uid = last.remote_uid
    row.local_revision = last.local_revision
    row.remote_revision = last.remote_revision
    row.local_audit_id = last.local_audit_id
    row.pending = last.pending
    row.clean = last.clean
    row.synced_at = now()
    session.flush()
    gone = [place for place in old if place not in baselines]
    for chunk in chunks(gone):
        session.execute(
            delete(SyncPointerRow).where(
                SyncPointerRow.remote_key == key,
                tuple_(SyncPointerRow.feature, SyncPointerRow.environment).in_(chunk),
            )
        )
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (feature, environment), (base_local, base_remote) in baselines.items():
        if old.get((feature, environment)) == (base_local, base_remote):
            continue
        values = {
            "remote_key": key,
            "feature": feature,
            "environment": environment,
            "local_active": base_local.active,
            "local_canary": base_local.canary,
            "local_percent": base_local.percent,
            "remote_active": base_remote.active,
            "remote_canary": base_remote.canary,
            "remote_percent": base_remote.percent,
        }
        (updates if (feature, environment) in old else inserts).append(values)
    # In batches (ORM bulk by primary key for the updates): one statement per batch.
    bulk.insert_rows(session.connection(), cast(Table, SyncPointerRow.__table__), inserts)
    for start in range(0, len(updates), BATCH):
        session.execute(update(SyncPointerRow), updates[start : start + BATCH])
    session.flush()


# --- rows in batches --------------------------------------------------------------------


def _feature_ids(session: Session) -> dict[str, int]:
    return {name: fid for fid, name in session.execute(select(FeatureRow.id, FeatureRow.name))}


def _fetch_versions(session: Session, uids: Sequence[str]) -> dict[str, dict[str, Any]]:
    columns = [getattr(VersionRow, name) for name in VERSION_FIELDS]
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(uids):
        for row in session.execute(
            select(*columns).where(bulk.one_of(session, VersionRow.uid, chunk))
        ):
            values = dict(zip(VERSION_FIELDS, row, strict=True))
            found[values["uid"]] = values
    return found


def _fetch_events(session: Session, uids: Sequence[str]) -> list[dict[str, Any]]:
    columns = [getattr(AuditEventRow, name) for name in _EVENT_COLUMNS]
    rows: list[tuple[int, dict[str, Any]]] = []
    for chunk in chunks(uids):
        for row in session.execute(
            select(AuditEventRow.id, *columns).where(bulk.one_of(session, AuditEventRow.uid, chunk))
        ):
            rows.append((row[0], dict(zip(_EVENT_COLUMNS, row[1:], strict=True))))
    rows.sort(key=lambda item: item[0])  # keep the source's order
    return [values for _id, values in rows]


def _refuse_misfit(
    row_class: type[VersionRow] | type[AuditEventRow],
    row: Mapping[str, Any],
    what: str,
    direction: Direction,
) -> None:
    """One line naming the row when the other side could not store it (issue 14)."""
    table = row_class.__table__
    assert isinstance(table, Table)
    problem = row_limits.misfit(table, row)
    if problem is not None:
        side = "remote" if direction == "push" else "local store"
        raise ValidationError(
            f"cannot {direction} {what}: {problem}, which the {side} cannot store; "
            f"nothing was {direction}ed"
        )


def _copy_versions(
    session: Session,
    direction: Direction,
    versions: Sequence[tuple[str, str]],
    source: Session,
    features: Mapping[str, int],
    progress: Progress | None,
) -> None:
    """Read and write ``versions`` (feature name, uid) batch by batch, each of BATCH
    versions and bulk.CHARACTERS_PER_STATEMENT of prompt text at most: a run holds one
    batch of prompts in memory, not all it sends (prompts may be 16 MB each)."""
    sizes = _prompt_sizes(source, [uid for _name, uid in versions])
    connection = session.connection()
    for start, end in bulk.spans(
        [sizes[uid] for _name, uid in versions], BATCH, bulk.CHARACTERS_PER_STATEMENT
    ):
        part = versions[start:end]
        fetched = _fetch_versions(source, [uid for _name, uid in part])
        rows = [{**fetched[uid], "feature_id": features[name]} for name, uid in part]
        for (name, _uid), row in zip(part, rows, strict=True):
            _refuse_misfit(VersionRow, row, f"{name} version {row['number']}", direction)
        bulk.insert_rows(connection, cast(Table, VersionRow.__table__), rows)
        if progress is not None:
            progress("versions", end, len(versions))


def _prompt_sizes(source: Session, uids: Sequence[str]) -> dict[str, int]:
    """Each version's prompt length in characters, read without the prompts."""
    sizes: dict[str, int] = {}
    for chunk in chunks(uids):
        for uid, size in source.execute(
            select(VersionRow.uid, func.length(VersionRow.system_prompt)).where(
                bulk.one_of(source, VersionRow.uid, chunk)
            )
        ):
            sizes[uid] = size
    return sizes


def _insert_batches(
    session: Session,
    table: type[AuditEventRow],
    rows: Sequence[dict[str, Any]],
    phase: str,
    progress: Progress | None,
) -> None:
    connection = session.connection()
    for start in range(0, len(rows), BATCH):
        bulk.insert_rows(connection, cast(Table, table.__table__), rows[start : start + BATCH])
        if progress is not None:
            progress(phase, min(start + BATCH, len(rows)), len(rows))
