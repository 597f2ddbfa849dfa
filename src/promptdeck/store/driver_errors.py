"""Database driver errors become StoreErrors with one line a user can read.

One public context manager, used by every store and sync transaction: the password
never reaches a message, and a locked SQLite file says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from promptdeck.config import redact, scrub
from promptdeck.errors import PromptDeckError, StoreError

INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE for "permission denied"


@contextmanager
def translated_errors(url: str) -> Iterator[None]:
    """Run the block; a driver error in it is raised as a StoreError naming ``url``
    (redacted). promptdeck's own errors pass through unchanged."""
    shown = redact(url)
    try:
        yield
    except PromptDeckError:
        raise
    except IntegrityError as exc:
        raise StoreError(
            f"another writer changed the store at the same moment; try again ({first_line(exc)})"
        ) from None
    except OperationalError as exc:
        message = first_line(exc)
        if "locked" in message or "busy" in message:
            raise StoreError(f"the store {shown} is locked by another process; try again") from None
        raise StoreError(f"cannot use store {shown}: {scrub(message, url)}") from None
    except DBAPIError as exc:
        message = first_line(exc)
        if _sqlstate(exc) == INSUFFICIENT_PRIVILEGE and "promptdeck_schema" in message:
            # The first read of every open: this login is in none of the store's groups.
            raise StoreError(
                f"this database login has no role in the promptdeck store {shown}; an admin "
                "gives it one with `promptdeck --db URL role LOGIN viewer` (or editor, "
                "reviewer, admin)"
            ) from None
        raise StoreError(f"database error on {shown}: {scrub(message, url)}") from None


def _sqlstate(exc: DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__
