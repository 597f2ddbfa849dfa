"""The unit of work: every write of promptdeck, the store's and sync's, is one.

A unit of work is one write transaction that first bumps the store's revision (which
serialises writers on every backend, so a version number read afterwards is final
until commit), then offers what writers need: role checks against the permission
table, lookups, version and feature adds, pointer moves with the rollback stack, and
audit events. On PostgreSQL the commit notifies runtime clients of the new revision.

    with store.unit_of_work() as work:
        work.require(Action.SAVE)
        feature = work.feature("summarizer", lock=True)
        ...

``work.session`` is there for bulk inserts (sync, import); rules that more than one
writer applies live here as methods, never as copies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from promptdeck.errors import PermissionDeniedError
from promptdeck.permissions import Action, allowed, refusal
from promptdeck.records import Deployment, Role, content_hash
from promptdeck.store import lookups
from promptdeck.store.clock import now
from promptdeck.store.driver_errors import INSUFFICIENT_PRIVILEGE, translated_errors
from promptdeck.store.engine import NOTIFY_CHANNEL, WRITE_OPTION
from promptdeck.store.rows import (
    AuditEventRow,
    DeploymentRow,
    EnvironmentRow,
    FeatureRow,
    RollbackEntryRow,
    StoreStateRow,
    VersionRow,
)


class _Unset:
    """The default of ``move``: leave this pointer where it is (None clears it)."""


UNSET: Final = _Unset()


def require_role(user: str, role: Role, action: Action) -> None:
    """Raise PermissionDeniedError (the table's wording) unless ``role`` may ``action``."""
    if not allowed(role, action):
        raise PermissionDeniedError(refusal(user, role, action))


class UnitOfWork:
    """One open write transaction on a store, for ``user``, at ``revision``."""

    def __init__(self, session: Session, revision: int, user: str) -> None:
        self.session = session
        self.revision = revision  # the store's revision once this unit commits
        self.user = user
        self._role: Role | None = None
        self._discarded = False
        #: PostgreSQL refused this login the revision bump: no write can succeed.
        self.database_refuses_writes = False

    # -- the transaction ---------------------------------------------------------

    @property
    def revision_before(self) -> int:
        """The store's revision as it was when this unit began."""
        return self.revision - 1

    def discard(self) -> None:
        """Roll back everything at the end of the block, the revision bump included:
        a write that found nothing to write leaves no trace."""
        self._discarded = True

    @property
    def discarded(self) -> bool:
        return self._discarded

    # -- roles -----------------------------------------------------------------------

    def role(self) -> Role:
        """The role of this unit's user (read once per unit)."""
        if self._role is None:
            self._role = lookups.role_of(self.session, self.user)
        return self._role

    def may(self, action: Action) -> bool:
        return allowed(self.role(), action)

    def require(self, action: Action) -> None:
        """Refuse (PermissionDeniedError) unless this unit's user may ``action``."""
        require_role(self.user, self.role(), action)
        if self.database_refuses_writes:
            raise PermissionDeniedError(
                f"the database refuses {self.user} any write to this store; ask an admin "
                "for a role (`promptdeck role LOGIN editor`)"
            )

    # -- lookups -----------------------------------------------------------------------

    def feature(self, name: str, *, lock: bool = False) -> FeatureRow:
        """The feature called ``name`` (NotFoundError if none); ``lock`` holds it."""
        return lookups.feature_row(self.session, name, lock=lock)

    def find_feature(self, name: str) -> FeatureRow | None:
        return self.session.scalars(select(FeatureRow).where(FeatureRow.name == name)).first()

    def version(self, feature: FeatureRow, number: int) -> VersionRow:
        return lookups.version_row(self.session, feature, number)

    def latest_version(self, feature: FeatureRow) -> VersionRow:
        return lookups.latest_version_row(self.session, feature)

    def number_of(self, version_id: int | None) -> int | None:
        return lookups.number_of(self.session, version_id)

    def deployment(self, feature: FeatureRow, environment: str) -> DeploymentRow | None:
        return lookups.deployment_row(self.session, feature, environment)

    def deployment_for_change(self, feature: FeatureRow, environment: str) -> DeploymentRow:
        """The deployment of ``feature`` in ``environment``, created empty if missing.

        An environment a deployment names exists: import and sync bring the
        environments they carry (the API's own moves refuse unknown ones first)."""
        row = lookups.deployment_row(self.session, feature, environment)
        if row is None:
            self.ensure_environment(environment)
            row = DeploymentRow(
                feature_id=feature.id,
                environment=environment,
                canary_percent=0,
                revision=0,
                updated_at=now(),
            )
            self.session.add(row)
            self.session.flush()
        return row

    def ensure_environment(self, name: str) -> EnvironmentRow:
        """The environment ``name``, created (unprotected) unless it exists."""
        row = self.session.scalars(
            select(EnvironmentRow).where(EnvironmentRow.name == name)
        ).first()
        if row is None:
            row = EnvironmentRow(
                name=name,
                protected=False,
                required_approvals=1,
                require_checks=False,
                created_at=now(),
                created_by=self.user,
            )
            self.session.add(row)
            self.session.flush()
        return row

    def to_deployment(
        self, feature: str, environment: str, deployment: DeploymentRow | None
    ) -> Deployment:
        """The deployment as the frozen record the store hands out."""
        return lookups.to_deployment(self.session, feature, environment, deployment)

    # -- pointer moves and the rollback stack ------------------------------------------

    def rollback_stack(self, deployment: DeploymentRow) -> list[RollbackEntryRow]:
        return lookups.rollback_stack(self.session, deployment)

    def push_rollback(self, deployment: DeploymentRow, version_id: int) -> None:
        """Put ``version_id`` on top of the deployment's rollback stack."""
        top = self.session.scalar(
            select(func.max(RollbackEntryRow.position)).where(
                RollbackEntryRow.deployment_id == deployment.id
            )
        )
        self.session.add(
            RollbackEntryRow(
                deployment_id=deployment.id, position=(top or 0) + 1, version_id=version_id
            )
        )
        self.session.flush()

    def roll_back_to(self, deployment: DeploymentRow, entry: RollbackEntryRow) -> None:
        """Go back to ``entry`` (the top of the deployment's rollback stack): take it
        off the stack and make it active; a canary of that version ends."""
        version_id = entry.version_id
        self.session.delete(entry)
        self.session.flush()
        self.move(deployment, active=version_id)
        if deployment.canary_version_id == version_id:
            self.move(deployment, canary=None, percent=0)

    def move(
        self,
        deployment: DeploymentRow,
        *,
        active: int | _Unset | None = UNSET,
        canary: int | _Unset | None = UNSET,
        percent: int | None = None,
    ) -> None:
        """Point the deployment elsewhere (version ids; None clears) and stamp it with
        this unit's revision, so runtime clients reload it."""
        if not isinstance(active, _Unset):
            deployment.active_version_id = active
        if not isinstance(canary, _Unset):
            deployment.canary_version_id = canary
        if percent is not None:
            deployment.canary_percent = percent
        deployment.revision = self.revision
        deployment.updated_at = now()

    def activate(self, deployment: DeploymentRow, version_id: int | None) -> None:
        """Make ``version_id`` active: the one before goes on the rollback stack, and
        a canary of the same version ends (a canary is never the active version)."""
        if deployment.active_version_id is not None:
            self.push_rollback(deployment, deployment.active_version_id)
        self.move(deployment, active=version_id)
        if version_id is not None and deployment.canary_version_id == version_id:
            self.move(deployment, canary=None, percent=0)

    # -- adds ------------------------------------------------------------------------------

    def add_feature(
        self, name: str, *, created_at: datetime | None = None, created_by: str | None = None
    ) -> FeatureRow:
        """A new feature (created now, by this unit's user, unless told otherwise)."""
        row = FeatureRow(
            name=name, created_at=created_at or now(), created_by=created_by or self.user
        )
        self.session.add(row)
        self.session.flush()
        return row

    def add_version(
        self,
        feature: FeatureRow,
        number: int,
        system_prompt: str,
        model: str,
        parameters: dict[str, Any],
        reason: str,
        *,
        parent: int | None,
    ) -> VersionRow:
        """A new version by this unit's user, now (inputs already checked)."""
        row = VersionRow(
            uid=str(uuid.uuid4()),
            feature_id=feature.id,
            number=number,
            system_prompt=system_prompt,
            model=model,
            parameters=parameters,
            author=self.user,
            reason=reason,
            created_at=now(),
            parent_number=parent,
            content_hash=content_hash(system_prompt, model, parameters),
        )
        self.session.add(row)
        self.session.flush()
        return row

    def audit(
        self,
        action: str,
        feature: str | None,
        *,
        reason: str,
        environment: str | None = None,
        from_version: int | None = None,
        to_version: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append an audit event by this unit's user, now."""
        self.session.add(
            AuditEventRow(
                uid=str(uuid.uuid4()),
                at=now(),
                actor=self.user,
                action=action,
                feature=feature,
                environment=environment,
                from_version=from_version,
                to_version=to_version,
                reason=reason,
                details=dict(details or {}),
            )
        )


@contextmanager
def unit_of_work(engine: Engine, url: str, user: str) -> Iterator[UnitOfWork]:
    """Open a unit of work: commit when the block ends, roll back on an exception or
    when the unit was discarded."""
    with translated_errors(url), engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin() as transaction:
            session = Session(bind=connection, autoflush=True)
            try:
                writable = _bump_revision(session)
                revision = session.scalar(
                    select(StoreStateRow.revision).where(StoreStateRow.id == 1)
                )
                assert revision is not None
                work = UnitOfWork(session, revision + (0 if writable else 1), user)
                work.database_refuses_writes = not writable
                yield work
                if work.discarded:
                    transaction.rollback()
                    return
                session.flush()
                if connection.dialect.name == "postgresql":
                    # Delivered on commit: runtime clients listening refresh at once.
                    session.execute(
                        text("SELECT pg_notify(:channel, :revision)"),
                        {"channel": NOTIFY_CHANNEL, "revision": str(revision)},
                    )
            finally:
                session.close()


def _bump_revision(session: Session) -> bool:
    """Bump the store's revision (serialising writers); False when PostgreSQL refuses
    this login any write (a viewer): the unit's role check then says so in promptdeck's
    words instead of the driver's."""
    bump = (
        update(StoreStateRow)
        .where(StoreStateRow.id == 1)
        .values(revision=StoreStateRow.revision + 1)
    )
    if session.get_bind().dialect.name != "postgresql":
        session.execute(bump)
        return True
    try:
        with session.begin_nested():
            session.execute(bump)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        return False
    return True


@contextmanager
def read_session(engine: Engine, url: str) -> Iterator[Session]:
    """One read transaction."""
    with translated_errors(url), Session(engine) as session, session.begin():
        yield session


@contextmanager
def snapshot_session(engine: Engine, url: str) -> Iterator[Session]:
    """A read transaction that sees one consistent state of the whole store (REPEATABLE
    READ on PostgreSQL; a SQLite read transaction already is one)."""
    with translated_errors(url), engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            session = Session(bind=connection)
            try:
                yield session
            finally:
                session.close()
