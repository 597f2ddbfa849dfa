"""PromptStore: the store's API. Every rule of a write lives here or in the unit of work.

Versions are immutable and numbered per feature; a reason is required for every
change; activation and rollback move a pointer and keep a rollback stack; roles are
enforced (permissions.py); every write is one unit of work together with its audit
event.

A little over 600 lines: this is the whole public API of the store in one class, the
reads beside the writes they answer; the queries, the unit of work and import/export
live in their own modules.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import promptdeck.store as package  # create_store_engine, looked up per store (tests)
from promptdeck.config import redact, resolve_user, to_url
from promptdeck.errors import (
    AlreadyActiveError,
    ConflictError,
    DeploymentMovedError,
    NoChangeError,
    NotFoundError,
    StoreError,
    ValidationError,
)
from promptdeck.permissions import RANK, Action, article
from promptdeck.records import (
    DEFAULT_ENVIRONMENT,
    MAX_ENVIRONMENT,
    AuditEvent,
    Deployment,
    FeatureDocument,
    FeatureSummary,
    Role,
    ServingEntry,
    Version,
    VersionSummary,
    check_name,
    content_hash,
)
from promptdeck.store import lookups, schema, transfer
from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.engine import sqlite_path
from promptdeck.store.lookups import VersionRef
from promptdeck.store.rows import (
    AuditEventRow,
    DeploymentRow,
    FeatureRow,
    RoleRow,
    StoreStateRow,
    VersionRow,
)
from promptdeck.store.transfer import ImportResult
from promptdeck.store.unit_of_work import (
    UnitOfWork,
    read_session,
    require_role,
    snapshot_session,
    unit_of_work,
)
from promptdeck.store.validation import (
    check_model,
    check_parameters,
    check_percent,
    check_prompt,
    check_reason,
)

if TYPE_CHECKING:
    from promptdeck.store.metrics import MetricsStore


@dataclass(frozen=True, slots=True)
class _DeploymentChange:
    """What every deployment write starts from: the unit, the locked feature and its
    deployment in the environment (None when it has none and none was asked for)."""

    work: UnitOfWork
    feature: FeatureRow
    deployment: DeploymentRow | None

    def result(self, environment: str) -> Deployment:
        return self.work.to_deployment(self.feature.name, environment, self.deployment)


class PromptStore:
    """A prompt store at a SQLAlchemy URL or a SQLite path.

    ``create=False`` refuses to create a missing SQLite file. The schema is migrated
    on open (``migrate=False``, for read-only clients such as the runtime library,
    refuses an out-of-date schema instead); a store from a newer promptdeck is
    refused and left untouched.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        user: str | None = None,
        create: bool = True,
        migrate: bool = True,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``engine_options`` (keyword arguments of ``create_engine``) override the
        defaults on server databases, e.g. the runtime's single connection and no
        prepared statements behind PgBouncer."""
        self.url = to_url(location)
        self.user = resolve_user(user)
        path = sqlite_path(self.url)
        if path is not None:
            if not path.exists() and not create:
                raise StoreError(
                    f"no store at {path}; create it with `promptdeck --db {path} init`"
                )
            if create:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create store directory {path.parent}: {exc}"
                    ) from None
        self._engine = (
            package.create_store_engine(self.url, engine_options)
            if engine_options
            else package.create_store_engine(self.url)
        )
        try:
            with translated_errors(self.url):
                schema.migrate(self._engine, self.url, upgrade=migrate)
        except BaseException:
            self._engine.dispose()
            raise

    # -- plumbing ----------------------------------------------------------------

    @property
    def display_url(self) -> str:
        return redact(self.url)

    @property
    def engine(self) -> Engine:
        """For sync and tests: the store's engine. UIs call the methods instead."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> PromptStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """One write transaction (revision bump, roles, audit): see unit_of_work.py."""
        return unit_of_work(self._engine, self.url, self.user)

    def reading(self) -> AbstractContextManager[Session]:
        """One read transaction, for sync and tests; UIs call the read methods."""
        return read_session(self._engine, self.url)

    def snapshot(self) -> AbstractContextManager[Session]:
        """A read transaction that sees one consistent state of the whole store."""
        return snapshot_session(self._engine, self.url)

    @cached_property
    def metrics(self) -> MetricsStore:
        """Outcome aggregates: added by the runtime's recorder, read for statistics."""
        from promptdeck.store.metrics import MetricsStore

        return MetricsStore(self._engine, self.url)

    def schema_revision(self) -> str | None:
        with translated_errors(self.url), self._engine.connect() as connection:
            return schema.read_schema_revision(connection)

    # -- identity and roles --------------------------------------------------------

    def role(self, user: str | None = None) -> Role:
        """The effective role of ``user`` (default: this store's user)."""
        with self.reading() as session:
            return lookups.role_of(session, user or self.user)

    def may(self, needed: Role) -> bool:
        return RANK[self.role()] >= RANK[needed]

    def require(self, action: Action) -> None:
        """Refuse (PermissionDeniedError) unless this store's user may ``action``; reads
        only (sync checks the remote's roles before it writes anything)."""
        require_role(self.user, self.role(), action)

    def roles(self) -> dict[str, Role]:
        with self.reading() as session:
            rows = session.execute(select(RoleRow.user, RoleRow.role).order_by(RoleRow.user))
            return {user: role for user, role in rows}  # type: ignore[misc]

    def set_role(self, user: str, role: str) -> None:
        if role not in RANK:
            raise ValidationError(f"unknown role {role!r}: use viewer, editor or admin")
        if not user or not user.strip():
            raise ValidationError("a user name is required")
        with self.unit_of_work() as work:
            work.require(Action.SET_ROLE)
            session = work.session
            current = session.get(RoleRow, user)
            before = current.role if current else None
            if before == role:
                raise ValidationError(f"{user} is already {article(role)} {role}")
            if current is None:
                session.add(RoleRow(user=user, role=role))
            else:
                current.role = role
            session.flush()
            admins = session.scalar(
                select(func.count()).select_from(RoleRow).where(RoleRow.role == "admin")
            )
            if not admins:
                raise ValidationError(
                    "the store would have no admin: make someone admin first "
                    f"(e.g. `promptdeck role {self.user} admin`)"
                )
            work.audit(
                "role",
                None,
                reason=f"{user}: {before or 'none'} -> {role}",
                details={"user": user, "from": before, "to": role},
            )

    # -- reads -----------------------------------------------------------------------

    def revision(self) -> int:
        """A counter bumped by every write: cheap to poll."""
        with self.reading() as session:
            return session.scalar(select(StoreStateRow.revision).where(StoreStateRow.id == 1)) or 0

    def features(
        self, environment: str = DEFAULT_ENVIRONMENT, *, name: str | None = None
    ) -> list[FeatureSummary]:
        """Every feature (or the one called ``name``) with its state in ``environment``."""
        with self.reading() as session:
            return lookups.feature_summaries(session, environment, name)

    def feature(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> FeatureSummary:
        for summary in self.features(environment, name=name):
            return summary
        raise NotFoundError(lookups.unknown_feature(name))

    def versions(self, feature: str) -> list[VersionSummary]:
        """The feature's versions without their texts, newest first."""
        with self.reading() as session:
            row = lookups.feature_row(session, feature)
            rows = session.execute(
                select(
                    VersionRow.uid,
                    VersionRow.number,
                    VersionRow.model,
                    VersionRow.author,
                    VersionRow.reason,
                    VersionRow.created_at,
                    VersionRow.parent_number,
                    VersionRow.content_hash,
                )
                .where(VersionRow.feature_id == row.id)
                .order_by(VersionRow.number.desc())
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

    def version(
        self, feature: str, ref: VersionRef = "latest", environment: str = DEFAULT_ENVIRONMENT
    ) -> Version:
        """One version with its text: a number, ``"active"`` or ``"latest"``."""
        with self.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            row = lookups.resolve(session, feature_row, ref, environment)
            return lookups.to_version(row, feature)

    def deployment(self, feature: str, environment: str = DEFAULT_ENVIRONMENT) -> Deployment:
        with self.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            row = lookups.deployment_row(session, feature_row, environment)
            return lookups.to_deployment(session, feature, environment, row)

    def deployments(self, feature: str) -> list[Deployment]:
        with self.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            rows = session.scalars(
                select(DeploymentRow)
                .where(DeploymentRow.feature_id == feature_row.id)
                .order_by(DeploymentRow.environment)
            ).all()
            return [lookups.to_deployment(session, feature, r.environment, r) for r in rows]

    def environments(self) -> list[str]:
        """Every environment the store knows, production first."""
        with self.reading() as session:
            names = set(session.scalars(select(DeploymentRow.environment).distinct()))
        names.discard(DEFAULT_ENVIRONMENT)
        return [DEFAULT_ENVIRONMENT, *sorted(names)]

    def history(self, feature: str | None = None, limit: int | None = None) -> list[AuditEvent]:
        """Audit events, newest first; for one feature or the whole store."""
        with self.reading() as session:
            # Newest first by time: events pulled from a remote keep their own times.
            query = select(AuditEventRow).order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc())
            if feature is not None:
                lookups.feature_row(session, feature)
                query = query.where(AuditEventRow.feature == feature)
            if limit is not None:
                query = query.limit(limit)
            return [lookups.to_event(row) for row in session.scalars(query)]

    def serving(
        self,
        environment: str = DEFAULT_ENVIRONMENT,
        since_revision: int = 0,
        *,
        on_bad_entry: Callable[[str, Exception], None] | None = None,
    ) -> tuple[int, list[ServingEntry]]:
        """What the runtime serves: deployments changed after ``since_revision``.

        Returns the store revision read in the same statement, so a caller that
        passes it back next time misses nothing and reloads nothing twice. A feature
        whose version cannot be decoded goes to ``on_bad_entry(feature, error)`` (if
        given) and is left out; the others are still returned.
        """
        with self.reading() as session:
            return lookups.serving_entries(session, environment, since_revision, on_bad_entry)

    # -- writes ----------------------------------------------------------------------

    def create_feature(
        self,
        name: str,
        system_prompt: str,
        *,
        model: str,
        reason: str,
        parameters: Mapping[str, Any] | None = None,
    ) -> Version:
        """A new feature with its first version."""
        check_name(name)
        reason = check_reason(reason)
        system_prompt = check_prompt(system_prompt)
        model = check_model(model)
        params = check_parameters(parameters or {})
        with self.unit_of_work() as work:
            work.require(Action.CREATE_FEATURE)
            if work.find_feature(name) is not None:
                raise ValidationError(f"feature {name!r} already exists")
            feature_row = work.add_feature(name)
            row = work.add_version(
                feature_row, 1, system_prompt, model, params, reason, parent=None
            )
            work.audit("create-feature", name, to_version=1, reason=reason)
            return lookups.to_version(row, name)

    def save(
        self,
        feature: str,
        system_prompt: str,
        *,
        reason: str,
        model: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        base: int | None = None,
        force: bool = False,
        seen_latest: int | None = None,
    ) -> Version:
        """Save a new version edited from ``base`` (default: the latest version).

        If a version newer than ``base`` exists, the save is refused with a
        ConflictError naming it, unless ``force`` asks to save on top anyway.
        ``seen_latest``: the latest version the editor knew of when the edit began;
        only versions saved after it conflict (older ones the user already saw).
        """
        reason = check_reason(reason)
        system_prompt = check_prompt(system_prompt)
        with self.unit_of_work() as work:
            work.require(Action.SAVE)
            feature_row = work.feature(feature, lock=True)
            latest = work.latest_version(feature_row)
            base_row = latest if base is None else work.version(feature_row, base)
            seen = max(base_row.number, seen_latest or 0)
            if latest.number > seen and not force:
                raise ConflictError(
                    f"{latest.author} saved version {latest.number} of {feature} after version "
                    f"{base_row.number}, which this edit started from; review it, then save on "
                    f"top of it (--force)",
                    latest=latest.number,
                    latest_author=latest.author,
                )
            new_model = check_model(model) if model is not None else base_row.model
            new_params = (
                check_parameters(parameters) if parameters is not None else base_row.parameters
            )
            if content_hash(system_prompt, new_model, new_params) == base_row.content_hash:
                raise NoChangeError(
                    f"nothing changed: text, model and parameters are identical to version "
                    f"{base_row.number}"
                )
            row = work.add_version(
                feature_row,
                latest.number + 1,
                system_prompt,
                new_model,
                new_params,
                reason,
                parent=base_row.number,
            )
            work.audit(
                "create",
                feature,
                from_version=base_row.number,
                to_version=row.number,
                reason=reason,
                details={"on_top_of": latest.number} if latest.number != base_row.number else {},
            )
            return lookups.to_version(row, feature)

    @contextmanager
    def _deployment_change(
        self, action: Action, feature: str, environment: str, *, create: bool
    ) -> Iterator[_DeploymentChange]:
        """The opening every deployment write shares: one unit of work, the role check,
        the feature locked, and its deployment (created empty when ``create``)."""
        with self.unit_of_work() as work:
            work.require(action)
            feature_row = work.feature(feature, lock=True)
            deployment = (
                work.deployment_for_change(feature_row, environment)
                if create
                else work.deployment(feature_row, environment)
            )
            yield _DeploymentChange(work, feature_row, deployment)

    def activate(
        self,
        feature: str,
        number: int,
        *,
        reason: str,
        environment: str = DEFAULT_ENVIRONMENT,
        expect_active: int | None = None,
    ) -> Deployment:
        """Make ``number`` the active version; the one before goes on the rollback stack.

        ``expect_active``: the active version the caller showed its user; if another
        one is active by now, the move is refused (DeploymentMovedError).
        """
        reason = check_reason(reason)
        check_name(environment, "environment", MAX_ENVIRONMENT)
        with self._deployment_change(Action.ACTIVATE, feature, environment, create=True) as change:
            work, deployment = change.work, change.deployment
            assert deployment is not None
            target = work.version(change.feature, number)
            if deployment.active_version_id == target.id:
                raise AlreadyActiveError(
                    f"version {number} of {feature} is already active in {environment}"
                )
            previous = work.number_of(deployment.active_version_id)
            _check_expected(feature, environment, "active", expect_active, previous)
            details = {"canary_cleared": True} if deployment.canary_version_id == target.id else {}
            work.activate(deployment, target.id)
            work.audit(
                "activate",
                feature,
                environment=environment,
                from_version=previous,
                to_version=number,
                reason=reason,
                details=details,
            )
            return change.result(environment)

    def rollback(
        self,
        feature: str,
        *,
        reason: str,
        environment: str = DEFAULT_ENVIRONMENT,
        expect_target: int | None = None,
    ) -> Deployment:
        """Return to the version that was active before the current one.

        ``expect_target``: the version the caller told its user it would return to;
        if the stack says otherwise by now, the move is refused (DeploymentMovedError).
        """
        reason = check_reason(reason)
        with self._deployment_change(Action.ROLLBACK, feature, environment, create=False) as change:
            work, deployment = change.work, change.deployment
            top = work.rollback_stack(deployment)[-1:] if deployment else []
            if deployment is None or not top:
                raise ValidationError(
                    f"nothing to roll back to: {feature} has no earlier active version "
                    f"in {environment}"
                )
            entry = top[0]
            current = work.number_of(deployment.active_version_id)
            target = work.session.get(VersionRow, entry.version_id)
            assert target is not None
            _check_expected(feature, environment, "rollback target", expect_target, target.number)
            work.roll_back_to(deployment, entry)
            work.audit(
                "rollback",
                feature,
                environment=environment,
                from_version=current,
                to_version=target.number,
                reason=reason,
            )
            return change.result(environment)

    def set_canary(
        self,
        feature: str,
        number: int,
        percent: int,
        *,
        reason: str,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> Deployment:
        """Serve ``number`` to ``percent`` % of users (chosen by user id) in ``environment``."""
        reason = check_reason(reason)
        percent = check_percent(percent)
        check_name(environment, "environment", MAX_ENVIRONMENT)
        with self._deployment_change(
            Action.SET_CANARY, feature, environment, create=True
        ) as change:
            work, deployment = change.work, change.deployment
            assert deployment is not None
            target = work.version(change.feature, number)
            if deployment.active_version_id is None:
                raise ValidationError(
                    f"{feature} has no active version in {environment}; activate one before "
                    "starting a canary"
                )
            if deployment.active_version_id == target.id:
                raise ValidationError(
                    f"version {number} is the active version; a canary must be another version"
                )
            if deployment.canary_version_id == target.id and deployment.canary_percent == percent:
                raise ValidationError(
                    f"version {number} is already the canary at {percent}% in {environment}"
                )
            before = work.number_of(deployment.canary_version_id)
            before_percent = deployment.canary_percent
            work.move(deployment, canary=target.id, percent=percent)
            work.audit(
                "canary",
                feature,
                environment=environment,
                from_version=before,
                to_version=number,
                reason=reason,
                details={"percent": percent, "previous_percent": before_percent},
            )
            return change.result(environment)

    def clear_canary(
        self, feature: str, *, reason: str, environment: str = DEFAULT_ENVIRONMENT
    ) -> Deployment:
        reason = check_reason(reason)
        with self._deployment_change(
            Action.CLEAR_CANARY, feature, environment, create=False
        ) as change:
            work, deployment = change.work, change.deployment
            if deployment is None or deployment.canary_version_id is None:
                raise ValidationError(f"{feature} has no canary in {environment}")
            before = work.number_of(deployment.canary_version_id)
            work.move(deployment, canary=None, percent=0)
            work.audit(
                "canary-off",
                feature,
                environment=environment,
                from_version=before,
                reason=reason,
            )
            return change.result(environment)

    def promote(
        self, feature: str, *, reason: str, environment: str = DEFAULT_ENVIRONMENT
    ) -> Deployment:
        """The canary becomes the active version (the old one goes on the rollback stack)."""
        reason = check_reason(reason)
        with self._deployment_change(Action.PROMOTE, feature, environment, create=False) as change:
            work, deployment = change.work, change.deployment
            if deployment is None or deployment.canary_version_id is None:
                raise ValidationError(f"{feature} has no canary to promote in {environment}")
            before = work.number_of(deployment.active_version_id)
            target = deployment.canary_version_id
            work.activate(deployment, target)  # ends the canary: it is the active version now
            work.audit(
                "promote",
                feature,
                environment=environment,
                from_version=before,
                to_version=work.number_of(target),
                reason=reason,
            )
            return change.result(environment)

    # -- import and export -----------------------------------------------------------

    def import_documents(self, documents: Sequence[FeatureDocument]) -> ImportResult:
        """Import all documents in one transaction: all of them, or nothing.

        Documents the store already holds change nothing: the result is empty, and no
        audit event or revision bump is written.
        """
        transfer.check_documents_agree(documents)
        with self.unit_of_work() as work:
            result = transfer.import_documents(work, documents)
            if not result.changed:
                work.discard()  # no revision bump for an import that changes nothing
        return result

    def export_document(self, feature: str) -> FeatureDocument:
        """Everything needed to rebuild the feature exactly in another store."""
        with self.reading() as session:
            return transfer.export_document(session, feature)


def _check_expected(
    feature: str, environment: str, what: str, expected: int | None, actual: int | None
) -> None:
    if expected is not None and expected != actual:
        shown = f"v{actual}" if actual is not None else "none"
        raise DeploymentMovedError(
            f"{feature} moved in {environment} meanwhile: the {what} is now {shown}, "
            f"not v{expected}; look again before you move it"
        )
