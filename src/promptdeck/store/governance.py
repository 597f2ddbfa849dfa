"""Governance: who the user is, which environments exist, reviews, and the gate.

``store.governance`` (one per PromptStore) is the API the CLI and the app call:

- identity: on a PostgreSQL store secured by ``promptdeck init`` the user is the
  database login (session_user); elsewhere the operating-system login, and a declared
  ``--user`` is believed only while the store has no roles (see ``resolve_identity``);
- environments: created explicitly (production exists from the start), protected by an
  admin; naming an unknown one is refused with "did you mean ...?";
- reviews: append-only requests, approvals and rejections, each with an audit event,
  all in one unit of work; an approval is by someone other than the version's author;
- the gate (store/gates.py): what keeps a version out of a protected environment.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import Connection, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from promptdeck.diff import diff_texts
from promptdeck.errors import NotFoundError, PermissionDeniedError, StoreError, ValidationError
from promptdeck.limits import check_reason
from promptdeck.permissions import Action
from promptdeck.records import (
    DEFAULT_ENVIRONMENT,
    Environment,
    Identity,
    Review,
    ReviewKind,
    ReviewQueueEntry,
    ReviewState,
    ReviewStatus,
    check_name,
)
from promptdeck.store import gates, lookups, pg_security
from promptdeck.store.clock import now
from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.identity import TRUST_DECLARED_ENV, os_login, resolve_identity
from promptdeck.store.pg_security import ROLE_PREFIX_SETTING
from promptdeck.store.reads import unknown_environment
from promptdeck.store.rows import (
    DeploymentRow,
    EnvironmentRow,
    FeatureRow,
    ReviewRow,
    StoreSettingRow,
    VersionRow,
)
from promptdeck.store.schema import CREATION_LOCK
from promptdeck.store.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from promptdeck.store.api import PromptStore

# -- identity ------------------------------------------------------------------------


def role_prefix(session: Session) -> str | None:
    """The PostgreSQL group-role prefix when ``init`` secured this store, else None."""
    return session.scalar(
        select(StoreSettingRow.value).where(StoreSettingRow.key == ROLE_PREFIX_SETTING)
    )


def secure_store(connection: Connection) -> str:
    """Install (or bring up to date) the database roles, GRANTs and triggers of the
    PostgreSQL store on ``connection``, inside its transaction; returns the prefix.

    Takes the creation lock: concurrent ``init``s take turns (GRANTs on one role from
    two transactions at once fail with "tuple concurrently updated")."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CREATION_LOCK})
    with Session(bind=connection) as session:
        database = str(session.scalar(text("SELECT current_database()")))
        prefix = role_prefix(session) or pg_security.role_prefix(database)
    pg_security.install(connection, prefix, inspect(connection).get_table_names())
    return prefix


# -- environments ----------------------------------------------------------------------


