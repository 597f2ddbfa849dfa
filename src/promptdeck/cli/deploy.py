"""Moving what a feature serves: ``activate``, ``rollback``, ``canary``, ``promote``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from promptdeck.cli.common import (
    ENV_OPTION,
    REASON_OPTION,
    CliState,
    VersionType,
    feature_argument,
    report_move,
)

if TYPE_CHECKING:
    from promptdeck.store import PromptStore


OVERRIDE_CHECKS_OPTION = click.option(
    "--override-checks",
    is_flag=True,
    help="Admins: go ahead although the environment requires passing checks the version "
    "lacks (recorded in the history with --reason).",
)


def checks_line(store: PromptStore, feature: str, version: int, environment: str) -> str | None:
    """The version's latest check result against the feature's current suite, one line
    (None for a feature without a suite where no checks are required)."""
    if store.checks.suite(feature) is None:
        required = store.checks.required(environment)
        return f"checks: {feature} has no suite" if required else None
    run = store.checks.latest_run(feature, version)
    return f"checks: v{version} not run" if run is None else f"checks: v{version} {run.describe()}"


@click.command()
@feature_argument()
@click.argument("version", type=VersionType())
@REASON_OPTION
@ENV_OPTION
@OVERRIDE_CHECKS_OPTION
@click.pass_obj
def activate(
    state: CliState,
    feature: str,
    version: int,
    reason: str,
    environment: str,
    override_checks: bool,
) -> None:
    """Make VERSION the active version of FEATURE."""
    store = state.store()
    line = checks_line(store, feature, version, environment)
    if line is not None:
        click.echo(line)
    deployment = store.activate(
        feature,
        version,
        reason=reason,
        environment=environment,
        override_checks=override_checks,
    )
    report_move("activated", deployment)


@click.command()
@feature_argument()
@REASON_OPTION
@ENV_OPTION
@click.pass_obj
def rollback(state: CliState, feature: str, reason: str, environment: str) -> None:
    """Return to the version that was active before the current one."""
    deployment = state.store().rollback(feature, reason=reason, environment=environment)
    report_move("rolled back to", deployment)


@click.command()
@feature_argument()
@click.argument("version", type=VersionType(), required=False)
@click.option("--percent", type=click.IntRange(0, 100), help="Share of users, 1-100.")
@click.option("--off", is_flag=True, help="Stop the canary.")
@REASON_OPTION
@ENV_OPTION
@OVERRIDE_CHECKS_OPTION
@click.pass_obj
def canary(
    state: CliState,
    feature: str,
    version: int | None,
    percent: int | None,
    off: bool,
    reason: str,
    environment: str,
    override_checks: bool,
) -> None:
    """Serve VERSION to a share of users (chosen by user id), or stop with --off."""
    store = state.store()
    if off:
        if version is not None or percent is not None:
            raise click.UsageError("--off takes no VERSION or --percent")
        store.clear_canary(feature, reason=reason, environment=environment)
        click.echo(f"{feature}: canary stopped in {environment}")
        return
    if version is None or percent is None:
        raise click.UsageError("give VERSION and --percent, or --off")
    if percent == 0:
        raise click.BadParameter(
            "0 would serve the canary to nobody: give 1-100, or stop it with --off",
            param_hint="--percent",
        )
    deployment = store.set_canary(
        feature,
        version,
        percent,
        reason=reason,
        environment=environment,
        override_checks=override_checks,
    )
    click.echo(
        f"{feature}: v{deployment.canary} serves {deployment.canary_percent}% of users "
        f"in {environment} (active: v{deployment.active})"
    )


@click.command()
@feature_argument()
@REASON_OPTION
@ENV_OPTION
@OVERRIDE_CHECKS_OPTION
@click.pass_obj
def promote(
    state: CliState, feature: str, reason: str, environment: str, override_checks: bool
) -> None:
    """Make the canary the active version."""
    deployment = state.store().promote(
        feature, reason=reason, environment=environment, override_checks=override_checks
    )
    report_move("promoted the canary:", deployment)
