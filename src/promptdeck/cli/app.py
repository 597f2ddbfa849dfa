"""The root ``promptdeck`` group: global options, and the terminal app when no command is given.

Exit codes: 0 success, 1 refused or failed (one line on stderr), 2 usage.
"""

from __future__ import annotations

import sys

import click

from promptdeck import __version__
from promptdeck.cli.backup import backup, doctor, restore
from promptdeck.cli.checks import check, suite
from promptdeck.cli.common import CliState, ErrorHandlingGroup, fail
from promptdeck.cli.deploy import activate, canary, promote, rollback
from promptdeck.cli.diff import diff
from promptdeck.cli.governance import env, review, whoami
from promptdeck.cli.roles import history, role
from promptdeck.cli.stats import stats
from promptdeck.cli.sync import sync
from promptdeck.cli.transfer import export, import_, init
from promptdeck.cli.versions import features, new, save, show, versions
from promptdeck.config import resolve_remote
from promptdeck.records import DEFAULT_ENVIRONMENT


@click.group(cls=ErrorHandlingGroup, invoke_without_command=True)
@click.option("--db", metavar="PATH_OR_URL", help="Store: a SQLite path or SQLAlchemy URL.")
@click.option("--user", metavar="NAME", help="Who you are (default: PROMPTDECK_USER or login).")
@click.option(
    "--env",
    "environment",
    default=DEFAULT_ENVIRONMENT,
    show_default=True,
    help="Environment for the app and, unless they say otherwise, for commands.",
)
@click.option(
    "--remote",
    metavar="URL",
    help="Remote store for the app and `sync` (default: PROMPTDECK_REMOTE or the config file).",
)
# The version from the package itself: looking up installed metadata costs more than click.
@click.version_option(version=__version__, prog_name="promptdeck")
@click.pass_context
def main(
    ctx: click.Context, db: str | None, user: str | None, environment: str, remote: str | None
) -> None:
    """Manage LLM prompts: versioned, reviewed, activated without a deploy.

    With no command, opens the terminal app on the configured store.
    """
    state = CliState(db=db, user=user, environment=environment, remote=remote)
    ctx.obj = state
    ctx.call_on_close(state.close)
    if ctx.invoked_subcommand is None:
        store = state.store(create=_may_create(state))
        store.governance.require_environment(environment)  # "did you mean ...?"
        from promptdeck.tui.app import run_app  # the CLI alone never loads Textual

        run_app(store, environment=environment, remote_url=resolve_remote(remote))


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _may_create(state: CliState) -> bool:
    """The app on a missing local store: ask first on a terminal (a mistyped --db must
    not become an empty store silently); elsewhere open nothing (the store refuses with
    the init hint)."""
    missing = state.missing_store()
    if missing is None or not interactive():
        return False
    if click.confirm(f"No store at {missing}. Create a new, empty one there?", default=False):
        return True
    fail(f"no store at {missing}; create it with `promptdeck --db {missing} init`")


for command in (
    init,
    import_,
    export,
    features,
    versions,
    show,
    new,
    save,
    diff,
    activate,
    rollback,
    canary,
    promote,
    history,
    role,
    sync,
    env,
    review,
    whoami,
    backup,
    restore,
    doctor,
    check,
    suite,
    stats,
):
    main.add_command(command)
