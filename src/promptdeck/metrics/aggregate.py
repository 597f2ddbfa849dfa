"""Additive aggregates of outcomes, and the rows a store adds up. Pure: no I/O.

An :class:`Aggregate` sums outcomes per key ``(feature, environment, version_uid,
bucket_start)``: a version (by uid, never a label) in an environment during one time
bucket (``bucket_seconds`` wide, 60 by default, aligned on the epoch). Every figure it
keeps merges by addition, except the distinct-user sketch, which merges by bitwise OR;
both are commutative and associative, so any number of processes can add their rows
to one table in any order, and the database does the arithmetic::

    INSERT INTO metric (...) VALUES (...)
    ON CONFLICT (feature, environment, version_uid, bucket_start) DO UPDATE SET
        count = metric.count + excluded.count, ...,           -- ADDITIVE_COLUMNS
        users_0 = metric.users_0 | excluded.users_0, ...      -- OR_COLUMNS

:class:`AggregateRow` is one key's figures; :meth:`AggregateRow.columns` flattens it to
the scalar columns above, and its ``latency_histogram`` (bucket -> count) and ``scores``
(name -> :class:`Moments`) are sparse children, added the same way in two child tables
keyed by the row's key plus ``bucket`` or ``name``.

Memory is bounded: at most ``max_keys`` keys and ``max_scores`` score names per key.
What does not fit is dropped and counted (``dropped_outcomes``, ``dropped_scores``),
never silently lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from promptdeck.metrics.outcome import (
    USER_SKETCH_WORDS,
    Outcome,
    check_key,
    latency_bucket,
    to_signed,
    to_unsigned,
    user_bit,
)

CostOf = Callable[[str, int, int], float | None]
"""``cost_of(model, tokens_in, tokens_out)``: the cost in the price table's currency, or
None when the model has no price (e.g. ``PriceTable.cost``)."""

AggregateKey = tuple[str, str, str, int]
"""(feature, environment, version_uid, bucket_start)."""

DEFAULT_BUCKET_SECONDS: Final = 60
DEFAULT_MAX_KEYS: Final = 10_000
DEFAULT_MAX_SCORES: Final = 32

MEASURES: Final = ("cost", "tokens_in", "tokens_out", "latency_ms")
KEY_COLUMNS: Final = ("feature", "environment", "version_uid", "bucket_start")
ADDITIVE_COLUMNS: Final = (
    "count",
    "successes",
    "failures",
    *(f"{measure}_{part}" for measure in MEASURES for part in ("count", "sum", "sumsq")),
)
OR_COLUMNS: Final = tuple(f"users_{index}" for index in range(USER_SKETCH_WORDS))
INFO_COLUMNS: Final = ("version",)  # the version number: the same for every row of a uid


@dataclass(frozen=True, slots=True)
class Moments:
    """count, sum and sum of squares of one measure: enough for a mean and a variance."""

    count: int = 0
    sum: float = 0.0
    sumsq: float = 0.0

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    @property
    def variance(self) -> float | None:
        """The sample variance (n - 1), or None below two values."""
        if self.count < 2:
            return None
        # Clamped: rounding can make a tiny variance come out slightly negative.
        return max(0.0, (self.sumsq - self.sum * self.sum / self.count) / (self.count - 1))

    @property
    def sd(self) -> float | None:
        variance = self.variance
        return None if variance is None else math.sqrt(variance)

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.count + other.count, self.sum + other.sum, self.sumsq + other.sumsq)

    @classmethod
    def of(cls, values: Iterable[float]) -> Moments:
        count, total, total_sq = 0, 0.0, 0.0
        for value in values:
            count, total, total_sq = count + 1, total + value, total_sq + value * value
        return cls(count, total, total_sq)


_NO_MOMENTS = Moments()


@dataclass(frozen=True, slots=True)
class AggregateRow:
    """One key's figures: what a store adds to the row with the same key.

    ``version`` is the served version's number (informative: the uid is the key).
    ``count`` is the number of outcomes; ``successes`` and ``failures`` those that
    reported success True or False. ``cost``, ``tokens_in``, ``tokens_out`` and
    ``latency_ms`` are :class:`Moments` over the outcomes that reported them.
    ``latency_histogram`` maps a bucket of :func:`~promptdeck.metrics.outcome.latency_bucket`
    to a count. ``users_sketch`` is ``USER_SKETCH_WORDS`` signed 64-bit words, merged by OR.
    """

    feature: str
    environment: str
    version_uid: str
    bucket_start: int
    version: int
    count: int = 0
    successes: int = 0
    failures: int = 0
    cost: Moments = _NO_MOMENTS
    tokens_in: Moments = _NO_MOMENTS
    tokens_out: Moments = _NO_MOMENTS
    latency_ms: Moments = _NO_MOMENTS
    latency_histogram: Mapping[int, int] = field(default_factory=dict, hash=False)
    scores: Mapping[str, Moments] = field(default_factory=dict, hash=False)
    users_sketch: tuple[int, ...] = (0,) * USER_SKETCH_WORDS

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "latency_histogram", MappingProxyType(dict(self.latency_histogram))
        )
        object.__setattr__(self, "scores", MappingProxyType(dict(self.scores)))
        if len(self.users_sketch) != USER_SKETCH_WORDS:
            raise ValueError(f"users_sketch has {USER_SKETCH_WORDS} words")

    @property
    def key(self) -> AggregateKey:
        return (self.feature, self.environment, self.version_uid, self.bucket_start)

    def columns(self) -> dict[str, str | int | float]:
        """The scalar columns: KEY_COLUMNS, INFO_COLUMNS, ADDITIVE_COLUMNS, OR_COLUMNS."""
        result: dict[str, str | int | float] = {
            "feature": self.feature,
            "environment": self.environment,
            "version_uid": self.version_uid,
            "bucket_start": self.bucket_start,
            "version": self.version,
            "count": self.count,
            "successes": self.successes,
            "failures": self.failures,
        }
        for measure in MEASURES:
            moments: Moments = getattr(self, measure)
            result[f"{measure}_count"] = moments.count
            result[f"{measure}_sum"] = moments.sum
            result[f"{measure}_sumsq"] = moments.sumsq
        for name, word in zip(OR_COLUMNS, self.users_sketch, strict=True):
            result[name] = word
        return result

    @classmethod
    def from_columns(
        cls,
        columns: Mapping[str, object],
        latency_histogram: Mapping[int, int] | None = None,
        scores: Mapping[str, Moments] | None = None,
    ) -> AggregateRow:
        """The inverse of :meth:`columns` (what a store reads back)."""

        def number(name: str) -> float:
            value = columns[name]
            assert isinstance(value, int | float), name
            return value

        measures = {
            measure: Moments(
                int(number(f"{measure}_count")),
                float(number(f"{measure}_sum")),
                float(number(f"{measure}_sumsq")),
            )
            for measure in MEASURES
        }
        return cls(
            feature=str(columns["feature"]),
            environment=str(columns["environment"]),
            version_uid=str(columns["version_uid"]),
            bucket_start=int(number("bucket_start")),
            version=int(number("version")),
            count=int(number("count")),
            successes=int(number("successes")),
            failures=int(number("failures")),
            latency_histogram=latency_histogram or {},
            scores=scores or {},
            users_sketch=tuple(int(number(name)) for name in OR_COLUMNS),
            **measures,
        )

    def __add__(self, other: AggregateRow) -> AggregateRow:
        """The row a store holds after adding ``other`` to this one (same key)."""
        if other.key != self.key:
            raise ValueError(f"cannot add rows of different keys: {self.key} and {other.key}")
        histogram = dict(self.latency_histogram)
        for bucket, count in other.latency_histogram.items():
            histogram[bucket] = histogram.get(bucket, 0) + count
        scores = dict(self.scores)
        for name, moments in other.scores.items():
            scores[name] = scores.get(name, _NO_MOMENTS) + moments
        return AggregateRow(
            feature=self.feature,
            environment=self.environment,
            version_uid=self.version_uid,
            bucket_start=self.bucket_start,
            version=self.version,
            count=self.count + other.count,
            successes=self.successes + other.successes,
            failures=self.failures + other.failures,
            cost=self.cost + other.cost,
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            latency_ms=self.latency_ms + other.latency_ms,
            latency_histogram=histogram,
            scores=scores,
            users_sketch=tuple(
                to_signed(to_unsigned(a) | to_unsigned(b))
                for a, b in zip(self.users_sketch, other.users_sketch, strict=True)
            ),
        )


def merge_rows(rows: Iterable[AggregateRow]) -> list[AggregateRow]:
    """Rows added up per key, sorted by key: what a table holds after receiving ``rows``."""
    merged: dict[AggregateKey, AggregateRow] = {}
    for row in rows:
        current = merged.get(row.key)
        merged[row.key] = row if current is None else current + row
    return [merged[key] for key in sorted(merged)]


class _Cell:
    """The mutable figures of one key (only an Aggregate touches it)."""

    __slots__ = (
        "cost",
        "count",
        "failures",
        "histogram",
        "latency_ms",
        "scores",
        "sketch",
        "successes",
        "tokens_in",
        "tokens_out",
        "version",
    )

    def __init__(self, version: int) -> None:
        self.version = version
        self.count = self.successes = self.failures = 0
        # [count, sum, sumsq] per measure, mutated in place on the hot path.
        self.cost = [0, 0.0, 0.0]
        self.tokens_in = [0, 0.0, 0.0]
        self.tokens_out = [0, 0.0, 0.0]
        self.latency_ms = [0, 0.0, 0.0]
        self.histogram: dict[int, int] = {}
        self.scores: dict[str, list[float]] = {}
        self.sketch = [0] * USER_SKETCH_WORDS  # unsigned words


def _bump(moments: list[float], value: float) -> None:
    moments[0] += 1
    moments[1] += value
    moments[2] += value * value


def _moments(parts: list[float]) -> Moments:
    return Moments(int(parts[0]), float(parts[1]), float(parts[2]))


class Aggregate:
    """Outcomes summed per (feature, environment, version_uid, bucket_start), bounded.

    Not thread-safe by itself: :class:`~promptdeck.metrics.recorder.Recorder` guards it.
    ``cost_of`` fills in the cost of outcomes that report tokens and a model but no cost;
    when it raises, the outcome is kept without a cost and ``cost_errors`` counts it.
    """

    def __init__(
        self,
        *,
        bucket_seconds: int = DEFAULT_BUCKET_SECONDS,
        max_keys: int = DEFAULT_MAX_KEYS,
        max_scores: int = DEFAULT_MAX_SCORES,
        cost_of: CostOf | None = None,
    ) -> None:
        if bucket_seconds < 1 or max_keys < 1 or max_scores < 0:
            raise ValueError("bucket_seconds and max_keys must be positive, max_scores >= 0")
        self.bucket_seconds = bucket_seconds
        self.max_keys = max_keys
        self.max_scores = max_scores
        self.cost_of = cost_of
        self._cells: dict[AggregateKey, _Cell] = {}
        self.dropped_outcomes = 0  # outcomes (or their share of rows) over max_keys
        self.dropped_scores = 0  # score values over max_scores
        self.cost_errors = 0  # cost_of raised

    def __len__(self) -> int:
        return len(self._cells)

    @property
    def outcomes(self) -> int:
        """Outcomes held (added and not dropped)."""
        return sum(cell.count for cell in self._cells.values())

    def bucket_start(self, at: float) -> int:
        return int(at // self.bucket_seconds) * self.bucket_seconds

    def _cell(self, key: AggregateKey, version: int, outcomes: int) -> _Cell | None:
        cell = self._cells.get(key)
        if cell is None:
            check_key(key[0], key[1], version, key[2], "")  # checked once per key
            if len(self._cells) >= self.max_keys:
                self.dropped_outcomes += outcomes
                return None
            cell = self._cells[key] = _Cell(version)
        return cell

    def add(self, outcome: Outcome, at: float) -> bool:
        """Count one outcome at ``at`` (used when ``outcome.at`` is None); False if dropped."""
        return self.add_values(
            outcome.feature,
            outcome.environment,
            outcome.version,
            outcome.version_uid,
            outcome.model,
            outcome.tokens_in,
            outcome.tokens_out,
            outcome.latency_ms,
            outcome.cost,
            outcome.success,
            outcome.scores,
            outcome.user_id,
            outcome.at if outcome.at is not None else at,
        )

    def add_values(
        self,
        feature: str,
        environment: str,
        version: int,
        version_uid: str,
        model: str,
        tokens_in: int | None,
        tokens_out: int | None,
        latency_ms: float | None,
        cost: float | None,
        success: bool | None,
        scores: Mapping[str, float] | None,
        user_id: str | None,
        at: float,
    ) -> bool:
        """:meth:`add` without building an :class:`Outcome` (the recorder's hot path).

        The measures must have passed :func:`~promptdeck.metrics.outcome.check_measures`;
        the key is checked here the first time it is seen. False if dropped.
        """
        # Hashed before the cell changes: an id that cannot be hashed (a lone surrogate
        # cannot be encoded) drops the outcome whole, never half-counted.
        user = None if user_id is None else user_bit(user_id)
        key = (
            feature,
            environment,
            version_uid,
            int(at // self.bucket_seconds) * self.bucket_seconds,
        )
        cell = self._cell(key, version, 1)
        if cell is None:
            return False
        cell.count += 1
        if success is not None:
            if success:
                cell.successes += 1
            else:
                cell.failures += 1
        if (
            cost is None
            and self.cost_of is not None
            and model
            and tokens_in is not None
            and tokens_out is not None
        ):
            try:
                cost = self.cost_of(model, tokens_in, tokens_out)
            except Exception:
                self.cost_errors += 1
                cost = None
            if cost is not None and not (math.isfinite(cost) and cost >= 0):
                self.cost_errors += 1
                cost = None
        # Inlined rather than _bump(): this is the request path.
        if cost is not None:
            parts = cell.cost
            parts[0] += 1
            parts[1] += cost
            parts[2] += cost * cost
        if tokens_in is not None:
            parts = cell.tokens_in
            parts[0] += 1
            parts[1] += tokens_in
            parts[2] += tokens_in * tokens_in
        if tokens_out is not None:
            parts = cell.tokens_out
            parts[0] += 1
            parts[1] += tokens_out
            parts[2] += tokens_out * tokens_out
        if latency_ms is not None:
            parts = cell.latency_ms
            parts[0] += 1
            parts[1] += latency_ms
            parts[2] += latency_ms * latency_ms
            bucket = latency_bucket(latency_ms)
            cell.histogram[bucket] = cell.histogram.get(bucket, 0) + 1
        if scores:
            for name, value in scores.items():
                moments = cell.scores.get(name)
                if moments is None:
                    if len(cell.scores) >= self.max_scores:
                        self.dropped_scores += 1
                        continue
                    moments = cell.scores[name] = [0, 0.0, 0.0]
                _bump(moments, value)
        if user is not None:
            word, bit = user
            cell.sketch[word] |= bit
        return True

    def add_row(self, row: AggregateRow) -> bool:
        """Add a whole row (e.g. one a sink failed to take); False if dropped."""
        cell = self._cell(row.key, row.version, row.count)
        if cell is None:
            return False
        cell.count += row.count
        cell.successes += row.successes
        cell.failures += row.failures
        for measure in MEASURES:
            moments: Moments = getattr(row, measure)
            parts: list[float] = getattr(cell, measure)
            parts[0] += moments.count
            parts[1] += moments.sum
            parts[2] += moments.sumsq
        for bucket, count in row.latency_histogram.items():
            cell.histogram[bucket] = cell.histogram.get(bucket, 0) + count
        for name, moments in row.scores.items():
            score = cell.scores.get(name)
            if score is None:
                if len(cell.scores) >= self.max_scores:
                    self.dropped_scores += moments.count
                    continue
                score = cell.scores[name] = [0, 0.0, 0.0]
            score[0] += moments.count
            score[1] += moments.sum
            score[2] += moments.sumsq
        for index, word in enumerate(row.users_sketch):
            cell.sketch[index] |= to_unsigned(word)
        return True

    def merge(self, other: Aggregate) -> None:
        """Add everything ``other`` holds (and its drop counters) into this aggregate."""
        for row in other.rows():
            self.add_row(row)
        self.dropped_outcomes += other.dropped_outcomes
        self.dropped_scores += other.dropped_scores
        self.cost_errors += other.cost_errors

    def drop_oldest(self, keep: int) -> int:
        """Drop the oldest buckets until at most ``keep`` keys remain; the outcomes dropped."""
        excess = len(self._cells) - keep
        if excess <= 0:
            return 0
        oldest = sorted(self._cells, key=lambda key: (key[3], key))[:excess]
        dropped = sum(self._cells.pop(key).count for key in oldest)
        self.dropped_outcomes += dropped
        return dropped

    def rows(self) -> list[AggregateRow]:
        """The figures held, one row per key, sorted by key."""
        return [
            AggregateRow(
                feature=key[0],
                environment=key[1],
                version_uid=key[2],
                bucket_start=key[3],
                version=cell.version,
                count=cell.count,
                successes=cell.successes,
                failures=cell.failures,
                cost=_moments(cell.cost),
                tokens_in=_moments(cell.tokens_in),
                tokens_out=_moments(cell.tokens_out),
                latency_ms=_moments(cell.latency_ms),
                latency_histogram=cell.histogram,
                scores={name: _moments(parts) for name, parts in cell.scores.items()},
                users_sketch=tuple(to_signed(word) for word in cell.sketch),
            )
            for key, cell in sorted(self._cells.items())
        ]
