"""Rows checked against the columns they are going into, before a sync writes them.

A SQLite store can hold what PostgreSQL refuses (a version number past 2^31 - 1, an
author longer than its column, a NUL character): without this check a push fails on
the remote with the driver's "integer out of range", naming no feature or version
(issue 14). The limits are read from the table definitions themselves, so they are
the remote's, whatever the local backend let in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, get_args

from sqlalchemy import BigInteger, Integer, String, Table

from promptdeck import limits
from promptdeck.checks.records import canonical_suite, suite_hash
from promptdeck.errors import ValidationError
from promptdeck.records import ReviewKind

INT32 = 2**31 - 1
INT64 = 2**63 - 1


@cache
def _limits(table: Table) -> dict[str, tuple[int | None, int | None]]:
    """Per column: (largest integer, longest string), None where not limited."""
    limits: dict[str, tuple[int | None, int | None]] = {}
    for column in table.c:
        kind = column.type
        largest = INT64 if isinstance(kind, BigInteger) else INT32
        limits[column.name] = (
            largest if isinstance(kind, Integer) else None,
            kind.length if isinstance(kind, String) and kind.length else None,
        )
    return limits


def misfit(table: Table, row: Mapping[str, Any]) -> str | None:
    """Why ``row`` cannot be stored in ``table`` on every backend, or None."""
    limits = _limits(table)
    for name, value in row.items():
        if value is None or name not in limits:
            continue
        largest, longest = limits[name]
        if isinstance(value, str):
            if "\x00" in value:
                return f"{name} holds a NUL character"
            if longest is not None and len(value) > longest:
                return f"{name} is {len(value)} characters long (at most {longest})"
        elif (
            largest is not None
            and isinstance(value, int)
            and not isinstance(value, bool)
            and not -largest - 1 <= value <= largest
        ):
            return f"{name} {value} is out of range (at most {largest})"
    return None


def _check_environment(row: Mapping[str, Any]) -> None:
    limits.check_environment(row["name"])
    limits.check_user(row["created_by"], "creator")
    approvals = row["required_approvals"]
    if isinstance(approvals, bool) or not isinstance(approvals, int) or not 1 <= approvals <= 20:
        raise ValidationError(f"required approvals {approvals!r} is not from 1 to 20")


def _check_review(row: Mapping[str, Any]) -> None:
    if row["kind"] not in get_args(ReviewKind):
        raise ValidationError(f"unknown review kind {row['kind']!r}")
    limits.check_user(row["actor"], "reviewer")
    limits.check_reason(row["comment"], "comment")


def _check_suite(row: Mapping[str, Any]) -> None:
    limits.check_user(row["author"], "author")
    limits.check_reason(row["reason"])
    # A suite parses as `suite set` parses it, and its hash is its content's: the table
    # planner takes two suites of the same hash for the same one.
    if suite_hash(canonical_suite(row["body"])) != row["content_hash"]:
        raise ValidationError("its content does not match its content hash")


CHECK_STATUSES = ("passed", "failed", "error")


def _check_check_run(row: Mapping[str, Any]) -> None:
    if row["status"] not in CHECK_STATUSES:
        raise ValidationError(f"unknown check status {row['status']!r}")
    limits.check_model(row["model"])
    limits.check_user(row["runner"], "runner")
    summary, results = row["summary"], row["results"]
    if not isinstance(summary, dict) or not isinstance(results, dict):
        raise ValidationError("its summary and results are not mappings")
    for key, value in summary.items():  # counts and figures (cost None: no price known)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0
        ):
            raise ValidationError(f"summary {key!r} is {value!r}, not a non-negative number")


def refuse_unfit_environment(row: Mapping[str, Any]) -> None:
    """A copied environment passes the checks `env create`/`protect` make, or the sync
    stops naming it (a hostile side's escape sequences never reach the other's screens)."""
    _refuse(_check_environment, row, f"the environment {row['name']!r}")


def refuse_unfit_review(row: Mapping[str, Any]) -> None:
    """A copied review passes the checks `review request/approve/reject` make."""
    _refuse(_check_review, row, f"the review {row['uid']!r}")


def refuse_unfit_suite(row: Mapping[str, Any], feature: str) -> None:
    """A copied suite passes the checks `suite set` makes."""
    _refuse(_check_suite, row, f"suite #{row['number']} of {feature}")


def refuse_unfit_check_run(row: Mapping[str, Any]) -> None:
    """A copied check run names a known status, a model and a runner that `check`
    would have stored, and a summary of plain figures."""
    _refuse(_check_check_run, row, f"the check run {row['uid']!r}")


def _refuse(check: Callable[[Mapping[str, Any]], None], row: Mapping[str, Any], what: str) -> None:
    try:
        check(row)
    except ValidationError as exc:
        raise ValidationError(f"cannot sync {what}: {exc}; nothing was synced") from None
