"""PromptStore: the store's API. Every rule of a write lives here or in the unit of work.

Versions are immutable and numbered per feature; a reason is required for every
change; activation and rollback move a pointer and keep a rollback stack; roles are
enforced (permissions.py); every write is one unit of work together with its audit
event.

A little over 600 lines: this is the whole public API of the store in one class, the
reads beside the writes they answer; the queries, the unit of work and import/export
live in their own modules.

Reads are Core queries (reads.py) on a plain connection; the ORM, the unit of work and
the modules built on them (governance, checks, gates, import/export, backup) are
imported by the methods that use them, so opening a store and reading from it never
loads ``sqlalchemy.orm``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.engine import make_url

import promptdeck.store as package  # create_store_engine, looked up per store (tests)
from promptdeck.config import declared_user, redact, to_url
from promptdeck.display import visible
from promptdeck.errors import (
    AlreadyActiveError,
    ConflictError,
    DeploymentMovedError,
    NoChangeError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
    ValidationError,
)
from promptdeck.files import create_private_file
from promptdeck.permissions import RANK, Action, article
from promptdeck.records import (
    DEFAULT_ENVIRONMENT,
    MAX_ENVIRONMENT,
    ROLES,
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
from promptdeck.store import reads, schema
from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.engine import read_only_url, sqlite_path
from promptdeck.store.identity import resolve_identity
from promptdeck.store.reads import VersionRef, read_connection
from promptdeck.store.validation import (
    check_environment,
    check_model,
    check_parameters,
    check_percent,
    check_prompt,
    check_reason,
    check_user,
    check_version_number,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from promptdeck.store import doctor
    from promptdeck.store.checks import Checks
    from promptdeck.store.governance import Governance
    from promptdeck.store.metrics import MetricsStore
    from promptdeck.store.rows import DeploymentRow, FeatureRow
    from promptdeck.store.transfer import ImportResult
    from promptdeck.store.unit_of_work import UnitOfWork


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

    A local (SQLite) store is created on first use; ``create=False`` refuses a missing
    file instead. A shared (server) store is created only explicitly, with
    ``initialize=True``: what ``promptdeck init`` does, which on PostgreSQL also sets up
    the database roles, GRANTs and triggers in the same transaction as the schema, so
    no one ever sees the store unsecured. Without it, a server database holding no
    store is refused in one line naming it and ``init``. The schema is migrated on open
    (``migrate=False``, for read-only clients such as the runtime library, refuses an
    out-of-date schema instead); a store from a newer promptdeck is refused and left
    untouched.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        user: str | None = None,
        create: bool = True,
        migrate: bool = True,
        engine_options: Mapping[str, Any] | None = None,
        initialize: bool = False,
    ) -> None:
        """``engine_options`` (keyword arguments of ``create_engine``) override the
        defaults on server databases, e.g. the runtime's single connection and no
        prepared statements behind PgBouncer."""
        self.url = to_url(location)
        declared = declared_user(user)
        path = sqlite_path(self.url)
        create = create or initialize
        if path is not None:
            if not path.exists() and not create:
                raise StoreError(
                    f"no store at {path}; create it with `promptdeck --db {path} init`"
                )
            if create:
                try:  # owner-only unless PROMPTDECK_SHARED_FILES (files.py)
                    create_private_file(path)
                except OSError as exc:
                    raise StoreError(f"cannot create store {path}: {exc.strerror or exc}") from None
        read_only = read_only_url(path) if path is not None else None
        # A store in a read-only directory is read without WAL's -shm file (engine.py).
        engine_url = read_only or self.url
        self._engine = (
            package.create_store_engine(engine_url, engine_options)
            if engine_options
            else package.create_store_engine(engine_url)
        )
        try:
            with translated_errors(self.url):
                secure = self._engine.dialect.name == "postgresql" and initialize
                if secure:  # the ORM and governance: only when a shared store is made
                    from promptdeck.store.governance import secure_store
                schema.migrate(
                    self._engine,
                    self.url,
                    upgrade=(migrate or initialize) and read_only is None,
                    # A shared store only explicitly; a local one as asked above.
                    new=initialize or self._engine.dialect.name == "sqlite",
                    then=secure_store if secure else None,
                )
                database = make_url(self.url).database or self.url
                #: Who acts here (store/governance.py): never simply what was declared.
                #: A declared name the store refuses leaves reads to the real login
                #: (the runtime only reads) and refuses every write in one line.
                self.identity_refusal: str | None = None
                try:
                    self.user, self.identity_source = resolve_identity(
                        self._engine, redact(database), declared
                    )
                except PermissionDeniedError as exc:
                    self.identity_refusal = str(exc)
                    self.user, self.identity_source = resolve_identity(
                        self._engine, redact(database), None
                    )
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
        if self.identity_refusal is not None:
            raise PermissionDeniedError(self.identity_refusal)
        check_user(self.user)  # written as author and actor: no controls, bounded
        from promptdeck.store.unit_of_work import unit_of_work  # the ORM: writers only

        return unit_of_work(self._engine, self.url, self.user)

    def reading(self) -> AbstractContextManager[Session]:
        """One ORM read transaction, for sync, governance, checks and tests; UIs call
        the read methods (Core, without the ORM: ``_read``)."""
        from promptdeck.store.unit_of_work import read_session

        return read_session(self._engine, self.url)

    def snapshot(self) -> AbstractContextManager[Session]:
        """A read transaction that sees one consistent state of the whole store."""
        from promptdeck.store.unit_of_work import snapshot_session

        return snapshot_session(self._engine, self.url)

    def _read(self) -> AbstractContextManager[Connection]:
        """One Core read transaction: what the read methods use (reads.py)."""
        return read_connection(self._engine, self.url)

    @cached_property
    def checks(self) -> Checks:
        """Suites and check runs (store/checks.py)."""
        from promptdeck.store.checks import Checks

        return Checks(self)

    @cached_property
    def metrics(self) -> MetricsStore:
        """Outcome aggregates: added by the runtime's recorder, read for statistics."""
        from promptdeck.store.metrics import MetricsStore

        return MetricsStore(self._engine, self.url)

    def schema_revision(self) -> str | None:
        with translated_errors(self.url), self._engine.connect() as connection:
            return schema.read_schema_revision(connection)

    # -- identity and roles --------------------------------------------------------

    @cached_property
    def governance(self) -> Governance:
        """Identity, environments, reviews and gates (store/governance.py)."""
        from promptdeck.store.governance import Governance

        return Governance(self)

    def role(self, user: str | None = None) -> Role:
        """The effective role of ``user`` (default: this store's user)."""
        from promptdeck.store import lookups

        with self.reading() as session:
            return lookups.role_of(session, user or self.user)

    def may(self, needed: Role) -> bool:
        return RANK[self.role()] >= RANK[needed]

    def require(self, action: Action) -> None:
        """Refuse (PermissionDeniedError) unless this store's user may ``action``; reads
        only (sync checks the remote's roles before it writes anything)."""
        from promptdeck.store.unit_of_work import require_role

        require_role(self.user, self.role(), action)

    def roles(self) -> dict[str, Role]:
        """Who has which role: the logins in the store's groups on a PostgreSQL store
        secured by ``init``, else the ``roles`` table."""
        from promptdeck.store import pg_security
        from promptdeck.store.rows import RoleRow

        with self.reading() as session:
            prefix = pg_security.stored_prefix(session)
            if prefix is not None:
                return pg_security.logins_with_roles(session, prefix)
            rows = session.execute(select(RoleRow.user, RoleRow.role).order_by(RoleRow.user))
            return {user: role for user, role in rows}  # type: ignore[misc]

    def set_role(self, user: str, role: str) -> None:
        if role not in RANK:
            raise ValidationError(f"unknown role {role!r}: use {', '.join(ROLES)}")
        if not user or not user.strip():
            raise ValidationError("a user name is required")
        check_user(user)
        from promptdeck.store import lookups, pg_security
        from promptdeck.store.rows import RoleRow

        with self.unit_of_work() as work:
            work.require(Action.SET_ROLE)
            session = work.session
            prefix = pg_security.stored_prefix(session)
            if prefix is not None:  # the database's own group roles: GRANT, REVOKE
                before_role = lookups.role_of(session, user)
                pg_security.grant_role(session, prefix, user, role)
                work.audit(
                    "role",
                    None,
                    reason=f"{user}: {before_role} -> {role}",
                    details={"user": user, "from": before_role, "to": role},
                )
                return
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
        with self._read() as connection:
            return reads.revision(connection)

    def features(
        self, environment: str = DEFAULT_ENVIRONMENT, *, name: str | None = None
    ) -> list[FeatureSummary]:
        """Every feature (or the one called ``name``) with its state in ``environment``
        (an unknown environment is refused with "did you mean ...?")."""
        with self._read() as connection:
            reads.require_environment(connection, environment)
            return reads.feature_summaries(connection, environment, name)

    def feature(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> FeatureSummary:
        for summary in self.features(environment, name=name):
            return summary
        raise NotFoundError(reads.unknown_feature(name))

    def versions(self, feature: str) -> list[VersionSummary]:
        """The feature's versions without their texts, newest first."""
        with self._read() as connection:
            return reads.version_summaries(connection, feature)

    def version(
        self, feature: str, ref: VersionRef = "latest", environment: str = DEFAULT_ENVIRONMENT
    ) -> Version:
        """One version with its text: a number, ``"active"`` or ``"latest"``."""
        with self._read() as connection:
            return reads.version(connection, feature, ref, environment)

    def deployment(self, feature: str, environment: str = DEFAULT_ENVIRONMENT) -> Deployment:
        with self._read() as connection:
            reads.require_environment(connection, environment)
            found = reads.deployment_records(connection, feature, environment)
        return found[0] if found else Deployment(feature=feature, environment=environment)

    def deployments(self, feature: str) -> list[Deployment]:
        with self._read() as connection:
            return reads.deployment_records(connection, feature)

    def environments(self) -> list[str]:
        """Every environment that exists, production first (store.governance has more)."""
        return [e.name for e in self.governance.environments()]

    def history(self, feature: str | None = None, limit: int | None = None) -> list[AuditEvent]:
        """Audit events, newest first; for one feature or the whole store."""
        with self._read() as connection:
            return reads.events(connection, feature, limit)

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
        with self._read() as connection:
            return reads.serving_entries(connection, environment, since_revision, on_bad_entry)

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
            return reads.version_record(row, name)

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
            base_row = (
                latest if base is None else work.version(feature_row, check_version_number(base))
            )
            seen = max(base_row.number, seen_latest or 0)
            if latest.number > seen and not force:
                raise ConflictError(
                    f"{visible(latest.author)} saved version {latest.number} of {feature} "
                    f"after version {base_row.number}, which this edit started from; review "
                    "it, then save on top of it (--force)",
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
            return reads.version_record(row, feature)

    @contextmanager
    def _deployment_change(
        self, action: Action, feature: str, environment: str, *, create: bool
    ) -> Iterator[_DeploymentChange]:
        """The opening every deployment write shares: one unit of work, the role check,
        the feature locked, and its deployment (created empty when ``create``)."""
        from promptdeck.store.governance import environment_row

        with self.unit_of_work() as work:
            work.require(action)
            check_name(environment, "environment", MAX_ENVIRONMENT)
            environment_row(work.session, environment)  # "did you mean ...?" if unknown
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
        override_checks: bool = False,
    ) -> Deployment:
        """Make ``number`` the active version; the one before goes on the rollback stack.

        ``expect_active``: the active version the caller showed its user; if another
        one is active by now, the move is refused (DeploymentMovedError).
        """
        reason = check_reason(reason)
        check_environment(environment)
        check_version_number(number)
        from promptdeck.store import gates

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
            gates.pass_gate(
                work,
                change.feature,
                target,
                environment,
                reason=reason,
                override_checks=override_checks,
            )
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
        from promptdeck.store.rows import VersionRow

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
        override_checks: bool = False,
    ) -> Deployment:
        """Serve ``number`` to ``percent`` % of users (chosen by user id) in ``environment``."""
        reason = check_reason(reason)
        percent = check_percent(percent)
        check_environment(environment)
        check_version_number(number)
        from promptdeck.store import gates

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
            if deployment.canary_version_id != target.id:  # a new canary passes the gate
                gates.pass_gate(
                    work,
                    change.feature,
                    target,
                    environment,
                    reason=reason,
                    override_checks=override_checks,
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
        self,
        feature: str,
        *,
        reason: str,
        environment: str = DEFAULT_ENVIRONMENT,
        override_checks: bool = False,
    ) -> Deployment:
        """The canary becomes the active version (the old one goes on the rollback stack)."""
        reason = check_reason(reason)
        from promptdeck.store import gates
        from promptdeck.store.rows import VersionRow

        with self._deployment_change(Action.PROMOTE, feature, environment, create=False) as change:
            work, deployment = change.work, change.deployment
            if deployment is None or deployment.canary_version_id is None:
                raise ValidationError(f"{feature} has no canary to promote in {environment}")
            before = work.number_of(deployment.active_version_id)
            target = deployment.canary_version_id
            canary_row = work.session.get(VersionRow, target)
            assert canary_row is not None
            gates.pass_gate(
                work,
                change.feature,
                canary_row,
                environment,
                reason=reason,
                override_checks=override_checks,
            )
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
        from promptdeck.store import transfer

        transfer.check_documents_agree(documents)
        with self.unit_of_work() as work:
            result = transfer.import_documents(work, documents)
            suites = _import_suites(work, documents)
            if suites:
                result = replace(result, suites_saved=suites)
            if not result.changed:
                work.discard()  # no revision bump for an import that changes nothing
        return result

    def beyond_limits(self) -> list[doctor.Finding]:
        """Stored values that limits.py refuses today (rows from before the limits)."""
        from promptdeck.store import doctor

        with self.reading() as session:
            return doctor.findings(session)

    def backup(self) -> dict[str, Any]:
        """Every row of every table from one consistent snapshot (see backup.py)."""
        from promptdeck.store.backup import dump

        with self.snapshot() as session:
            return dump(session.connection())

    def restore(self, data: Mapping[str, Any], source: str) -> int:
        """Restore a backup (``backup.parse``d) into this empty store; admins only."""
        self.require(Action.SET_ROLE)
        from promptdeck.store.backup import restore

        with translated_errors(self.url):
            return restore(self._engine, data, source)

    def export_document(self, feature: str) -> FeatureDocument:
        """Everything needed to rebuild the feature exactly in another store."""
        from promptdeck.store import lookups, transfer
        from promptdeck.store.checks import current_suite_row

        with self.reading() as session:
            document = transfer.export_document(session, feature)
            suite = current_suite_row(session, lookups.feature_row(session, feature))
            return document if suite is None else replace(document, suite=suite.body)


def _import_suites(work: UnitOfWork, documents: Sequence[FeatureDocument]) -> tuple[str, ...]:
    """Save the suites the documents carry (already canonical: yamlio parsed them) where
    they differ from the feature's current suite; the features whose suite changed."""
    from promptdeck.store.checks import save_suite_in

    saved: list[str] = []
    for document in documents:
        if document.suite is None:
            continue
        work.require(Action.SAVE)
        feature_row = work.feature(document.feature, lock=True)
        reason = f"Imported from {os.path.basename(document.source)}"
        if save_suite_in(work, feature_row, document.suite, reason) is not None:
            saved.append(document.feature)
    return tuple(saved)


def _check_expected(
    feature: str, environment: str, what: str, expected: int | None, actual: int | None
) -> None:
    if expected is not None and expected != actual:
        shown = f"v{actual}" if actual is not None else "none"
        raise DeploymentMovedError(
            f"{feature} moved in {environment} meanwhile: the {what} is now {shown}, "
            f"not v{expected}; look again before you move it"
        )
