"""Moving pointers for sync, in batches: a constant number of statements per batch of
deployments, never a round trip per feature (issue 13).

The rules are the unit of work's (``activate``, ``roll_back_to``, ``move``), applied to
plain values read in one go: an active version that moves puts the one before on the
rollback stack, unless the source rolled back to the top of that stack (then the entry
is taken off); a canary of the version made active ends; a canary is never the active
version; every deployment that moves is stamped with the unit's revision.

The activation gate (store/gates.py) applies as it does to activate, canary and
promote: every version a move puts live (a new active version or a new canary) is
checked, all in one bulk read, after the run has copied reviews, suites and check runs
(applying.py copies the tables first, so an approval that travels with the run counts)
and before anything moves, against the environments' settings as the target held them
before the run (protection that travels applies from the next run). A refused move
refuses the whole run (SyncGateError: the unit of work rolls back, nothing is written
on that side). A rollback (the target's active version returns to the top of its
rollback stack) is not gated: that version was already live there. A deployment the
target lacks is inserted with its pointers at once, so a first push of N active
versions writes N rows, not N inserts and N updates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from promptdeck.store import UnitOfWork, bulk, gates
from promptdeck.store.bulk import chunks
from promptdeck.store.clock import now
from promptdeck.store.rows import AuditEventRow, DeploymentRow, RollbackEntryRow, VersionRow
from promptdeck.sync.records import (
    SYNC_MOVE_ACTIONS,
    Direction,
    PointerChange,
    PointerState,
    SyncGateError,
    SyncPlan,
    gate_refusal,
)

BATCH = 1000  # rows per INSERT / UPDATE batch
# Core tables, not ORM bulk operations: the ORM's per-row bookkeeping costs more than
# the round trips it batches.
DEPLOYMENTS = cast(Table, DeploymentRow.__table__)
ROLLBACK_STACK = cast(Table, RollbackEntryRow.__table__)
AUDIT_EVENTS = cast(Table, AuditEventRow.__table__)
Place = tuple[str, str]  # (feature name, environment)
_POINTERS: dict[str, Any] = {
    "active_version_id": bindparam("active"),
    "canary_version_id": bindparam("canary"),
    "canary_percent": bindparam("percent"),
    "revision": bindparam("revision"),
    "updated_at": bindparam("updated_at"),
}
_MOVE_DEPLOYMENT = (
    update(DEPLOYMENTS).where(DEPLOYMENTS.c.id == bindparam("deployment")).values(_POINTERS)
)
SHOWN_BLOCKED = 3  # moves named in a refusal; the rest are counted


@dataclass(slots=True)
class _Deployment:
    """One deployment's pointers and the top of its rollback stack, as plain values
    (``id`` None: the target has no such deployment yet)."""

    id: int | None
    active: int | None
    canary: int | None
    percent: int
    top: tuple[int, int] | None = None  # (entry id, version id) of the stack's top entry
    top_position: int = 0


def move_pointers(
    work: UnitOfWork,
    direction: Direction,
    planned: SyncPlan,
    features: Mapping[str, int],
    gate_settings: Mapping[str, gates.GateSettings],
) -> dict[Place, PointerState]:
    """Make every planned pointer move, each with its sync-activate/sync-canary event,
    once the gate (with ``gate_settings``) takes every version they put live; returns
    the target's pointers afterwards for each place that moved."""
    session = work.session
    grouped: dict[Place, list[PointerChange]] = {}
    for comparison, change in planned.moves:
        grouped.setdefault((comparison.name, change.environment), []).append(change)
    wanted = sorted(
        {
            uid
            for _comparison, change in planned.moves
            for uid in (change.local[0], change.remote[0])
            if uid is not None
        }
    )
    ids, numbers, named = _version_ids(session, wanted)
    deployments = _deployments(session, [(features[name], env) for name, env in grouped])

    stamp = now()
    stack_pops: list[int] = []
    stack_pushes: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    created: list[dict[str, Any]] = []
    going_live: list[gates.Move] = []
    for (name, environment), changes in grouped.items():
        feature_id = features[name]
        deployment = deployments[(feature_id, environment)]
        moved = False
        for change in sorted(changes, key=lambda c: c.component):  # active before canary
            value = change.local if direction == "push" else change.remote
            target = ids[value[0]] if value[0] is not None else None
            if change.component == "active":
                if deployment.active == target:
                    continue
                top = deployment.top
                if target is not None and top is not None and top[1] == target:
                    stack_pops.append(top[0])  # the source rolled back: so do we (ungated)
                    deployment.top = None
                else:
                    if target is not None:
                        going_live.append(
                            gates.Move(feature_id, name, target, *named[target], environment)
                        )
                    if deployment.active is not None:
                        assert deployment.id is not None  # an active version: a held row
                        deployment.top_position += 1
                        stack_pushes.append(
                            {
                                "deployment_id": deployment.id,
                                "position": deployment.top_position,
                                "version_id": deployment.active,
                            }
                        )
                deployment.active = target
                if target is not None and deployment.canary == target:
                    deployment.canary, deployment.percent = None, 0
            else:
                if target is not None and target == deployment.active:
                    target = None  # a canary is never the active version
                if target is not None and target != deployment.canary:  # a new canary
                    going_live.append(
                        gates.Move(feature_id, name, target, *named[target], environment)
                    )
                deployment.canary, deployment.percent = target, value[1] if target else 0
            moved = True
        if not moved:
            continue
        if deployment.id is None:
            created.append(
                {
                    "feature_id": feature_id,
                    "environment": environment,
                    "active_version_id": deployment.active,
                    "canary_version_id": deployment.canary,
                    "canary_percent": deployment.percent,
                    "revision": work.revision,
                    "updated_at": stamp,
                }
            )
        else:
            updates.append(
                {
                    "deployment": deployment.id,
                    "active": deployment.active,
                    "canary": deployment.canary,
                    "percent": deployment.percent,
                    "revision": work.revision,
                    "updated_at": stamp,
                }
            )
    refuse_blocked(session, direction, going_live, gate_settings)
    for chunk in chunks(stack_pops):
        session.execute(delete(ROLLBACK_STACK).where(ROLLBACK_STACK.c.id.in_(chunk)))
    bulk.insert_rows(session.connection(), ROLLBACK_STACK, stack_pushes)
    bulk.insert_rows(session.connection(), DEPLOYMENTS, created)
    for batch in chunks(updates, BATCH):
        session.execute(_MOVE_DEPLOYMENT, list(batch))

    uid_of = {version_id: uid for uid, version_id in ids.items()}
    unknown = {
        version_id
        for d in deployments.values()
        for version_id in (d.active, d.canary)
        if version_id is not None and version_id not in uid_of
    }
    for chunk in chunks(sorted(unknown)):
        rows = session.execute(
            select(VersionRow.id, VersionRow.uid).where(bulk.one_of(session, VersionRow.id, chunk))
        )
        uid_of.update((version_id, uid) for version_id, uid in rows)

    after: dict[Place, PointerState] = {}
    events: list[dict[str, Any]] = []
    for (name, environment), changes in grouped.items():
        deployment = deployments[(features[name], environment)]
        canary = uid_of.get(deployment.canary) if deployment.canary is not None else None
        state = PointerState(
            uid_of.get(deployment.active) if deployment.active is not None else None,
            canary,
            deployment.percent if canary else 0,
        )
        after[(name, environment)] = state
        superseded = planned.superseded.get((name, environment), [])
        for change in sorted(changes, key=lambda c: c.component):
            before = change.remote if direction == "push" else change.local
            after_value = state.value(change.component)
            details: dict[str, Any] = {"sync": direction, "component": change.component}
            if change.component == "canary":
                details["percent"] = after_value[1]
            if change.state == "conflict":
                details["conflict resolved"] = "local" if direction == "push" else "remote"
            if superseded:
                details["superseded"] = sorted(superseded)
                superseded = []
            events.append(
                _event(
                    work,
                    stamp,
                    SYNC_MOVE_ACTIONS[change.component],
                    name,
                    environment,
                    numbers.get(before[0]) if before[0] is not None else None,
                    numbers.get(after_value[0]) if after_value[0] is not None else None,
                    planned.move_reason,
                    details,
                )
            )
    bulk.insert_rows(session.connection(), AUDIT_EVENTS, events)
    return after


