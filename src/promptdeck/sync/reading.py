"""Reading one side of a sync: what a store holds (versions, pointers, audit events)
and the local bookkeeping of a remote, as the plain records the planner works on."""

from __future__ import annotations

import hashlib

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session, aliased

from promptdeck.config import redact, to_url
from promptdeck.store import PromptStore
from promptdeck.store.rows import (
    AuditEventRow,
    CheckRunRow,
    DeploymentRow,
    EnvironmentRow,
    FeatureRow,
    ReviewRow,
    StoreIdentityRow,
    StoreStateRow,
    SuiteRow,
    SyncPointerRow,
    SyncRemoteRow,
    VersionRow,
    metric_buckets,
    metric_latency,
    metric_scores,
)
from promptdeck.sync.records import (
    NO_POINTER,
    SYNC_MOVE_ACTIONS,
    Baseline,
    Baselines,
    EventSummary,
    LastSync,
    MetricDigest,
    PointerState,
    SideEnvironment,
    SideFeature,
    SideState,
    SideSuite,
    SideTables,
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
    side.tables = read_tables(session)
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
        # Only the sync moves whose details name "superseded" are parsed: a text match
        # first (portable; a false match is harmless), not a JSON parse of every move.
        for details in session.scalars(
            select(AuditEventRow.details).where(
                AuditEventRow.action.in_(sorted(SYNC_MOVE_ACTIONS.values())),
                cast(AuditEventRow.details, Text).contains('"superseded"', autoescape=True),
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
    return read_head(remote) == (recorded[1], recorded[2]) and metrics_in_step(local, remote)


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


# --- the tables of schema 0003 ---------------------------------------------------------


def read_tables(session: Session) -> SideTables:
    """Environments, review/suite/check-run uids and each origin's metrics digest."""
    tables = SideTables(metrics=read_metric_digests(session))
    for name, protected, approvals, checks in session.execute(
        select(
            EnvironmentRow.name,
            EnvironmentRow.protected,
            EnvironmentRow.required_approvals,
            EnvironmentRow.require_checks,
        )
    ):
        tables.environments[name] = SideEnvironment(name, protected, approvals, checks)
    for row_class, into in ((ReviewRow, tables.reviews), (CheckRunRow, tables.check_runs)):
        into.update(
            (uid, version_uid)
            for uid, version_uid in session.execute(
                select(row_class.uid, VersionRow.uid).join(
                    VersionRow, VersionRow.id == row_class.version_id
                )
            )
        )
    for uid, feature, number, content_hash in session.execute(
        select(SuiteRow.uid, FeatureRow.name, SuiteRow.number, SuiteRow.content_hash).join(
            FeatureRow, FeatureRow.id == SuiteRow.feature_id
        )
    ):
        tables.suites[uid] = SideSuite(uid, feature, number, content_hash)
    return tables


def read_metric_digests(session: Session) -> dict[str, MetricDigest]:
    """Per origin: requests recorded (the buckets' counts) and rows over the three tables."""
    requests: dict[str, int] = {}
    rows: dict[str, int] = {}
    for origin, total, count in session.execute(
        select(metric_buckets.c.origin, func.sum(metric_buckets.c.count), func.count()).group_by(
            metric_buckets.c.origin
        )
    ):
        requests[origin] = int(total or 0)
        rows[origin] = int(count)
    for table in (metric_latency, metric_scores):
        for origin, count in session.execute(
            select(table.c.origin, func.count()).group_by(table.c.origin)
        ):
            rows[origin] = rows.get(origin, 0) + int(count)
    return {origin: MetricDigest(requests.get(origin, 0), n) for origin, n in rows.items()}


def metrics_in_step(local: PromptStore, remote: PromptStore) -> bool:
    """Both stores hold the same copy of every origin's metrics (metrics writes do not
    move a store's revision, so the O(1) answer needs this check too)."""
    with local.reading() as session:
        mine = read_metric_digests(session)
    with remote.reading() as session:
        return read_metric_digests(session) == mine
