"""What every CLI command shares: the global options, clean error reporting, formatting."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from promptdeck.config import resolve_db, resolve_user, to_url
from promptdeck.display import visible
from promptdeck.errors import (
    NotFoundError,
    PermissionDeniedError,
    PromptDeckError,
    ValidationError,
)
from promptdeck.records import DEFAULT_ENVIRONMENT, Deployment

if TYPE_CHECKING:
    from promptdeck.store import PromptStore

_Command = TypeVar("_Command", bound=Callable[..., Any])


@dataclass
class CliState:
    """The global options (``--db``, ``--user``, ``--env``, ``--remote``) and the stores
    opened from them. ``--env`` and ``--remote`` before a command are that command's
    defaults; the command's own option, if given, wins."""

    db: str | None = None
    user: str | None = None
    environment: str = DEFAULT_ENVIRONMENT
    remote: str | None = None
    #: The FEATURE the command was given, for "did you mean" when it is unknown.
    feature: str | None = None
    _stores: list[PromptStore] = field(default_factory=list)

    @property
    def db_url(self) -> str:
        if self.db is not None and not self.db.strip():
            # An empty --db (an unset shell variable) must not mean the default store.
            raise ValidationError("--db is empty: give a SQLite path or a database URL")
        return resolve_db(self.db)

    @property
    def user_name(self) -> str:
        return resolve_user(self.user)

    #: A SQLite store this command created: announced, and removed if the command fails.
    created: Path | None = None
    _announce: bool = True

    def store(
        self, *, create: bool = False, announce: bool = True, initialize: bool = False
    ) -> PromptStore:
        """Open the configured store.

        The one rule for a missing local (SQLite) store: the commands that put content
        into it (init, import, new, sync pull) pass ``create`` and make it, saying so on
        stderr; every other command refuses with the init hint. The app asks first.
        A shared (server) store is made only by init (``initialize``).
        """
        from promptdeck.store import PromptStore  # SQLAlchemy: only for commands that use it

        url = self.db_url
        check_database_url(url)
        missing = self.missing_store() if create else None
        store = PromptStore(url, user=self.user, create=create, initialize=initialize)
        self._stores.append(store)
        if store.identity_refusal is not None:  # --user naming someone this store refuses
            raise PermissionDeniedError(store.identity_refusal)
        if missing is not None:
            self.created = missing  # announced by close() if the command succeeds
            self._announce = announce
        return store

    def missing_store(self) -> Path | None:
        """The file of the configured SQLite store when it does not exist yet."""
        from promptdeck.store.engine import sqlite_path

        url = self.db_url
        check_database_url(url)
        path = sqlite_path(to_url(url))
        return path if path is not None and not path.exists() else None

    def discard_created(self) -> None:
        """After a failed command: remove the store it created (nothing was written to
        it but the schema), so that a typo or a refused import leaves no empty store."""
        if self.created is None:
            return
        created, self.created = self.created, None
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{created}{suffix}").unlink(missing_ok=True)

    def suggestion(self) -> str | None:
        """ " (did you mean ...?)" when the command's FEATURE is not in the store."""
        if self.feature is None or not self._stores:
            return None
        try:
            names = [f.name for f in self._stores[0].features()]
        except PromptDeckError:
            return None
        if self.feature in names:
            return None
        close = difflib.get_close_matches(self.feature, names, n=3, cutoff=0.6)
        return f"did you mean {' or '.join(close)}?" if close else None

    def close(self) -> None:
        if self.created is not None and self._announce:
            click.echo(f"note: created a new store at {self.created}", err=True)
            self.created = None
        for store in self._stores:
            store.close()
        self._stores.clear()


def fail(message: str) -> NoReturn:
    """Print one clear line on stderr and exit 1; names from the store inside it (a user
    name holding a terminal escape) are shown as control pictures, never obeyed."""
    click.echo(f"error: {visible(message)}", err=True)
    sys.exit(1)


