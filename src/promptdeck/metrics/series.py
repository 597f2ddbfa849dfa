"""Metrics over time, per version: what a monitor view charts. Pure.

:func:`series` regroups :class:`~promptdeck.metrics.aggregate.AggregateRow` into steps
of ``step_seconds`` (an hour by default; any multiple of the rows' bucket width) per
version, and gives each step's figures as plain numbers (None where nothing was
reported), ready for a sparkline or a chart. ``Point.to_data()`` is JSON-ready::

    {"start": "2026-11-24T09:00:00+00:00", "version": 6, "version_uid": "...",
     "requests": 812, "success_rate": 0.91, "cost": 0.0041, "tokens_in": 1210.0,
     "tokens_out": 233.5, "latency_ms": 1432.1, "latency_p50_ms": 1210.3,
     "latency_p95_ms": 3120.9, "users": 402, "scores": {"grader": 0.77}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from promptdeck.metrics.aggregate import AggregateRow, merge_rows
from promptdeck.metrics.outcome import estimate_users, histogram_quantile

DEFAULT_STEP_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Point:
    """One version's figures during one step."""

    start: int  # seconds since the epoch
    version: int
    version_uid: str
    requests: int
    success_rate: float | None
    cost: float | None  # means over the outcomes that reported each measure
    tokens_in: float | None
    tokens_out: float | None
    latency_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    users: int
    scores: Mapping[str, float] = field(hash=False)

    def to_data(self) -> dict[str, Any]:
        return {
            "start": datetime.fromtimestamp(self.start, UTC).isoformat(),
            "version": self.version,
            "version_uid": self.version_uid,
            "requests": self.requests,
            "success_rate": self.success_rate,
            "cost": self.cost,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "latency_ms": self.latency_ms,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "users": self.users,
            "scores": dict(sorted(self.scores.items())),
        }


def _point(row: AggregateRow) -> Point:
    decided = row.successes + row.failures
    return Point(
        start=row.bucket_start,
        version=row.version,
        version_uid=row.version_uid,
        requests=row.count,
        success_rate=row.successes / decided if decided else None,
        cost=row.cost.mean,
        tokens_in=row.tokens_in.mean,
        tokens_out=row.tokens_out.mean,
        latency_ms=row.latency_ms.mean,
        latency_p50_ms=histogram_quantile(row.latency_histogram, 0.5),
        latency_p95_ms=histogram_quantile(row.latency_histogram, 0.95),
        users=round(estimate_users(row.users_sketch)),
        scores=MappingProxyType(
            {
                name: mean
                for name, moments in row.scores.items()
                if (mean := moments.mean) is not None
            }
        ),
    )


def series(
    rows: Iterable[AggregateRow], *, step_seconds: int = DEFAULT_STEP_SECONDS
) -> list[Point]:
    """Per version and step, sorted by start then version number."""
    if step_seconds < 1:
        raise ValueError(f"step_seconds must be positive, not {step_seconds}")
    # Features and environments merge too: pass the rows of what the view charts.
    stepped = merge_rows(
        replace(
            row,
            feature="",
            environment="",
            bucket_start=row.bucket_start // step_seconds * step_seconds,
        )
        for row in rows
    )
    points = [_point(row) for row in stepped]
    return sorted(points, key=lambda point: (point.start, point.version, point.version_uid))
