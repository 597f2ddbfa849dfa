"""Where the store is, who the user is, and which remote to sync with.

Each setting comes from the command line, else an environment variable, else the
config file (``config.toml`` in the user config directory, or PROMPTDECK_CONFIG),
else a default.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from promptdeck.errors import ValidationError

if TYPE_CHECKING:
    from promptdeck.pricing import PriceTable

APP_NAME = "promptdeck"


@dataclass(frozen=True, slots=True)
class FileConfig:
    db: str | None = None
    remote: str | None = None
    user: str | None = None


def config_path() -> Path:
    override = os.environ.get("PROMPTDECK_CONFIG")
    if override:
        return Path(override).expanduser()
    import platformdirs  # only when no override is given: keeps --help light

    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def read_config_data(path: Path | None = None) -> dict[str, Any]:
    """The config file as TOML data; a missing file is empty, a broken one an error."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read config file {path}: {exc}") from None
    import tomllib  # only when there is a file to parse: every command starts here

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"cannot read config file {path}: {exc}") from None


def load_file_config(path: Path | None = None) -> FileConfig:
    """Read the config file; a missing file is an empty config, a broken one an error."""
    path = path or config_path()
    data = read_config_data(path)
    values: dict[str, str | None] = {}
    for key in ("db", "remote", "user"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"config file {path}: '{key}' must be a string")
        values[key] = value
    return FileConfig(**values)


def load_price_table(path: Path | None = None) -> PriceTable:
    """Model prices: the defaults with the config file's ``[prices."model"]`` on top."""
    path = path or config_path()
    from promptdeck.pricing import PriceTable

    return PriceTable.from_config(read_config_data(path).get("prices"), f"config file {path}")


def default_db_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME)) / "promptdeck.db"


def is_url(location: str) -> bool:
    return "://" in location


def to_url(location: str | os.PathLike[str]) -> str:
    """A SQLAlchemy URL for a URL or a file path (a path means a SQLite file)."""
    text = os.fspath(location)
    if is_url(text):
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def resolve_db(option: str | None = None) -> str:
    """``--db``, else PROMPTDECK_DB, else the config file, else the user data directory."""
    location = option or os.environ.get("PROMPTDECK_DB") or load_file_config().db
    return to_url(location) if location else to_url(default_db_path())


def resolve_remote(option: str | None = None) -> str | None:
    """``--remote``, else PROMPTDECK_REMOTE, else the config file; None when unset."""
    location = option or os.environ.get("PROMPTDECK_REMOTE") or load_file_config().remote
    return to_url(location) if location else None


def declared_user(option: str | None = None) -> str | None:
    """The name the user declared: ``--user``, else PROMPTDECK_USER, else the config
    file; None when none is given. The store decides whether to believe it
    (store/governance.py: resolve_identity)."""
    return option or os.environ.get("PROMPTDECK_USER") or load_file_config().user or None


def resolve_user(option: str | None = None) -> str:
    """``--user``, else PROMPTDECK_USER, else the config file, else the login name."""
    user = option or os.environ.get("PROMPTDECK_USER") or load_file_config().user
    if not user:
        import getpass

        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no login name in some containers
            user = "unknown"
    return user


# scheme://user:PASSWORD@host...: the password runs to the LAST "@" of the authority, so
# an unescaped "@" or ":" in it is masked whole (URL parsers split at the first "@").
_PASSWORD_IN_URL = re.compile(
    r"^(?P<head>[A-Za-z][\w+.-]*://[^:/@\s]*:)(?P<password>.*)@(?P<host>[^@]*)$"
)


# ?password=...&: libpq and psycopg take the password from the query too.
_PASSWORD_IN_QUERY = re.compile(
    r"(?P<key>[?&](?:password|passwd|pwd|sslpassword)=)(?P<password>[^&#]*)", re.IGNORECASE
)


def _url_passwords(url: str) -> set[str]:
    """Every password the URL carries, in the user-info and in its query."""
    from sqlalchemy.engine import make_url  # here, so that --help never loads SQLAlchemy
    from sqlalchemy.exc import ArgumentError

    found: set[str] = set()
    match = _PASSWORD_IN_URL.match(url.strip())
    if match:
        found.add(match.group("password"))
    for query in _PASSWORD_IN_QUERY.finditer(url):
        found.add(query.group("password"))
        found.add(unquote_plus(query.group("password")))
    with contextlib.suppress(ArgumentError, ValueError):
        parsed = make_url(url)
        found.add(parsed.password or "")
        for key, value in parsed.query.items():
            if key.lower() in ("password", "passwd", "pwd", "sslpassword"):
                found.update((value,) if isinstance(value, str) else value)
    return {password for password in found if password}


def redact(url: str) -> str:
    """The URL with its passwords replaced by ***, safe for output, logs and errors.

    Both forms are hidden: ``scheme://user:PASSWORD@host`` and ``?password=PASSWORD``.
    """
    text = url.strip()
    match = _PASSWORD_IN_URL.match(text)
    if match:
        text = f"{match.group('head')}***@{match.group('host')}"
    if text != url.strip() or _PASSWORD_IN_QUERY.search(text):
        return _PASSWORD_IN_QUERY.sub(lambda m: f"{m.group('key')}***", text)
    return url


def scrub(message: str, url: str) -> str:
    """Remove the URL's passwords from a message (driver errors may echo parts of it)."""
    for password in sorted(_url_passwords(url), key=len, reverse=True):
        message = message.replace(password, "***")
    return message