class ErrorHandlingGroup(click.Group):
    """A group that turns promptdeck errors into one line on stderr and exit code 1, and
    click's usage errors into one line too (see ``usage_error``)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # the root's own options: --db, --env, ...
            usage_error(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NotFoundError as exc:
            state = ctx.find_object(CliState)  # set by the root group's callback
            hint = state.suggestion() if state is not None else None
            _discard_created(state)
            fail(f"{exc} ({hint})" if hint else str(exc))
        except PromptDeckError as exc:
            _discard_created(ctx.find_object(CliState))
            fail(str(exc))
        except click.UsageError as exc:  # a command's arguments and options
            _discard_created(ctx.find_object(CliState))
            usage_error(exc)
        except click.ClickException:
            _discard_created(ctx.find_object(CliState))
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `promptdeck ... | head`
            sys.exit(0)


def usage_error(exc: click.UsageError) -> NoReturn:
    """One line, like every other error, naming the --help to read. A bad value (out of
    range, not a choice, not a number) is refused input: exit 1. A missing argument, an
    unknown option or command is usage: exit 2."""
    where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
    click.echo(f"error: {visible(exc.format_message())}{where}", err=True)
    bad_value = isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter)
    sys.exit(1 if bad_value else exc.exit_code)


def _discard_created(state: CliState | None) -> None:
    if state is not None:
        state.discard_created()


def remember_feature(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    state = ctx.find_object(CliState)
    if state is not None:
        state.feature = value
    return value


def feature_argument(required: bool = True) -> Callable[[_Command], _Command]:
    """The FEATURE argument (remembered, to suggest a near name when it is unknown)."""
    return click.argument("feature", required=required, callback=remember_feature)


# Versions are 64-bit integers in every backend.
MAX_VERSION = 2**63 - 1


if TYPE_CHECKING:  # generic in click's type stubs since 8.3, not at runtime before it
    _VersionParam = click.ParamType[int | str, Any]
else:
    _VersionParam = click.ParamType


class VersionType(_VersionParam):
    """A version as listings print it or as a number: ``v4``, ``V4`` or ``4``; with
    ``names``, also ``active`` or ``latest``. A number no backend can hold, or digits
    other than 0-9 (``²``, ``٣``), is refused in one line."""

    name = "version"

    def __init__(self, *, names: bool = False) -> None:
        self.names = names

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | str:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if self.names and text in ("active", "latest"):
            return text
        digits = text[1:] if text[:1] in ("v", "V") else text
        if digits.isascii() and digits.isdigit():
            number = int(digits)
            if number > MAX_VERSION:
                raise ValidationError(
                    f"version {visible(text)} is too large (at most {MAX_VERSION})"
                )
            return number
        if any(ch.isdigit() or ch.isnumeric() for ch in digits):
            raise ValidationError(
                f"{visible(text)!r} is not a version number: use the digits 0-9, e.g. 4 or v4"
            )
        choices = ", 'active' or 'latest'" if self.names else ""
        self.fail(f"{text!r} is not a version number (4 or v4){choices}", param, ctx)


def bounded_count(ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    """Counts such as --limit stay within what a database query takes."""
    if value is not None and value > MAX_VERSION:
        raise ValidationError(f"{value} is too large (at most {MAX_VERSION})")
    return value


_DRIVER_HINTS = {
    "postgres": "'postgres://' is not a SQLAlchemy URL",
    "postgresql": "'postgresql://' needs the psycopg2 driver, which is not installed",
}


def check_database_url(url: str) -> None:
    """Refuse, with the spelling to use, the PostgreSQL URLs other tools accept."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _DRIVER_HINTS:
        return
    if scheme == "postgresql":
        import importlib.util

        if importlib.util.find_spec("psycopg2") is not None:
            return
    raise ValidationError(
        f"{_DRIVER_HINTS[scheme]}: write postgresql+psycopg://USER:PASSWORD@HOST/DB"
    )


def environment_default(ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    """A command's ``--env``, else the global ``--env`` given before the command."""
    if value is not None:
        return value
    state = ctx.find_object(CliState)
    return state.environment if state is not None else DEFAULT_ENVIRONMENT


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """A plain, aligned text table (no colour: scripts read it too)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


ENV_OPTION = click.option(
    "--env",
    "environment",
    callback=environment_default,
    help="Environment whose active version and canary to use (default: the global --env, "
    "else production).",
)
REASON_OPTION = click.option("--reason", "-m", required=True, help="Why (required, not empty).")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def report_move(verb: str, deployment: Deployment) -> None:
    click.echo(f"{deployment.feature}: {verb} v{deployment.active} in {deployment.environment}")


def number(value: int | None) -> str:
    return "-" if value is None else f"v{value}"


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def one_line(text: str, width: int) -> str:
    # Table cells are for people (scripts read --json): always shown, never obeyed.
    line = visible(text.strip().splitlines()[0] if text.strip() else "")
    return line if len(line) <= width else line[: width - 1] + "…"


def shown(text: str) -> str:
    """On a terminal, show control characters (ANSI escapes) instead of obeying them;
    piped output stays exact for scripts."""
    return visible(text) if sys.stdout.isatty() else text
