"""Suites and check runs in the store: ``store.checks``.

A feature's suite is versioned like its prompt: every change is a new revision with a
reason, identical content is refused, history is kept. A check run is written once,
whole, in one unit of work (a run that was interrupted is never written), and never
changed afterwards.

The checks gate: an environment whose ``require_checks`` is set takes a version only
when the version has a passing run for the feature's current suite. The rule and its
line live in ``store/gates.py`` with the other reasons a move is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptdeck.checks.records import (
    CheckRun,
    CheckState,
    SuiteRevision,
    canonical_suite,
    suite_hash,
)
from promptdeck.errors import NoChangeError, PermissionDeniedError, ValidationError
from promptdeck.permissions import Action, allowed, article
from promptdeck.records import MAX_ENVIRONMENT, Role, check_name
from promptdeck.store import lookups
from promptdeck.store.clock import now
from promptdeck.store.rows import (
    CheckRunRow,
    EnvironmentRow,
    FeatureRow,
    SuiteRow,
    VersionRow,
)
from promptdeck.store.validation import check_reason

if TYPE_CHECKING:
    from promptdeck.checks.runner import SuiteRun
    from promptdeck.store.api import PromptStore
    from promptdeck.store.unit_of_work import UnitOfWork


class Checks:
    """The suites and check runs of one store (``store.checks``)."""

    def __init__(self, store: PromptStore) -> None:
        self._store = store

    # -- suites ----------------------------------------------------------------------

    def suite(self, feature: str) -> SuiteRevision | None:
        """The feature's current suite (None when it has none)."""
        with self._store.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            row = current_suite_row(session, feature_row)
            return None if row is None else _to_revision(row, feature)

    def suite_history(self, feature: str) -> list[SuiteRevision]:
        """Every revision of the feature's suite, newest first."""
        with self._store.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            rows = session.scalars(
                select(SuiteRow)
                .where(SuiteRow.feature_id == feature_row.id)
                .order_by(SuiteRow.number.desc())
            )
            return [_to_revision(row, feature) for row in rows]

    def save_suite(
        self, feature: str, data: object, *, reason: str, source: str = ""
    ) -> SuiteRevision:
        """A new revision of the feature's suite (validated; identical content refused)."""
        reason = check_reason(reason)
        body = canonical_suite(data, source)
        with self._store.unit_of_work() as work:
            work.require(Action.SAVE)
            feature_row = work.feature(feature, lock=True)
            row = save_suite_in(work, feature_row, body, reason)
            if row is None:
                raise NoChangeError(f"nothing changed: the suite of {feature} is identical")
            return _to_revision(row, feature)

    # -- runs ------------------------------------------------------------------------

    def record_run(
        self, feature: str, number: int, run: SuiteRun, *, suite_uid: str | None
    ) -> CheckRun:
        """Store a finished run of the suite ``suite_uid`` against version ``number``."""
        data = run.to_data()
        with self._store.unit_of_work() as work:
            _require_recorder(work.user, work.role())
            feature_row = work.feature(feature)
            version_row = work.version(feature_row, number)
            if run.target.system_prompt != version_row.system_prompt or (
                run.target.model != version_row.model
            ):
                raise ValidationError(
                    f"this run was not made with version {number} of {feature}; not recorded"
                )
            totals = data["totals"]
            assert isinstance(totals, dict)
            row = CheckRunRow(
                uid=str(uuid.uuid4()),
                version_id=version_row.id,
                suite_uid=suite_uid,
                model=run.target.model,
                status=run.status,
                runner=work.user,
                started_at=run.started_at,
                finished_at=run.finished_at,
                summary=dict(totals),
                results=data,
            )
            work.session.add(row)
            work.session.flush()
            return _to_run(row, feature, number)

    def runs(self, feature: str, number: int) -> list[CheckRun]:
        """Every stored run of version ``number``, newest first, whatever the suite."""
        with self._store.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            version_row = lookups.version_row(session, feature_row, number)
            rows = session.scalars(
                select(CheckRunRow)
                .where(CheckRunRow.version_id == version_row.id)
                .order_by(CheckRunRow.finished_at.desc(), CheckRunRow.id.desc())
            )
            return [_to_run(row, feature, number) for row in rows]

    def latest_run(self, feature: str, number: int) -> CheckRun | None:
        """The newest run of version ``number`` against the feature's current suite."""
        with self._store.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            version_row = lookups.version_row(session, feature_row, number)
            suite = current_suite_row(session, feature_row)
            if suite is None:
                return None
            row = _latest_run_row(session, version_row.id, suite.uid)
            return None if row is None else _to_run(row, feature, number)

    def states(self, feature: str) -> dict[int, CheckState]:
        """Each version's check state against the current suite: its latest run's
        status, or "not run" (every version "not run" when there is no suite)."""
        with self._store.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            versions: dict[int, int] = {
                version_id: number
                for version_id, number in session.execute(
                    select(VersionRow.id, VersionRow.number).where(
                        VersionRow.feature_id == feature_row.id
                    )
                )
            }
            states: dict[int, CheckState] = {number: "not run" for number in versions.values()}
            suite = current_suite_row(session, feature_row)
            if suite is None or not versions:
                return states
            rows = session.execute(
                select(CheckRunRow.version_id, CheckRunRow.status)
                .where(
                    CheckRunRow.suite_uid == suite.uid,
                    CheckRunRow.version_id.in_(list(versions)),
                )
                .order_by(CheckRunRow.finished_at, CheckRunRow.id)
            )
            for version_id, status in rows:  # newest last: it wins
                states[versions[version_id]] = _state(status)
            return states

    def require_recorder(self) -> None:
        """Refuse (PermissionDeniedError) before a run that could not be stored."""
        _require_recorder(self._store.user, self._store.role())

    # -- the gate --------------------------------------------------------------------

    def required(self, environment: str) -> bool:
        """Whether ``environment`` requires passing checks."""
        with self._store.reading() as session:
            return _requires_checks(session, environment)

    def require(self, environment: str, on: bool = True) -> None:
        """Make ``environment`` require passing checks (or not); admins only.

        The governance commands (``env protect --require-checks``) set the same column.
        """
        check_name(environment, "environment", MAX_ENVIRONMENT)
        with self._store.unit_of_work() as work:
            if work.role() != "admin":
                raise PermissionDeniedError(
                    f"{work.user} is {work.role()}: to change what an environment requires "
                    "you must be an admin"
                )
            row = work.session.scalars(
                select(EnvironmentRow).where(EnvironmentRow.name == environment)
            ).first()
            if row is None:
                row = work.ensure_environment(environment)  # unprotected, as everywhere
            elif row.require_checks == on:
                work.discard()
                return
            row.require_checks = on
            work.audit(
                "require-checks" if on else "require-checks-off",
                None,
                environment=environment,
                reason=f"{environment} {'requires' if on else 'no longer requires'} passing checks",
            )


