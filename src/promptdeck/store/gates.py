"""The activation gate: what keeps a version out of an environment.

Every pointer move into an environment (activate, set a canary, promote; import and
sync of pointers) calls ``blockers`` inside its own unit of work, after the revision
bump that serialises writers: an approval withdrawn (a rejection) a moment earlier is
seen, and one given a moment later is not needed. Each area adds its own line here
(reviews below, checks beside them); an empty list means the move may go ahead.
Rollback is not gated: it returns to a version that was already live.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from promptdeck.errors import GateError, PermissionDeniedError
from promptdeck.store.checks import checks_blocker
from promptdeck.store.rows import EnvironmentRow, FeatureRow, VersionRow
from promptdeck.store.unit_of_work import UnitOfWork


class NotApprovedError(PermissionDeniedError):
    """A version may not go live in a protected environment yet (its blockers say why)."""


def blockers(
    work: UnitOfWork, feature: FeatureRow, version: VersionRow, environment: str
) -> list[str]:
    """What keeps ``version`` of ``feature`` out of ``environment``, one line each."""
    return read_blockers(work.session, feature, version, environment)


def read_blockers(
    session: Session, feature: FeatureRow, version: VersionRow, environment: str
) -> list[str]:
    """``blockers`` on any session (the app's read before it asks for a reason)."""
    from promptdeck.store.governance import environment_row

    env = environment_row(session, environment)
    found: list[str] = []
    if env.protected:
        found.extend(_review_blockers(session, feature, version, env))
    checks = checks_blocker(session, feature, version, environment)
    if checks is not None:
        found.append(checks)
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
    missing = blockers(work, feature, version, environment)
    if not missing:
        return
    checks = checks_blocker(work.session, feature, version, environment)
    if override_checks and checks is not None:
        if work.role() != "admin":
            raise PermissionDeniedError(
                f"{work.user} is {work.role()}: to override the checks an environment "
                "requires you must be an admin"
            )
        missing = [line for line in missing if line != checks]
        if not missing:
            work.audit(
                "override-checks",
                feature.name,
                environment=environment,
                to_version=version.number,
                reason=reason,
                details={"missing": checks},
            )
            return
    if missing == [checks]:
        raise GateError(checks)
    raise NotApprovedError("; ".join(missing))


def _review_blockers(
    session: Session, feature: FeatureRow, version: VersionRow, env: EnvironmentRow
) -> list[str]:
    from promptdeck.store.governance import review_state

    state = review_state(session, version, feature.name)
    where = f"version {version.number} of {feature.name}"
    if state.rejected_by:
        who = " and ".join(state.rejected_by)
        return [
            f"{where} was rejected by {who}; {env.name} is protected: it goes live only "
            f"once {who} approve{'s' if len(state.rejected_by) == 1 else ''} it"
        ]
    needed = env.required_approvals
    if state.approvals >= needed:
        return []
    have = f"it has {state.approvals}" if state.approvals else "it has none"
    ask = (
        ""
        if state.status == "requested"
        else f" (ask with `promptdeck review request {feature.name} {version.number} --reason ...`)"
    )
    return [
        f"{where} needs {needed} approval{'s' if needed != 1 else ''} by someone other than "
        f"its author ({version.author}) to go live in {env.name} (protected); {have}{ask}"
    ]
