"""The root ``promptdeck`` group: global options, and the terminal app when no command is given.

Exit codes: 0 success, 1 refused or failed (one line on stderr), 2 usage.

Commands are looked up by name and their module imported when one runs (or when help
or shell completion lists them): ``promptdeck features`` loads cli/versions.py and
nothing of sync, checks or stats.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping

import click

from promptdeck import __version__
from promptdeck.cli.common import CliState, ErrorHandlingGroup, fail
from promptdeck.config import resolve_remote
from promptdeck.records import DEFAULT_ENVIRONMENT

#: Every command: its name, and "module:attribute" of its click object.
COMMANDS: Mapping[str, str] = {
    "init": "promptdeck.cli.transfer:init",
    "import": "promptdeck.cli.transfer:import_",
    "export": "promptdeck.cli.transfer:export",
    "features": "promptdeck.cli.versions:features",
    "versions": "promptdeck.cli.versions:versions",
    "show": "promptdeck.cli.versions:show",
    "new": "promptdeck.cli.versions:new",
    "save": "promptdeck.cli.versions:save",
    "diff": "promptdeck.cli.diff:diff",
    "activate": "promptdeck.cli.deploy:activate",
    "rollback": "promptdeck.cli.deploy:rollback",
    "canary": "promptdeck.cli.deploy:canary",
    "promote": "promptdeck.cli.deploy:promote",
    "history": "promptdeck.cli.roles:history",
    "role": "promptdeck.cli.roles:role",
    "sync": "promptdeck.cli.sync:sync",
    "env": "promptdeck.cli.governance:env",
    "review": "promptdeck.cli.governance:review",
    "whoami": "promptdeck.cli.governance:whoami",
    "backup": "promptdeck.cli.backup:backup",
    "restore": "promptdeck.cli.backup:restore",
    "doctor": "promptdeck.cli.backup:doctor",
    "check": "promptdeck.cli.checks:check",
    "suite": "promptdeck.cli.checks:suite",
    "stats": "promptdeck.cli.stats:stats",
}


class LazyGroup(ErrorHandlingGroup):
    """The root group: COMMANDS are imported on first use, by name."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, _, attribute = COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


@click.group("promptdeck", cls=LazyGroup, invoke_without_command=True)
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
