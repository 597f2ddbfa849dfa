"""Rows checked against the columns they are going into, before a sync writes them.

A SQLite store can hold what PostgreSQL refuses (a version number past 2^31 - 1, an
author longer than its column, a NUL character): without this check a push fails on
the remote with the driver's "integer out of range", naming no feature or version
(issue 14). The limits are read from the table definitions themselves, so they are
the remote's, whatever the local backend let in.

Rows another store made (environments, reviews, suites, check runs, metrics) also pass
the checks the commands that make them apply, so a hostile side's escape sequences,
absurd figures or malformed suites never reach the other store, its screens or its
statistics: the run is refused, naming the row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, get_args

from sqlalchemy import BigInteger, Float, Integer, String, Table

from promptdeck import limits
from promptdeck.checks.records import canonical_suite, suite_hash
from promptdeck.errors import ValidationError
from promptdeck.metrics.outcome import MAX_SCORE_NAME, USER_SKETCH_WORDS
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
    canonical_suite(row["body"])  # parses as `suite set` parses it
    # Its hash is its content's (as stored: a later release may canonicalize otherwise):
    # the table planner takes two suites of the same hash for the same one.
    if suite_hash(row["body"]) != row["content_hash"]:
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


LAST_BUCKET_START = 253_402_300_799  # 9999-12-31 23:59:59 UTC: a time a datetime holds
# Integer columns of the metric tables that may be negative: the user sketch's words.
_SIGNED_METRIC_COLUMNS = frozenset(f"users_{word}" for word in range(USER_SKETCH_WORDS))


def _check_metric(table: Table, row: Mapping[str, Any]) -> None:
    limits.check_name(row["feature"])
    limits.check_environment(row["environment"])
    limits.check_uid(row["version_uid"])
    name = row.get("name")  # a score's
    if name is not None and not (0 < len(name) <= MAX_SCORE_NAME and name.isprintable()):
        raise ValidationError(f"score name {name!r} is not printable text of 1 to 100 characters")
    if not 0 <= row["bucket_start"] <= LAST_BUCKET_START:
        raise ValidationError(f"bucket start {row['bucket_start']!r} is not a time")
    figures, counts = _metric_columns(table)
    for column in figures:
        if not math.isfinite(row[column]):
            raise ValidationError(f"{column} is {row[column]!r}, not a finite number")
    for column in counts:
        if row[column] < 0:
            raise ValidationError(f"{column} is {row[column]!r}, not a count")


@cache
def _metric_columns(table: Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A metric table's float columns, and its integer columns that are counts."""
    return tuple(c.name for c in table.c if isinstance(c.type, Float)), tuple(
        c.name
        for c in table.c
        if isinstance(c.type, Integer) and c.name not in _SIGNED_METRIC_COLUMNS
    )


def refuse_unfit_metric(table: Table, row: Mapping[str, Any]) -> None:
    """A copied metrics row names a feature, environment and version as the runtime
    records them, a printable score name, a time, counts and finite figures: a hostile
    side's rows never reach the other's statistics or screens."""
    _refuse(
        lambda values: _check_metric(table, values),
        row,
        f"the metrics of origin {row['origin']!r}",
    )


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
