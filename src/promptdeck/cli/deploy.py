"""Moving what a feature serves: ``activate``, ``rollback``, ``canary``, ``promote``."""

from __future__ import annotations

import click

from promptdeck.cli.common import (
    ENV_OPTION,
    REASON_OPTION,
    CliState,
    VersionType,
    feature_argument,
    report_move,
)


@click.command()
@feature_argument()
@click.argument("version", type=VersionType())
@REASON_OPTION
@ENV_OPTION
@click.pass_obj
def activate(state: CliState, feature: str, version: int, reason: str, environment: str) -> None:
    """Make VERSION the active version of FEATURE."""
    deployment = state.store().activate(feature, version, reason=reason, environment=environment)
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
@click.pass_obj
def canary(
    state: CliState,
    feature: str,
    version: int | None,
    percent: int | None,
    off: bool,
    reason: str,
    environment: str,
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
    deployment = store.set_canary(feature, version, percent, reason=reason, environment=environment)
    click.echo(
        f"{feature}: v{deployment.canary} serves {deployment.canary_percent}% of users "
        f"in {environment} (active: v{deployment.active})"
    )


@click.command()
@feature_argument()
@REASON_OPTION
@ENV_OPTION
@click.pass_obj
def promote(state: CliState, feature: str, reason: str, environment: str) -> None:
    """Make the canary the active version."""
    deployment = state.store().promote(feature, reason=reason, environment=environment)
    report_move("promoted the canary:", deployment)
