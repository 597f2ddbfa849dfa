"""Rows stored before the limits existed: find each one, by feature and version.

A SQLite store could take values PostgreSQL refuses (a version past 2**31-1, a 300-
character author, a NUL in a name). Such a store cannot push: ``promptdeck doctor``
lists every offending row so it can be dealt with (see README, "Stores with rows
beyond the limits").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from promptdeck import limits
from promptdeck.display import visible
from promptdeck.errors import ValidationError
from promptdeck.store.rows import AuditEventRow, DeploymentRow, FeatureRow, RoleRow, VersionRow


@dataclass(frozen=True, slots=True)
class Finding:
    """One stored value beyond the limits."""

    where: str  # "translator v3", "role of ...", "audit event 12"
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.problem}"


def _shown(name: str) -> str:
    """A stored name as it may be printed: controls pictured, long ones cut."""
    text = visible(name)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(check: Callable[[Any], object], value: Any) -> str | None:
    try:
        check(value)
    except ValidationError as exc:
        return str(exc)
    return None


def findings(session: Session) -> list[Finding]:
    return list(_findings(session))


def _findings(session: Session) -> Iterator[Finding]:
    names = dict(session.execute(select(FeatureRow.id, FeatureRow.name)).all())
    for name in names.values():
        if problem := _problem(limits.check_name, name):
            yield Finding(f"feature {_shown(name)}", "name", problem)
    version_checks: list[tuple[str, Callable[[Any], object]]] = [
        ("number", limits.check_version_number),
        ("id", limits.check_uid),
        ("author", limits.check_author),
        ("model", limits.check_model),
        ("reason", limits.check_reason),
        ("created_at", limits.check_timestamp),
        ("parameters", limits.check_parameters),
        ("system_prompt", limits.check_prompt),
    ]
    for row in session.scalars(
        select(VersionRow).order_by(VersionRow.feature_id, VersionRow.number)
    ):
        where = f"{_shown(names.get(row.feature_id, '?'))} v{row.number}"
        values = {
            "number": row.number,
            "id": row.uid,
            "author": row.author,
            "model": row.model,
            "reason": row.reason,
            "created_at": row.created_at,
            "parameters": row.parameters,
            "system_prompt": row.system_prompt,
        }
        for field, check in version_checks:
            if problem := _problem(check, values[field]):
                yield Finding(where, field, problem)
    for deployment in session.scalars(select(DeploymentRow)):
        where = f"{_shown(names.get(deployment.feature_id, '?'))} in " + (
            _shown(deployment.environment)
        )
        if problem := _problem(limits.check_environment, deployment.environment):
            yield Finding(where, "environment", problem)
        if problem := _problem(limits.check_percent, deployment.canary_percent):
            yield Finding(where, "canary percentage", problem)
    for user in session.scalars(select(RoleRow.user)):
        if problem := _problem(limits.check_user, user):
            yield Finding(f"role of {_shown(user)}", "user", problem)
    for event_id, actor in session.execute(select(AuditEventRow.id, AuditEventRow.actor)):
        if problem := _problem(limits.check_user, actor):
            yield Finding(f"audit event {event_id}", "actor", problem)