# --- helpers the unit of work's writers share (import, the gate) -------------------------


def current_suite_row(session: Session, feature_row: FeatureRow) -> SuiteRow | None:
    return session.scalars(
        select(SuiteRow)
        .where(SuiteRow.feature_id == feature_row.id)
        .order_by(SuiteRow.number.desc())
        .limit(1)
    ).first()


def save_suite_in(
    work: UnitOfWork, feature_row: FeatureRow, body: Mapping[str, Any], reason: str
) -> SuiteRow | None:
    """Add a revision with the canonical ``body`` in ``work``; None when it is identical
    to the current one (nothing written)."""
    digest = suite_hash(body)
    current = current_suite_row(work.session, feature_row)
    if current is not None and current.content_hash == digest:
        return None
    top = work.session.scalar(
        select(func.max(SuiteRow.number)).where(SuiteRow.feature_id == feature_row.id)
    )
    row = SuiteRow(
        uid=str(uuid.uuid4()),
        feature_id=feature_row.id,
        number=(top or 0) + 1,
        body=dict(body),
        content_hash=digest,
        author=work.user,
        reason=reason,
        created_at=now(),
    )
    work.session.add(row)
    work.session.flush()
    work.audit(
        "suite",
        feature_row.name,
        reason=reason,
        details={"suite": row.number, "cases": len(body.get("cases") or [])},
    )
    return row


def _require_recorder(user: str, role: Role) -> None:
    if not allowed(role, Action.SAVE):
        raise PermissionDeniedError(
            f"{user} is {article(role)} {role}: to record a check run you must be an editor"
        )


def _requires_checks(session: Session, environment: str) -> bool:
    return bool(
        session.scalar(
            select(EnvironmentRow.require_checks).where(EnvironmentRow.name == environment)
        )
    )


def _latest_run_row(session: Session, version_id: int, suite_uid: str) -> CheckRunRow | None:
    return session.scalars(
        select(CheckRunRow)
        .where(CheckRunRow.version_id == version_id, CheckRunRow.suite_uid == suite_uid)
        .order_by(CheckRunRow.finished_at.desc(), CheckRunRow.id.desc())
        .limit(1)
    ).first()


def _state(status: str) -> CheckState:
    if status == "passed":
        return "passed"
    return "error" if status == "error" else "failed"


def _to_revision(row: SuiteRow, feature: str) -> SuiteRevision:
    return SuiteRevision(
        feature=feature,
        number=row.number,
        uid=row.uid,
        body=row.body,
        content_hash=row.content_hash,
        author=row.author,
        reason=row.reason,
        created_at=row.created_at,
    )


def _to_run(row: CheckRunRow, feature: str, number: int) -> CheckRun:
    return CheckRun(
        uid=row.uid,
        feature=feature,
        version=number,
        suite_uid=row.suite_uid,
        model=row.model,
        status=row.status,
        runner=row.runner,
        started_at=row.started_at,
        finished_at=row.finished_at,
        summary=row.summary,
        results=row.results,
    )
