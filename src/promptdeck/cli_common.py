"""What every CLI command shares: the global options and clean error reporting."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

import click

from promptdeck.config import resolve_db, resolve_user
from promptdeck.errors import PromptDeckError
from promptdeck.records import DEFAULT_ENVIRONMENT
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
