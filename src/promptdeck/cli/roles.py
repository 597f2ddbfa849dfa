"""Who may do what, and what was done: ``role``, ``history``."""

from __future__ import annotations

from typing import Any

import click

from promptdeck.cli.common import (
    CliState,
    bounded_count,
    emit_json,
    feature_argument,
    one_line,
    table,
    when,
)
from promptdeck.display import audit_move, visible
from promptdeck.permissions import article
from promptdeck.records import ROLES, AuditEvent


@click.command()
@click.argument("user", required=False)
@click.argument("role", required=False, type=click.Choice(ROLES))  # permissions' ladder
@click.pass_obj
def role(state: CliState, user: str | None, role: str | None) -> None:
    """Give USER a ROLE (admin only); with no arguments, list the roles.

    Roles are a ladder: viewer < editor < reviewer (approves others' versions) < admin.
    On a PostgreSQL store set up by `init`, USER is a database login and the role is
    a database group the database itself enforces."""
    store = state.store()
    if user is None:
        roles = store.roles()
        if not roles:
            click.echo("no roles set: every user of this store may do everything")
        for name, value in roles.items():
            click.echo(f"{visible(name)}\t{value}")
        return
    if role is None:
        click.echo(f"{visible(user)}\t{store.role(user)}")
        return
    store.set_role(user, role)
    click.echo(f"{visible(user)} is now {article(role)} {role}")


@click.command()
@feature_argument(required=False)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    callback=bounded_count,
    help="Show at most this many events.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def history(state: CliState, feature: str | None, limit: int | None, as_json: bool) -> None:
    """The audit log, newest first: who did what, when, from which version to which, why."""
    events = state.store().history(feature, limit=limit)
    if as_json:
        emit_json([_event_json(e) for e in events])
        return
    click.echo(
        table(
            [
                (
                    when(e.at),
                    one_line(e.actor, 30),
                    e.action,
                    e.feature or "",
                    e.environment or "",
                    audit_move(e.action, e.from_version, e.to_version, e.details),
                    one_line(e.reason, 60),
                )
                for e in events
            ],
            ("AT", "ACTOR", "ACTION", "FEATURE", "ENV", "FROM → TO", "REASON"),
        )
    )


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": event.at,
        "actor": event.actor,
        "action": event.action,
        "feature": event.feature,
        "environment": event.environment,
        "from": event.from_version,
        "to": event.to_version,
        "reason": event.reason,
        "details": dict(event.details),
    }
