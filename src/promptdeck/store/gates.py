"""The gate of every pointer move into an environment: why it may not go ahead.

``blockers`` is called by every move of a version into an environment (activate,
set_canary, promote; import and sync of pointers); each area adds its reasons here, one
line each. An empty list means the move may go ahead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptdeck.errors import GateError, PermissionDeniedError
from promptdeck.store.checks import checks_blocker

if TYPE_CHECKING:
    from promptdeck.store.rows import FeatureRow, VersionRow
    from promptdeck.store.unit_of_work import UnitOfWork


def blockers(
    work: UnitOfWork, feature_row: FeatureRow, version_row: VersionRow, environment: str
) -> list[str]:
    """Every reason ``environment`` refuses ``version_row`` now, one line each."""
    found: list[str] = []
    checks = checks_blocker(work.session, feature_row, version_row, environment)
    if checks is not None:
        found.append(checks)
    return found


def pass_gate(
    work: UnitOfWork,
    feature_row: FeatureRow,
    version_row: VersionRow,
    environment: str,
    *,
    reason: str,
    override_checks: bool = False,
) -> None:
    """Raise GateError naming what is missing, unless nothing is.

    ``override_checks``: an admin takes the version without passing checks; the
    override is an audit event with the move's reason. Other blockers still refuse.
    """
    missing = blockers(work, feature_row, version_row, environment)
    if not missing:
        return
    checks = checks_blocker(work.session, feature_row, version_row, environment)
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
                feature_row.name,
                environment=environment,
                to_version=version_row.number,
                reason=reason,
                details={"missing": checks},
            )
            return
    raise GateError("; ".join(missing))
