"""Governance commands: ``env`` (environments), ``review`` (propose, approve, reject)
and ``whoami``. Every refusal is one line on stderr and exit code 1 (ErrorHandlingGroup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from promptdeck.cli.common import (
    JSON_OPTION,
    CliState,
    VersionType,
    emit_json,
    environment_default,
    feature_argument,
    number,
    one_line,
    table,
    when,
)

if TYPE_CHECKING:
    from promptdeck.records import Environment, ReviewQueueEntry, ReviewState


@click.command()
@click.pass_obj
def whoami(state: CliState) -> None:
    """Who promptdeck takes you for on this store, how it knows, and your role."""
    identity = state.store().governance.identity()
    source = {
        "postgresql-login": "the database login",
        "os-login": "the operating-system login",
        "declared": "declared with --user or PROMPTDECK_USER (this store has no roles)",
    }[identity.source]
    click.echo(f"{identity.user} ({identity.role}): {source}")


# -- environments ---------------------------------------------------------------------


@click.group("env")
def env() -> None:
    """Environments: list them; create, protect and unprotect them (admins)."""


def _env_line(environment: Environment) -> tuple[str, str, str, str]:
    if environment.protected:
        rule = f"protected: {environment.required_approvals} approval(s)"
        if environment.require_checks:
            rule += ", checks"
    else:
        rule = "open"
    return (environment.name, rule, environment.created_by, when(environment.created_at))


@env.command("list")
@JSON_OPTION
@click.pass_obj
def env_list(state: CliState, as_json: bool) -> None:
    """Every environment that exists, production first."""
    environments = state.store().governance.environments()
    if as_json:
        emit_json(
            [
                {
                    "name": e.name,
                    "protected": e.protected,
                    "required_approvals": e.required_approvals,
                    "require_checks": e.require_checks,
                    "created_by": e.created_by,
                    "created_at": e.created_at,
                }
                for e in environments
            ]
        )
        return
    click.echo(table([_env_line(e) for e in environments], ("NAME", "RULE", "BY", "CREATED")))


@env.command("create")
@click.argument("name")
@click.pass_obj
def env_create(state: CliState, name: str) -> None:
    """Create the environment NAME (admins)."""
    created = state.store().governance.create_environment(name)
    click.echo(f"environment {created.name} created")


@env.command("protect")
@click.argument("name")
@click.option(
    "--approvals",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    help="How many people other than a version's author must approve it.",
)
@click.option("--require-checks", is_flag=True, help="Also require the version's checks to pass.")
@click.pass_obj
def env_protect(state: CliState, name: str, approvals: int, require_checks: bool) -> None:
    """Protect NAME: a version goes live there only after review (admins)."""
    protected = state.store().governance.protect_environment(
        name, approvals=approvals, require_checks=require_checks
    )
    click.echo(f"{protected.name}: {_env_line(protected)[1]}")


@env.command("unprotect")
@click.argument("name")
@click.pass_obj
def env_unprotect(state: CliState, name: str) -> None:
    """Lift the protection of NAME (admins)."""
    state.store().governance.unprotect_environment(name)
    click.echo(f"{name}: open (no review needed)")


# -- reviews --------------------------------------------------------------------------


@click.group("review")
def review() -> None:
    """Propose a version for review; list the queue; approve or reject."""


def _state_words(state: ReviewState) -> str:
    if state.status == "approved":
        return f"approved by {', '.join(state.approved_by)}"
    if state.status == "rejected":
        return f"rejected by {', '.join(state.rejected_by)}"
    if state.status == "requested":
        return f"requested by {state.requested_by}"
    return "not requested"


@review.command("request")
@feature_argument()
@click.argument("version", type=VersionType())
@click.option("--reason", "-m", required=True, help="What to look at and why (required).")
@click.pass_obj
def review_request(state: CliState, feature: str, version: int, reason: str) -> None:
    """Ask reviewers to look at VERSION of FEATURE (editors)."""
    result = state.store().governance.request_review(feature, version, reason)
    click.echo(f"{feature} v{version}: review {_state_words(result)}")


def _decision_command(kind: str, comment_help: str, summary: str) -> None:
    """``review approve`` and ``review reject``: one shape, the store call by ``kind``."""

    @review.command(kind, help=summary)
    @feature_argument()
    @click.argument("version", type=VersionType())
    @click.option("--comment", "-m", required=True, help=comment_help)
    @click.pass_obj
    def decide(state: CliState, feature: str, version: int, comment: str) -> None:
        governance = state.store().governance
        decision = governance.approve if kind == "approve" else governance.reject
        result = decision(feature, version, comment)
        click.echo(f"{feature} v{version}: {_state_words(result)}")


_decision_command(
    "approve",
    "The approval's comment (required).",
    "Approve VERSION of FEATURE (reviewers; not your own version).",
)
_decision_command(
    "reject",
    "Why it is rejected (required).",
    "Reject VERSION of FEATURE (reviewers; not your own version).",
)


@review.command("list")
@click.option(
    "--env",
    "environment",
    callback=environment_default,
    help="Environment whose live version each is compared with (default: the global --env).",
)
@JSON_OPTION
@click.pass_obj
def review_list(state: CliState, environment: str, as_json: bool) -> None:
    """The review queue, newest first, with lines added/removed against what is live."""
    entries = state.store().governance.queue(environment)
    if as_json:
        emit_json([_entry_json(e) for e in entries])
        return
    if not entries:
        click.echo("nothing to review")
        return
    click.echo(
        table(
            [
                (
                    e.feature,
                    f"v{e.version}",
                    one_line(e.author, 20),
                    _state_words(e.state),
                    number(e.live),
                    f"+{e.lines_added} -{e.lines_removed}",
                    one_line(e.state.request_reason or e.reason, 50),
                )
                for e in entries
            ],
            ("FEATURE", "VERSION", "AUTHOR", "STATE", "LIVE", "LINES", "REASON"),
        )
    )


def _entry_json(entry: ReviewQueueEntry) -> dict[str, Any]:
    return {
        "feature": entry.feature,
        "version": entry.version,
        "author": entry.author,
        "reason": entry.reason,
        "created_at": entry.created_at,
        "status": entry.state.status,
        "approved_by": list(entry.state.approved_by),
        "rejected_by": list(entry.state.rejected_by),
        "requested_by": entry.state.requested_by,
        "request_reason": entry.state.request_reason,
        "environment": entry.environment,
        "live": entry.live,
        "lines_added": entry.lines_added,
        "lines_removed": entry.lines_removed,
    }