def refuse_blocked(
    session: Session,
    direction: Direction,
    going_live: Sequence[gates.Move],
    settings: Mapping[str, gates.GateSettings],
) -> None:
    """Raise SyncGateError when the target's gate refuses any of ``going_live``."""
    blocked = gates.blockers_of_moves(session, going_live, settings)
    if blocked:
        lines = [blocked[move].lines for move in going_live if move in blocked]
        raise SyncGateError(gate_refusal(direction, lines, SHOWN_BLOCKED))


def _event(
    work: UnitOfWork,
    at: Any,
    action: str,
    feature: str,
    environment: str,
    from_version: int | None,
    to_version: int | None,
    reason: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    """An audit event row with every column present, so a batch is one statement."""
    return {
        "uid": str(uuid.uuid4()),
        "at": at,
        "actor": work.user,
        "action": action,
        "feature": feature,
        "environment": environment,
        "from_version": from_version,
        "to_version": to_version,
        "reason": reason,
        "details": details,
    }


def _version_ids(
    session: Session, uids: Sequence[str]
) -> tuple[dict[str, int], dict[str, int], dict[int, tuple[int, str]]]:
    """uid -> id, uid -> number, and id -> (number, author): what the gate names."""
    ids: dict[str, int] = {}
    numbers: dict[str, int] = {}
    named: dict[int, tuple[int, str]] = {}
    for chunk in chunks(uids):
        for version_uid, version_id, number, author in session.execute(
            select(VersionRow.uid, VersionRow.id, VersionRow.number, VersionRow.author).where(
                bulk.one_of(session, VersionRow.uid, chunk)
            )
        ):
            ids[version_uid] = version_id
            numbers[version_uid] = number
            named[version_id] = (number, author)
    return ids, numbers, named


def _deployments(
    session: Session, places: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], _Deployment]:
    """The deployments at ``places`` (feature id, environment), each with the top of its
    rollback stack; an empty one (id None) where the target has none yet."""
    wanted = set(places)
    found = _read_deployments(session, wanted)
    by_id = {d.id: d for d in found.values() if d.id is not None}
    for place in wanted - found.keys():
        found[place] = _Deployment(None, None, None, 0)
    tops = (
        select(
            RollbackEntryRow.deployment_id.label("deployment_id"),
            func.max(RollbackEntryRow.position).label("position"),
        )
        .group_by(RollbackEntryRow.deployment_id)
        .subquery()
    )
    for chunk in chunks(sorted(by_id)):
        for entry_id, deployment_id, position, version_id in session.execute(
            select(
                RollbackEntryRow.id,
                RollbackEntryRow.deployment_id,
                RollbackEntryRow.position,
                RollbackEntryRow.version_id,
            )
            .join(
                tops,
                (tops.c.deployment_id == RollbackEntryRow.deployment_id)
                & (tops.c.position == RollbackEntryRow.position),
            )
            .where(bulk.one_of(session, RollbackEntryRow.deployment_id, chunk))
        ):
            by_id[deployment_id].top = (entry_id, version_id)
            by_id[deployment_id].top_position = position
    return found


def _read_deployments(
    session: Session, wanted: set[tuple[int, str]]
) -> dict[tuple[int, str], _Deployment]:
    found: dict[tuple[int, str], _Deployment] = {}
    for chunk in chunks(sorted({feature_id for feature_id, _env in wanted})):
        for row in session.execute(
            select(
                DeploymentRow.id,
                DeploymentRow.feature_id,
                DeploymentRow.environment,
                DeploymentRow.active_version_id,
                DeploymentRow.canary_version_id,
                DeploymentRow.canary_percent,
            ).where(bulk.one_of(session, DeploymentRow.feature_id, chunk))
        ):
            place = (row.feature_id, row.environment)
            if place in wanted:
                found[place] = _Deployment(
                    row.id, row.active_version_id, row.canary_version_id, row.canary_percent
                )
    return found
