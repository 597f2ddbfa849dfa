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

from promptdeck.errors import PermissionDeniedError
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
    if not env.protected:
        return []
    found: list[str] = []
    found.extend(_review_blockers(session, feature, version, env))
    return found


def require_clear(
    work: UnitOfWork, feature: FeatureRow, version: VersionRow, environment: str
) -> None:
    """Refuse (NotApprovedError, the blockers on one line) unless the move may go ahead."""
    found = blockers(work, feature, version, environment)
    if found:
        raise NotApprovedError("; ".join(found))


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
