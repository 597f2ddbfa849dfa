"""Reading one side of a sync: what a store holds (versions, pointers, audit events)
and the local bookkeeping of a remote, as the plain records the planner works on."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from promptdeck.config import redact, to_url
from promptdeck.store import PromptStore
from promptdeck.store.rows import (
    AuditEventRow,
    DeploymentRow,
    FeatureRow,
    StoreIdentityRow,
    StoreStateRow,
    SyncPointerRow,
    SyncRemoteRow,
    VersionRow,
)
from promptdeck.sync.records import (
    NO_POINTER,
    SYNC_MOVE_ACTIONS,
    Baseline,
    Baselines,
    EventSummary,
    LastSync,
    PointerState,
    SideFeature,
    SideState,
    SideVersion,
)


def remote_key(remote_url: str) -> str:
    """The bookkeeping key of a remote: a hash of its URL without the password."""
    return hashlib.sha256(redact(to_url(remote_url)).encode("utf-8")).hexdigest()


def read_side(session: Session, *, events: bool) -> SideState:
    """Everything sync compares in one store; audit events only when ``events``."""
    revision = session.scalar(select(StoreStateRow.revision).where(StoreStateRow.id == 1)) or 0
    identity = session.scalar(select(StoreIdentityRow.uid).where(StoreIdentityRow.id == 1)) or ""
    max_audit = max_audit_id(session)
    features: dict[str, SideFeature] = {}
    by_id: dict[int, SideFeature] = {}
    numbers: dict[str, int] = {}
    for feature_id, name in session.execute(select(FeatureRow.id, FeatureRow.name)):
        features[name] = by_id[feature_id] = SideFeature(name, feature_id)
    for uid, feature_id, number, author in session.execute(
        select(VersionRow.uid, VersionRow.feature_id, VersionRow.number, VersionRow.author)
    ):
        version = SideVersion(uid, number, author)
        numbers[uid] = number
        owner = by_id[feature_id]
        owner.versions_by_uid[uid] = version
        owner.versions_by_number[number] = version
    for (feature_id, _name, environment), pointer in _pointer_rows(session).items():
        if pointer != NO_POINTER:
            by_id[feature_id].pointers[environment] = pointer
    side = SideState(revision, identity, max_audit, features, None, numbers)
    if events:
        side.events = {
            uid: EventSummary(feature, environment, action)
            for uid, feature, environment, action in session.execute(
                select(
                    AuditEventRow.uid,
                    AuditEventRow.feature,
                    AuditEventRow.environment,
                    AuditEventRow.action,
                )
            )
        }
        for details in session.scalars(
            select(AuditEventRow.details).where(
                AuditEventRow.action.in_(sorted(SYNC_MOVE_ACTIONS.values()))
            )
        ):
            side.superseded.update((details or {}).get("superseded", ()))
    return side


def max_audit_id(session: Session) -> int:
    return session.scalar(select(func.max(AuditEventRow.id))) or 0


def read_pointers(session: Session) -> dict[tuple[str, str], PointerState]:
    """Every deployment's pointers, by (feature name, environment)."""
    return {
        (name, environment): pointer
        for (_id, name, environment), pointer in _pointer_rows(session).items()
    }


def _pointer_rows(session: Session) -> dict[tuple[int, str, str], PointerState]:
    active = aliased(VersionRow)
    canary = aliased(VersionRow)
    return {
        (feature_id, name, environment): PointerState(
            active_uid, canary_uid, percent if canary_uid else 0
        )
        for feature_id, name, environment, active_uid, canary_uid, percent in session.execute(
            select(
                DeploymentRow.feature_id,
                FeatureRow.name,
                DeploymentRow.environment,
                active.uid,
                canary.uid,
                DeploymentRow.canary_percent,
            )
            .join(FeatureRow, FeatureRow.id == DeploymentRow.feature_id)
            .outerjoin(active, active.id == DeploymentRow.active_version_id)
            .outerjoin(canary, canary.id == DeploymentRow.canary_version_id)
        )
    }


def read_head(store: PromptStore) -> tuple[int, str]:
    """The store's revision and identity: two one-row reads."""
    with store.reading() as session:
        revision = session.scalar(select(StoreStateRow.revision).where(StoreStateRow.id == 1))
        identity = session.scalar(select(StoreIdentityRow.uid).where(StoreIdentityRow.id == 1))
        return revision or 0, identity or ""


def read_bookkeeping(session: Session, key: str) -> tuple[LastSync | None, Baselines]:
    """The last sync with the remote ``key`` and the pointer baselines it left."""
    found = session.get(SyncRemoteRow, key)
    if found is None:
        return None, {}
    last = LastSync(
        found.remote_uid,
        found.local_revision,
        found.remote_revision,
        found.local_audit_id,
        found.pending,
        found.clean,
    )
    baselines: Baselines = {
        (p.feature, p.environment): Baseline(
            PointerState(p.local_active, p.local_canary, p.local_percent),
            PointerState(p.remote_active, p.remote_canary, p.remote_percent),
        )
        for p in session.scalars(select(SyncPointerRow).where(SyncPointerRow.remote_key == key))
    }
    return last, baselines


def unchanged_since_last_sync(local: PromptStore, remote: PromptStore, key: str) -> bool:
    """True when neither store moved since a sync that left them equal (O(1))."""
    with local.reading() as session:
        row = session.get(SyncRemoteRow, key)
        if row is None or not row.clean:
            return False
        local_revision = session.scalar(select(StoreStateRow.revision).where(StoreStateRow.id == 1))
        recorded = (row.local_revision, row.remote_revision, row.remote_uid)
    if local_revision != recorded[0]:
        return False
    return read_head(remote) == (recorded[1], recorded[2])


def versions_created_since(session: Session, audit_id: int) -> int:
    """Local versions created or imported after audit event ``audit_id``."""
    count = 0
    for action, details in session.execute(
        select(AuditEventRow.action, AuditEventRow.details).where(
            AuditEventRow.id > audit_id,
            AuditEventRow.action.in_(("create", "create-feature", "import")),
        )
    ):
        count += len((details or {}).get("versions", ())) if action == "import" else 1
    return count
