"""``promptdeck diff``: two versions compared on the command line, side by side or unified."""

from __future__ import annotations

import click

from promptdeck.cli.common import ENV_OPTION, CliState, VersionType, feature_argument


@click.command()
@feature_argument()
@click.argument("old", type=VersionType(names=True), required=False)
@click.argument("new", type=VersionType(names=True), required=False)
@click.option("--unified", "-u", is_flag=True, help="Unified (diff -u) instead of side by side.")
@click.option("--ignore-whitespace", "-w", is_flag=True, help="Ignore whitespace-only changes.")
@click.option("--full", is_flag=True, help="Show every line, not only the changes with context.")
@click.option(
    "--context",
    "-U",
    type=click.IntRange(0, 10_000),
    default=3,
    show_default=True,
    help="Unchanged lines shown around each change.",
)
@ENV_OPTION
@click.pass_obj
def diff(
    state: CliState,
    feature: str,
    old: int | str | None,
    new: int | str | None,
    unified: bool,
    ignore_whitespace: bool,
    full: bool,
    context: int,
    environment: str,
) -> None:
    """Compare two versions: none given, active -> latest; one, active -> it; two, OLD -> NEW.

    Like `git diff`, shows the changed lines with --context lines around them (side by
    side, long lines wrapped; --unified for diff -u); --full shows every line.
    """
    from promptdeck.cli.render_diff import print_diff

    store = state.store()
    if old is not None and new is None:
        old, new = "active", old
    left = store.version(feature, "active" if old is None else old, environment)
    right = store.version(feature, "latest" if new is None else new, environment)
    print_diff(
        left,
        right,
        unified=unified,
        ignore_whitespace=ignore_whitespace,
        full=full,
        context=context,
    )
