"""The activation gate: what keeps a version out of an environment.

Every pointer move into an environment (activate, set a canary, promote; import and
sync of pointers) asks this module inside its own unit of work, after the revision
bump that serialises writers: an approval withdrawn (a rejection) a moment earlier is
seen, and one given a moment later is not needed. Each area adds its own line here
(reviews, then checks); an empty list means the move may go ahead.
Rollback is not gated: it returns to a version that was already live.

One rule, two ways in: ``blockers_of_moves`` reads what the rule needs for many moves
at once (environments, reviews, current suites and check runs: a constant
number of queries per batch of moves, for sync), and ``read_blocked`` is the same call
for one move (activate, canary, promote, import, the app's explanation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptdeck.errors import GateError, PermissionDeniedError
from promptdeck.records import Review, ReviewKind, ReviewState
from promptdeck.store.bulk import chunks, one_of
from promptdeck.store.rows import (
    CheckRunRow,
    EnvironmentRow,
    FeatureRow,
    ReviewRow,
    SuiteRow,
    VersionRow,
)
from promptdeck.store.unit_of_work import UnitOfWork


class NotApprovedError(PermissionDeniedError):
    """A version may not go live in a protected environment yet (its blockers say why)."""


@dataclass(frozen=True, slots=True)
class Move:
    """A version about to go live (active or canary) in an environment; the version's
    number and author name it in the refusal (callers hold them: no second read)."""

    feature_id: int
    feature: str
    version_id: int
    number: int
    author: str
    environment: str


@dataclass(frozen=True, slots=True)
class Blocked:
    """Why one move may not go ahead: the review line, the checks line (either may be
    None, not both)."""

    review: str | None
    checks: str | None

    @property
    def lines(self) -> list[str]:
        return [line for line in (self.review, self.checks) if line is not None]


@dataclass(frozen=True, slots=True)
class GateSettings:
    """An environment's settings, as far as the gate cares."""

    name: str
    protected: bool
    required_approvals: int
    require_checks: bool


@dataclass(frozen=True, slots=True)
class _Suite:
    uid: str
    number: int


@dataclass(slots=True)
class _Runs:
    """A version's runs of one suite, as far as the gate cares."""

    passed: bool = False
    latest: tuple[datetime, int, str] | None = None  # (finished_at, id, status)


def read_blocked(
    session: Session, feature: FeatureRow, version: VersionRow, environment: str
) -> Blocked | None:
    """Why ``version`` of ``feature`` may not go live in ``environment`` (None: it may),
    on any session: the unit of work's gate, and the app's read before it asks for a
    reason. An unknown environment is refused with "did you mean"."""
    from promptdeck.store.governance import environment_row

    row = environment_row(session, environment)  # NotFoundError with "did you mean"
    settings = GateSettings(
        row.name, bool(row.protected), row.required_approvals, bool(row.require_checks)
    )
    move = Move(feature.id, feature.name, version.id, version.number, version.author, environment)
    return blockers_of_moves(session, [move], {environment: settings}).get(move)


def blockers_of_moves(
    session: Session,
    moves: Sequence[Move],
    environments: Mapping[str, GateSettings] | None = None,
) -> dict[Move, Blocked]:
    """The moves the gate refuses, each with why; a move missing from the result may
    go ahead. Reads in bulk: the environments (unless given: sync passes the settings
    read before its run copied any), then for the moves they concern the reviews,
    current suites and check runs, bulk.IN_CHUNK values per query.

    An environment the store does not hold is neither protected nor requires checks
    (callers that name one from user input check it exists first)."""
    if not moves:
        return {}
    if environments is None:
        environments = read_settings(session, {m.environment for m in moves})
    protected = [m for m in moves if _settings(environments, m).protected]
    checked = [m for m in moves if _settings(environments, m).require_checks]
    if not protected and not checked:
        return {}
    reviews = _review_states(session, protected)
    suites = _current_suites(session, {m.feature_id for m in checked})
    runs = _check_runs(session, {m.version_id for m in checked})
    found: dict[Move, Blocked] = {}
    for move in moves:
        env = _settings(environments, move)
        review = None
        if env.protected:
            review = review_line(
                move.feature,
                move.number,
                move.author,
                env.name,
                env.required_approvals,
                reviews[move.version_id],
            )
        checks = None
        if env.require_checks:
            suite = suites.get(move.feature_id)
            held = runs.get((move.version_id, suite.uid)) if suite is not None else None
            checks = checks_line(
                env.name,
                move.feature,
                move.number,
                suite.number if suite is not None else None,
                held.passed if held is not None else False,
                held.latest[2] if held is not None and held.latest is not None else None,
            )
        if review is not None or checks is not None:
            found[move] = Blocked(review, checks)
    return found


def pass_gate(
    work: UnitOfWork,
    feature: FeatureRow,
    version: VersionRow,
    environment: str,
    *,
    reason: str,
    override_checks: bool = False,
) -> None:
    """Refuse, naming what is missing on one line, unless the move may go ahead.

    Missing approvals raise NotApprovedError; missing checks alone raise GateError.
    ``override_checks``: an admin takes the version without passing checks; the
    override is an audit event with the move's reason. Other blockers still refuse.
    """
    found = read_blocked(work.session, feature, version, environment)
    if found is None:
        return
    if override_checks and found.checks is not None:
        if work.role() != "admin":
            raise PermissionDeniedError(
                f"{work.user} is {work.role()}: to override the checks an environment "
                "requires you must be an admin"
            )
        if found.review is None:
            work.audit(
                "override-checks",
                feature.name,
                environment=environment,
                to_version=version.number,
                reason=reason,
                details={"missing": found.checks},
            )
            return
        raise NotApprovedError(found.review)
    if found.review is None:
        assert found.checks is not None
        raise GateError(found.checks)
    raise NotApprovedError("; ".join(found.lines))


