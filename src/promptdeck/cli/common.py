"""What every CLI command shares: the global options, clean error reporting, formatting."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click

from promptdeck.config import resolve_db, resolve_user
from promptdeck.display import visible
from promptdeck.errors import PromptDeckError
from promptdeck.records import DEFAULT_ENVIRONMENT, Deployment

if TYPE_CHECKING:
    from promptdeck.store import PromptStore


@dataclass
class CliState:
    """The global options (``--db``, ``--user``, ``--env``, ``--remote``) and the stores
    opened from them. ``--env`` and ``--remote`` before a command are that command's
    defaults; the command's own option, if given, wins."""

    db: str | None = None
    user: str | None = None
    environment: str = DEFAULT_ENVIRONMENT
    remote: str | None = None
    _stores: list[PromptStore] = field(default_factory=list)

    @property
    def db_url(self) -> str:
        return resolve_db(self.db)

    @property
    def user_name(self) -> str:
        return resolve_user(self.user)

    def store(self, *, create: bool = False) -> PromptStore:
        """Open the configured store; a missing store is an error unless ``create``."""
        from promptdeck.store import PromptStore  # SQLAlchemy: only for commands that use it

        store = PromptStore(self.db_url, user=self.user_name, create=create)
        self._stores.append(store)
        return store

    def close(self) -> None:
        for store in self._stores:
            store.close()
        self._stores.clear()


def fail(message: str) -> NoReturn:
    """Print one clear line on stderr and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


class ErrorHandlingGroup(click.Group):
    """A group that turns promptdeck errors into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PromptDeckError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `promptdeck ... | head`
            sys.exit(0)


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


def version_ref(value: str) -> int | str:
    text = value.strip().lstrip("vV") if value.strip()[:1] in "vV" else value.strip()
    if text.isdigit():
        return int(text)
    if text in ("active", "latest"):
        return text
    raise click.BadParameter(f"{value!r} is not a version number, 'active' or 'latest'")


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