def to_environment(row: EnvironmentRow) -> Environment:
    return Environment(
        name=row.name,
        protected=bool(row.protected),
        required_approvals=row.required_approvals,
        require_checks=bool(row.require_checks),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def environment_row(session: Session, name: str) -> EnvironmentRow:
    """The environment called ``name``; NotFoundError with "did you mean" if none."""
    row = session.scalars(select(EnvironmentRow).where(EnvironmentRow.name == name)).first()
    if row is None:
        known = session.scalars(select(EnvironmentRow.name)).all()
        raise NotFoundError(unknown_environment(name, known))
    return row


def add_environment(work: UnitOfWork, name: str) -> EnvironmentRow:
    """A new unprotected environment (callers check the name and the role)."""
    return work.ensure_environment(name)


# -- reviews ---------------------------------------------------------------------------


def fold_review_state(feature: str, version: int, reviews: Sequence[Review]) -> ReviewState:
    """The state that a version's reviews (oldest first) add up to: each reviewer's
    latest word counts; any standing rejection makes the version rejected."""
    latest_word: dict[str, ReviewKind] = {}
    request: Review | None = None
    for review in reviews:
        if review.kind == "request":
            request = review
        else:
            latest_word.pop(review.actor, None)  # keep dict order = order of latest word
            latest_word[review.actor] = review.kind
    approved = tuple(actor for actor, kind in latest_word.items() if kind == "approve")
    rejected = tuple(actor for actor, kind in latest_word.items() if kind == "reject")
    status: ReviewStatus = (
        "rejected"
        if rejected
        else "approved"
        if approved
        else "requested"
        if request is not None
        else "none"
    )
    return ReviewState(
        feature=feature,
        version=version,
        status=status,
        approved_by=approved,
        rejected_by=rejected,
        requested_by=request.actor if request else None,
        request_reason=request.comment if request else None,
        requested_at=request.at if request else None,
    )


def to_review(row: ReviewRow, feature: str, number: int) -> Review:
    return Review(
        uid=row.uid,
        feature=feature,
        version=number,
        kind=cast(ReviewKind, row.kind),
        actor=row.actor,
        comment=row.comment,
        at=row.created_at,
    )


def version_reviews(session: Session, version: VersionRow, feature: str) -> list[Review]:
    """The version's review rows, oldest first."""
    rows = session.scalars(
        select(ReviewRow).where(ReviewRow.version_id == version.id).order_by(ReviewRow.id)
    )
    return [to_review(row, feature, version.number) for row in rows]


def review_state(session: Session, version: VersionRow, feature: str) -> ReviewState:
    return fold_review_state(feature, version.number, version_reviews(session, version, feature))


class Governance:
    """Identity, environments, reviews and gates of one store (``store.governance``)."""

    def __init__(self, store: PromptStore) -> None:
        self._store = store

    # -- identity ------------------------------------------------------------------

    def identity(self) -> Identity:
        """Who this store's user is, how promptdeck knows it, and their role."""
        return Identity(
            user=self._store.user, source=self._store.identity_source, role=self._store.role()
        )

    def roles_prefix(self) -> str | None:
        """The prefix of the database group roles of a PostgreSQL store secured by
        ``init`` (``pd_<database>``); None for any other store."""
        with self._store.reading() as session:
            return pg_security.stored_prefix(session)

    def secure_postgresql(self) -> str:
        """``init`` on PostgreSQL: create the group roles, GRANTs and append-only
        triggers, make this login the first admin, and from then on take identity from
        the login and roles from the groups. Returns the group-role prefix.

        Idempotent for the login that owns the tables; anyone else is refused by the
        database itself."""
        store = self._store
        engine = store.engine
        if engine.dialect.name != "postgresql":
            raise ValidationError("database roles exist on PostgreSQL stores only")
        database = make_url(store.url).database or "promptdeck"
        with translated_errors(store.url), engine.begin() as connection:
            prefix = secure_store(connection)
        store.user, store.identity_source = resolve_identity(engine, database, None)
        return prefix

    # -- environments --------------------------------------------------------------

    def environments(self) -> list[Environment]:
        """Every environment that exists, production first, then by name."""
        with self._store.reading() as session:
            rows = session.scalars(select(EnvironmentRow).order_by(EnvironmentRow.name)).all()
            found = [to_environment(row) for row in rows]
        return sorted(found, key=lambda e: (e.name != DEFAULT_ENVIRONMENT, e.name))

    def environment(self, name: str) -> Environment:
        """One environment; NotFoundError with "did you mean ...?" if it does not exist."""
        with self._store.reading() as session:
            return to_environment(environment_row(session, name))

    def require_environment(self, name: str) -> None:
        """Refuse (NotFoundError, "did you mean ...?") unless ``name`` exists."""
        self.environment(name)

    def create_environment(self, name: str) -> Environment:
        """Create an unprotected environment (admins)."""
        check_name(name, "environment", 100)
        with self._store.unit_of_work() as work:
            work.require(Action.CREATE_ENVIRONMENT)
            exists = work.session.scalar(
                select(EnvironmentRow.id).where(EnvironmentRow.name == name)
            )
            if exists is not None:
                raise ValidationError(f"environment {name!r} already exists")
            row = add_environment(work, name)
            work.audit("env-create", None, environment=name, reason=f"created {name}")
            return to_environment(row)

    def protect_environment(
        self, name: str, *, approvals: int = 1, require_checks: bool = False
    ) -> Environment:
        """Protect ``name``: a version goes live there only once ``approvals`` people
        other than its author approved it (and its checks passed, if required)."""
        if (
            isinstance(approvals, bool)
            or not isinstance(approvals, int)
            or not 1 <= approvals <= 20
        ):
            raise ValidationError("approvals must be a whole number from 1 to 20")
        with self._store.unit_of_work() as work:
            work.require(Action.PROTECT_ENVIRONMENT)
            row = environment_row(work.session, name)
            before = (row.protected, row.required_approvals, row.require_checks)
            if before == (True, approvals, require_checks):
                raise ValidationError(
                    f"{name} is already protected with {approvals} approval(s)"
                    f"{' and required checks' if require_checks else ''}"
                )
            row.protected, row.required_approvals, row.require_checks = (
                True,
                approvals,
                require_checks,
            )
            work.audit(
                "env-protect",
                None,
                environment=name,
                reason=f"{name} protected: {approvals} approval(s)"
                + (", checks required" if require_checks else ""),
                details={"approvals": approvals, "require_checks": require_checks},
            )
            return to_environment(row)

    def unprotect_environment(self, name: str) -> Environment:
        """Lift the protection of ``name`` (admins)."""
        with self._store.unit_of_work() as work:
            work.require(Action.PROTECT_ENVIRONMENT)
            row = environment_row(work.session, name)
            if not row.protected:
                raise ValidationError(f"{name} is not protected")
            row.protected = False
            row.require_checks = False
            work.audit("env-unprotect", None, environment=name, reason=f"{name} unprotected")
            return to_environment(row)

    # -- reviews -------------------------------------------------------------------

    def request_review(self, feature: str, version: int, reason: str) -> ReviewState:
        """Ask reviewers to look at ``version`` of ``feature`` (editors)."""
        return self._review("request", Action.REQUEST_REVIEW, feature, version, reason)

    def approve(self, feature: str, version: int, comment: str) -> ReviewState:
        """Approve a version someone else wrote (reviewers and admins)."""
        return self._review("approve", Action.APPROVE, feature, version, comment)

    def reject(self, feature: str, version: int, comment: str) -> ReviewState:
        """Reject a version someone else wrote; it stays rejected until the same
        reviewer approves it (reviewers and admins)."""
        return self._review("reject", Action.REJECT, feature, version, comment)

    def _review(
        self, kind: ReviewKind, action: Action, feature: str, version: int, comment: str
    ) -> ReviewState:
        comment = check_reason(comment, "reason" if kind == "request" else "comment")
        with self._store.unit_of_work() as work:
            work.require(action)
            feature_row = work.feature(feature, lock=True)
            row = work.version(feature_row, version)
            if kind != "request" and row.author == work.user:
                raise PermissionDeniedError(
                    f"{work.user} wrote version {version} of {feature}: someone else must "
                    f"{'approve' if kind == 'approve' else 'reject'} it"
                )
            state = review_state(work.session, row, feature)
            if kind == "request" and state.status == "requested":
                raise ValidationError(
                    f"review of version {version} of {feature} was already requested by "
                    f"{state.requested_by}"
                )
            if kind == "approve" and work.user in state.approved_by:
                raise ValidationError(
                    f"{work.user} already approved version {version} of {feature}"
                )
            if kind == "reject" and work.user in state.rejected_by:
                raise ValidationError(
                    f"{work.user} already rejected version {version} of {feature}"
                )
            uid = str(uuid.uuid4())
            work.session.add(
                ReviewRow(
                    uid=uid,
                    version_id=row.id,
                    kind=kind,
                    actor=work.user,
                    comment=comment,
                    created_at=now(),
                )
            )
            work.session.flush()
            work.audit(
                {"request": "review-request", "approve": "approve", "reject": "reject"}[kind],
                feature,
                to_version=version,
                reason=comment,
                details={"review": uid},
            )
            return review_state(work.session, row, feature)

    def reviews(self, feature: str, version: int) -> list[Review]:
        """Every review row of the version, oldest first."""
        with self._store.reading() as session:
            row = lookups.version_row(session, lookups.feature_row(session, feature), version)
            return version_reviews(session, row, feature)

    def state(self, feature: str, version: int) -> ReviewState:
        """Where ``version`` of ``feature`` stands in review."""
        with self._store.reading() as session:
            row = lookups.version_row(session, lookups.feature_row(session, feature), version)
            return review_state(session, row, feature)

    def states(self, feature: str) -> dict[int, ReviewState]:
        """The review state of every version of ``feature`` that has any review row
        (a version missing here has status "none"): one query, for version tables."""
        with self._store.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            rows = session.execute(
                select(ReviewRow, VersionRow.number)
                .join(VersionRow, VersionRow.id == ReviewRow.version_id)
                .where(VersionRow.feature_id == feature_row.id)
                .order_by(ReviewRow.id)
            ).all()
            grouped: dict[int, list[Review]] = {}
            for review, number in rows:
                grouped.setdefault(number, []).append(to_review(review, feature, number))
        return {n: fold_review_state(feature, n, found) for n, found in grouped.items()}

    def queue(self, environment: str = DEFAULT_ENVIRONMENT) -> list[ReviewQueueEntry]:
        """Versions waiting for a reviewer's word (review requested, not yet approved,
        or rejected and asked again), newest first, each with the lines it adds and
        removes against what is live in ``environment``."""
        entries: list[ReviewQueueEntry] = []
        with self._store.reading() as session:
            environment_row(session, environment)
            asked = session.execute(
                select(VersionRow, FeatureRow.name)
                .join(FeatureRow, FeatureRow.id == VersionRow.feature_id)
                .where(
                    VersionRow.id.in_(
                        select(ReviewRow.version_id).where(ReviewRow.kind == "request")
                    )
                )
                .order_by(VersionRow.created_at.desc(), VersionRow.id.desc())
            ).all()
            for version, feature in asked:
                state = review_state(session, version, feature)
                if state.status == "approved" or _already_live(session, version, environment):
                    continue
                deployment = session.scalars(
                    select(DeploymentRow).where(
                        DeploymentRow.feature_id == version.feature_id,
                        DeploymentRow.environment == environment,
                    )
                ).first()
                live_row = (
                    session.get(VersionRow, deployment.active_version_id)
                    if deployment is not None and deployment.active_version_id is not None
                    else None
                )
                result = diff_texts(
                    live_row.system_prompt if live_row else "", version.system_prompt
                )
                entries.append(
                    ReviewQueueEntry(
                        feature=feature,
                        version=version.number,
                        author=version.author,
                        reason=version.reason,
                        created_at=version.created_at,
                        state=state,
                        environment=environment,
                        live=live_row.number if live_row else None,
                        lines_added=result.added,
                        lines_removed=result.removed,
                    )
                )
        return entries

    def pending_count(self, environment: str = DEFAULT_ENVIRONMENT) -> int:
        """How many versions wait in the queue (for the app's header, read on every
        reload): the same versions ``queue`` lists, from the review rows of versions
        asked for review and not live in ``environment``, without loading a version
        or computing a diff."""
        with self._store.reading() as session:
            environment_row(session, environment)
            live = select(DeploymentRow.active_version_id).where(
                DeploymentRow.environment == environment,
                DeploymentRow.active_version_id.is_not(None),
            )
            asked = select(ReviewRow.version_id).where(ReviewRow.kind == "request")
            rows = session.execute(
                select(ReviewRow.version_id, ReviewRow.kind, ReviewRow.actor)
                .where(ReviewRow.version_id.in_(asked), ReviewRow.version_id.not_in(live))
                .order_by(ReviewRow.id)
            ).all()
        # Each reviewer's latest word counts (as in fold_review_state): a version waits
        # unless someone's latest word approves it and nobody's rejects it.
        latest: dict[int, dict[str, str]] = {}
        for version_id, kind, actor in rows:
            words = latest.setdefault(version_id, {})
            if kind != "request":
                words[actor] = kind
        return sum(
            1
            for words in latest.values()
            if "reject" in words.values() or "approve" not in words.values()
        )

    # -- gates -----------------------------------------------------------------------

    def blockers(
        self, feature: str, version: int, environment: str = DEFAULT_ENVIRONMENT
    ) -> list[str]:
        """What keeps ``version`` from going live in ``environment``, one line each
        (empty: it may). The same rule activate/canary/promote apply in their unit of
        work; this read lets the app explain before a reason is typed."""
        return list(self.gate(feature, version, environment).blockers)

    def gate(self, feature: str, version: int, environment: str = DEFAULT_ENVIRONMENT) -> Gate:
        """``blockers`` with the checks' line named apart: the one blocker an admin may
        override (``override_checks`` on activate, set_canary and promote)."""
        with self._store.reading() as session:
            feature_row = lookups.feature_row(session, feature)
            row = lookups.version_row(session, feature_row, version)
            found = gates.read_blocked(session, feature_row, row, environment)
            if found is None:
                return Gate((), None)
            return Gate(tuple(found.lines), found.checks)


@dataclass(frozen=True, slots=True)
class Gate:
    """What keeps a version out of an environment (``Governance.gate``)."""

    blockers: tuple[str, ...]  # one line each; empty: the move may go ahead
    checks: str | None  # the line among them that missing checks add, if any

    @property
    def only_checks(self) -> bool:
        """Held back by missing checks alone: an admin may override."""
        return self.checks is not None and self.blockers == (self.checks,)


def _already_live(session: Session, version: VersionRow, environment: str) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(DeploymentRow)
            .where(
                DeploymentRow.environment == environment,
                DeploymentRow.active_version_id == version.id,
            )
        )
        or 0
    ) > 0


__all__ = [
    "ROLE_PREFIX_SETTING",
    "TRUST_DECLARED_ENV",
    "Gate",
    "Governance",
    "StoreError",
    "environment_row",
    "fold_review_state",
    "os_login",
    "resolve_identity",
    "role_prefix",
    "unknown_environment",
]
