"""``promptdeck sync status|push|pull``: sync the local store with a remote store."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from promptdeck.cli.common import (
    CliState,
    ErrorHandlingGroup,
    check_database_url,
    emit_json,
    table,
)
from promptdeck.config import config_path, resolve_remote
from promptdeck.errors import ValidationError

# The sync engine brings SQLAlchemy: each command imports it when it runs.
if TYPE_CHECKING:
    from promptdeck import sync as engine
    from promptdeck.store import PromptStore

REMOTE_HELP = (
    "Remote store URL (any SQLAlchemy URL; e.g. postgresql+psycopg://USER:PASSWORD@HOST/DB). "
    'Default: PROMPTDECK_REMOTE, else `remote = "..."` in the config file.'
)
RESOLVE_HELP = (
    "Choose for a conflict: FEATURE=renumber|remote for a version conflict (your versions "
    "move on top of the remote's); FEATURE=local|remote, or FEATURE:ENVIRONMENT=local|remote "
    "for one environment, for an active/canary conflict. Repeatable."
)


@click.group("sync", cls=ErrorHandlingGroup)
def sync() -> None:
    """Sync the local store with a shared remote store (PostgreSQL in production).

    \b
    The remote comes from --remote, else PROMPTDECK_REMOTE, else the config file
    (config.toml in the user config directory, or PROMPTDECK_CONFIG), e.g.:
        remote = "postgresql+psycopg://alice:secret@db.example.com/prompts"
    Passwords are never printed.

    \b
    status  what a push and a pull would do, per feature, and the conflicts
    push    send the versions, features and audit events the remote lacks, and move
            the remote's active versions/canaries that only moved locally
    pull    the reverse, into the local store

    \b
    Conflicts are never resolved silently. They are: the same version number holding
    different versions on the two sides, and an active version or canary moved on
    both sides since the last sync. Everything else is synced; the conflicting
    feature (or pointer) waits, and the command exits 1, until you choose.
    Versions are never deleted or replaced, so a version conflict has one answer:
      --resolve FEATURE=renumber  keep the remote's numbers: your versions move on
                                  top (new numbers above the remote's; text, author,
                                  reason and time unchanged; audited). Nothing is
                                  lost: after the push both sides hold both.
                                  (FEATURE=remote is accepted as the same choice.)
      (FEATURE=local is refused for a version conflict: others may already have
      pulled the remote's versions under those numbers.)
    An active version or canary moved on both sides:
      --resolve FEATURE=local     keep yours: push moves the remote's (pull
                                  remembers it for the next push)
      --resolve FEATURE=remote    keep the remote's: pull moves yours (push
                                  remembers it for the next pull)
    Use FEATURE:ENVIRONMENT=local|remote for one environment's active/canary.

    \b
    Each push is one transaction on the remote and each pull one transaction on the
    local store: interrupted, nothing is half-written, and running it again finishes
    it. Roles apply on the remote: editors push versions, only admins move the remote's
    active versions and canaries (a push that would is refused whole; use
    --versions-only to send only the versions). A move that puts a version live in
    a protected environment, or one requiring checks, passes that side's gate like
    activate: approvals and check runs travelling in the same run count; a refused
    move refuses the whole run (rollbacks are not gated).
    """


def _state() -> CliState:
    ctx = click.get_current_context()
    found = ctx.find_object(CliState)
    if found is None:  # the group used on its own (tests, embedding)
        found = CliState()
        ctx.find_root().call_on_close(found.close)
    return found


def _remote_url(option: str | None) -> str:
    # The command's --remote, else the global one given before `sync`, else the config.
    url = resolve_remote(option or _state().remote)
    if not url:
        raise ValidationError(
            "no remote: give --remote URL, set PROMPTDECK_REMOTE, or add "
            f'remote = "URL" to {config_path()}'
        )
    check_database_url(url)
    return url


@contextmanager
def _stores(
    option: str | None, *, create: bool = False
) -> Iterator[tuple[PromptStore, PromptStore]]:
    """The local store and the remote. ``create``: a pull fills a missing local store
    (made here, and removed again if the pull fails); a remote is never created."""
    state = _state()
    from promptdeck import sync as engine

    url = _remote_url(option)  # a bad remote URL is reported before anything is opened
    local = state.store(create=create)
    remote = engine.open_remote(local, url)
    try:
        yield local, remote
    finally:
        remote.close()


def _resolutions(values: Sequence[str]) -> dict[str, engine.Choice]:
    from promptdeck import sync as engine

    chosen: dict[str, engine.Choice] = {}
    for value in values:
        key, choice = engine.parse_resolution(value)
        if key in chosen and chosen[key] != choice:
            raise ValidationError(f"--resolve gives {key} two choices: {chosen[key]} and {choice}")
        chosen[key] = choice
    return chosen


def _options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(
        function
    )
    return click.option("--remote", metavar="URL", help=REMOTE_HELP)(function)


@sync.command()
@_options
def status(remote: str | None, as_json: bool) -> None:
    """Show what is only local, only remote and in conflict; changes nothing."""
    from promptdeck import sync as engine

    with _stores(remote) as (local, remote_store):
        result = engine.status(local, remote_store)
    if as_json:
        emit_json(
            {
                "remote": result.remote,
                "in_sync": result.in_sync,
                "unchanged": result.unchanged,
                "ahead": result.ahead,
                "behind": result.behind,
                "to_push": result.to_push,
                "identity_changed": result.identity_changed,
                "notice": result.notice,
                "features": [asdict(f) for f in result.features],
            }
        )
        return
    click.echo(f"remote: {result.remote}")
    if result.notice:
        click.echo(result.notice)
    if result.in_sync:
        click.echo("in sync: nothing to push or pull")
        return
    rows = [
        [
            f.feature,
            _numbers(f.ahead, len(f.push_moves)),
            _numbers(f.behind, len(f.pull_moves)),
            str(len(f.conflicts)) if f.conflicts else "-",
        ]
        for f in result.features
    ]
    click.echo(table(rows, ["feature", "only local (push)", "only remote (pull)", "conflicts"]))
    moves = [m for f in result.features for m in f.push_moves]
    if moves:
        click.echo("\npush would move on the remote:")
        click.echo("\n".join(f"  {m}" for m in moves))
    moves = [m for f in result.features for m in f.pull_moves]
    if moves:
        click.echo("\npull would move locally:")
        click.echo("\n".join(f"  {m}" for m in moves))
    _print_conflicts(result.conflicts)


def _numbers(numbers: Sequence[int], moves: int) -> str:
    parts = []
    if numbers:
        shown = ", ".join(f"v{n}" for n in numbers[:6])
        parts.append(shown + (f" (+{len(numbers) - 6})" if len(numbers) > 6 else ""))
    if moves:
        parts.append(f"{moves} move{'' if moves == 1 else 's'}")
    return "; ".join(parts) or "-"


def _print_conflicts(conflicts: Sequence[engine.Conflict]) -> None:
    if not conflicts:
        return
    click.echo("\nconflicts (choose with --resolve):")
    for conflict in conflicts:
        click.echo(f"  {conflict.describe()}  [{conflict.key}={'|'.join(conflict.choices)}]")


def _report(result: engine.SyncResult, as_json: bool) -> None:
    if as_json:
        data = asdict(result)
        data["summary"] = result.summary()
        data["notice"] = result.notice
        emit_json(data)
        return
    click.echo(f"remote: {result.remote}")
    if result.notice:
        click.echo(result.notice)
    click.echo(result.summary())
    for title, lines in (
        ("moved", result.moves),
        ("renumbered", result.renumbered),
        ("remembered", result.remembered),
        ("not moved (--versions-only)", result.skipped_moves),
    ):
        if lines:
            click.echo(f"{title}:")
            click.echo("\n".join(f"  {line}" for line in lines))
    _print_conflicts(result.unresolved)


def _run(
    direction: engine.Direction,
    remote: str | None,
    resolve: Sequence[str],
    as_json: bool,
    **options: Any,
) -> None:
    from promptdeck import sync as engine

    chosen = _resolutions(resolve)
    with _stores(remote, create=direction == "pull") as (local, remote_store):
        show = None if as_json else _progress()
        try:
            if direction == "push":
                result = engine.push(local, remote_store, resolve=chosen, progress=show, **options)
            else:
                result = engine.pull(local, remote_store, resolve=chosen, progress=show)
        except engine.SyncConflictError as exc:
            _report(exc.result, as_json)
            raise
    _report(result, as_json)


def _progress() -> engine.Progress | None:
    """A one-line counter on stderr for long transfers (only on a terminal)."""
    if not sys.stderr.isatty():
        return None

    def show(phase: str, done: int, total: int) -> None:
        if total < 2000:
            return
        end = "\n" if done >= total else ""
        click.echo(f"\r{phase}: {done}/{total}", nl=False, err=True)
        if end:
            click.echo("", err=True)

    return show


@sync.command()
@_options
@click.option("--resolve", "resolve", multiple=True, metavar="FEATURE=CHOICE", help=RESOLVE_HELP)
@click.option(
    "--versions-only",
    is_flag=True,
    help="Send versions, features and audit events, but move no active version or canary.",
)
def push(remote: str | None, as_json: bool, resolve: Sequence[str], versions_only: bool) -> None:
    """Send local work to the remote, in one remote transaction."""
    _run("push", remote, resolve, as_json, versions_only=versions_only)


@sync.command()
@_options
@click.option("--resolve", "resolve", multiple=True, metavar="FEATURE=CHOICE", help=RESOLVE_HELP)
def pull(remote: str | None, as_json: bool, resolve: Sequence[str]) -> None:
    """Bring the remote's work into the local store, in one local transaction."""
    _run("pull", remote, resolve, as_json)
