"""How the runtime connects: its URL, engine options, LISTEN or not.

Kept apart from runtime.py (the client) so each stays short. A SQLite file in a
directory the process cannot write is opened read-only by the store itself
(``promptdeck.store.engine.read_only_url``), for the runtime as for the CLI.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from promptdeck.config import redact
from promptdeck.errors import ValidationError

__all__ = [
    "PG_CONNECT_TIMEOUT",
    "POOLED_QUERY_KEY",
    "can_listen",
    "connect_url",
    "engine_options",
]

PG_CONNECT_TIMEOUT = 5  # seconds; added to PostgreSQL URLs that do not set one
POOLED_QUERY_KEY = "pgbouncer"  # ?pgbouncer=true: the convention other clients use


def connect_url(url: str) -> tuple[str, bool]:
    """The URL to open, and whether it asked for pooling (``?pgbouncer=true``, removed).

    PostgreSQL gets a connect timeout so an outage cannot hang us.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValidationError(f"not a database URL or path: {redact(url)}") from None
    pooled = False
    changed = False
    if POOLED_QUERY_KEY in parsed.query:
        value = str(parsed.query[POOLED_QUERY_KEY]).lower()
        if value not in ("true", "false", "1", "0"):
            raise ValidationError(f"{POOLED_QUERY_KEY}= must be true or false, not {value!r}")
        pooled = value in ("true", "1")
        parsed = parsed.difference_update_query([POOLED_QUERY_KEY])
        changed = True
    if (
        parsed.get_backend_name() == "postgresql"
        and parsed.get_driver_name() in ("psycopg", "psycopg2")
        and "connect_timeout" not in parsed.query
    ):
        parsed = parsed.update_query_dict({"connect_timeout": str(PG_CONNECT_TIMEOUT)})
        changed = True
    return (parsed.render_as_string(hide_password=False) if changed else url), pooled


def engine_options(url: str, pooled: bool) -> dict[str, Any]:
    """One connection, no ping, autocommit reads; no prepared statements when pooled."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    options: dict[str, Any] = {
        "pool_size": 1,
        "max_overflow": 0,
        "pool_timeout": 30,
        "pool_pre_ping": False,  # a dead connection fails the refresh, which reconnects
        "isolation_level": "AUTOCOMMIT",  # no BEGIN/COMMIT round trips per poll
    }
    if pooled and parsed.get_driver_name() == "psycopg":
        # A transaction pooler hands each transaction to any server connection: a
        # statement prepared on one is unknown on the next.
        options["connect_args"] = {"prepare_threshold": None}
    return options


def can_listen(url: str, pooled: bool) -> bool:
    parsed = make_url(url)
    return (
        not pooled
        and parsed.get_backend_name() == "postgresql"
        and parsed.get_driver_name() == "psycopg"
    )