# --- the rule's wording: one line per area ------------------------------------------------


def review_line(
    feature: str,
    number: int,
    author: str,
    environment: str,
    required_approvals: int,
    state: ReviewState,
) -> str | None:
    """Why a protected ``environment`` refuses the version on review (None: it may go)."""
    where = f"version {number} of {feature}"
    if state.rejected_by:
        who = " and ".join(state.rejected_by)
        return (
            f"{where} was rejected by {who}; {environment} is protected: it goes live only "
            f"once {who} approve{'s' if len(state.rejected_by) == 1 else ''} it"
        )
    needed = required_approvals
    if state.approvals >= needed:
        return None
    have = f"it has {state.approvals}" if state.approvals else "it has none"
    ask = (
        ""
        if state.status == "requested"
        else f" (ask with `promptdeck review request {feature} {number} --reason ...`)"
    )
    return (
        f"{where} needs {needed} approval{'s' if needed != 1 else ''} by someone other than "
        f"its author ({author}) to go live in {environment} (protected); {have}{ask}"
    )


def checks_line(
    environment: str,
    feature: str,
    number: int,
    suite_number: int | None,
    passed: bool,
    latest_status: str | None,
) -> str | None:
    """Why an ``environment`` that requires checks refuses the version (None: it may go):
    it needs a passing run of the feature's current suite (``suite_number``)."""
    if suite_number is None:
        return (
            f"{environment} requires passing checks, and {feature} has no suite: add one "
            f"with `promptdeck suite set {feature} --file SUITE.yaml --reason ...`"
        )
    if passed:
        return None
    state = "has not been run" if latest_status is None else f"last {latest_status}"
    return (
        f"{environment} requires passing checks: v{number} of {feature} has no passing run "
        f"of suite #{suite_number} ({state}); run `promptdeck check {feature} {number}`"
    )


# --- reading in bulk ----------------------------------------------------------------------


_NOT_HELD = GateSettings("", False, 0, False)


def _settings(environments: Mapping[str, GateSettings], move: Move) -> GateSettings:
    return environments.get(move.environment, _NOT_HELD)


def read_settings(session: Session, names: Iterable[str]) -> dict[str, GateSettings]:
    """The gate's settings of the environments ``names`` that the store holds."""
    rows = session.execute(
        select(
            EnvironmentRow.name,
            EnvironmentRow.protected,
            EnvironmentRow.required_approvals,
            EnvironmentRow.require_checks,
        ).where(EnvironmentRow.name.in_(sorted(names)))
    )
    return {
        name: GateSettings(name, bool(protected), int(approvals), bool(checks))
        for name, protected, approvals, checks in rows
    }


def _review_states(session: Session, moves: Sequence[Move]) -> dict[int, ReviewState]:
    """version id -> its review state (the same fold the review commands show)."""
    from promptdeck.store.governance import fold_review_state

    feature_of = {m.version_id: m.feature for m in moves}
    number_of = {m.version_id: m.number for m in moves}
    grouped: dict[int, list[Review]] = {version_id: [] for version_id in feature_of}
    for chunk in chunks(sorted(feature_of)):
        for version_id, uid, kind, actor, comment, at in session.execute(
            select(
                ReviewRow.version_id,
                ReviewRow.uid,
                ReviewRow.kind,
                ReviewRow.actor,
                ReviewRow.comment,
                ReviewRow.created_at,
            )
            .where(one_of(session, ReviewRow.version_id, chunk))
            .order_by(ReviewRow.id)
        ):
            feature, number = feature_of[version_id], number_of[version_id]
            kind = cast(ReviewKind, kind)
            grouped[version_id].append(Review(uid, feature, number, kind, actor, comment, at))
    return {
        version_id: fold_review_state(feature_of[version_id], number_of[version_id], found)
        for version_id, found in grouped.items()
    }


def _current_suites(session: Session, feature_ids: set[int]) -> dict[int, _Suite]:
    """feature id -> its current suite (the highest number)."""
    found: dict[int, _Suite] = {}
    for chunk in chunks(sorted(feature_ids)):
        newest = (
            select(SuiteRow.feature_id, func.max(SuiteRow.number).label("number"))
            .where(one_of(session, SuiteRow.feature_id, chunk))
            .group_by(SuiteRow.feature_id)
            .subquery()
        )
        for feature_id, uid, number in session.execute(
            select(SuiteRow.feature_id, SuiteRow.uid, SuiteRow.number).join(
                newest,
                (newest.c.feature_id == SuiteRow.feature_id) & (newest.c.number == SuiteRow.number),
            )
        ):
            found[feature_id] = _Suite(uid, number)
    return found


def _check_runs(session: Session, version_ids: set[int]) -> dict[tuple[int, str], _Runs]:
    """(version id, suite uid) -> whether a run passed and the latest run's status."""
    found: dict[tuple[int, str], _Runs] = {}
    for chunk in chunks(sorted(version_ids)):
        for run_id, version_id, suite_uid, status, finished_at in session.execute(
            select(
                CheckRunRow.id,
                CheckRunRow.version_id,
                CheckRunRow.suite_uid,
                CheckRunRow.status,
                CheckRunRow.finished_at,
            ).where(
                one_of(session, CheckRunRow.version_id, chunk),
                CheckRunRow.suite_uid.is_not(None),
            )
        ):
            assert suite_uid is not None
            runs = found.setdefault((version_id, suite_uid), _Runs())
            runs.passed = runs.passed or status == "passed"
            if runs.latest is None or (finished_at, run_id) > runs.latest[:2]:
                runs.latest = (finished_at, run_id, status)
    return found
