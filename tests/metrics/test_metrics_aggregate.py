"""Aggregates: merging is associative and commutative, memory is bounded, rows round-trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptdeck.metrics.aggregate import (
    ADDITIVE_COLUMNS,
    KEY_COLUMNS,
    OR_COLUMNS,
    Aggregate,
    AggregateRow,
    Moments,
    merge_rows,
)
from promptdeck.metrics.outcome import Outcome

# Integer-valued floats keep every sum exact, so merges can be compared with ==.
whole = st.integers(min_value=0, max_value=10_000).map(float)
outcomes = st.builds(
    Outcome,
    feature=st.sampled_from(["support", "translate"]),
    environment=st.sampled_from(["production", "staging"]),
    version=st.just(1),
    version_uid=st.sampled_from(["u1", "u2"]),
    model=st.just("m"),
    tokens_in=st.none() | st.integers(0, 5_000),
    tokens_out=st.none() | st.integers(0, 5_000),
    latency_ms=st.none() | whole,
    cost=st.none() | whole,
    success=st.none() | st.booleans(),
    scores=st.dictionaries(st.sampled_from(["grader", "thumbs"]), whole, max_size=2),
    user_id=st.none() | st.integers(0, 50).map(str),
    at=st.integers(0, 600).map(float),
)


def aggregate_of(items: list[Outcome]) -> Aggregate:
    aggregate = Aggregate()
    for item in items:
        assert aggregate.add(item, at=0.0)
    return aggregate


@settings(max_examples=100, deadline=None)
@given(st.lists(outcomes, max_size=30), st.lists(outcomes, max_size=30), st.lists(outcomes))
def test_merging_is_associative_commutative_and_equals_adding_everything(
    a: list[Outcome], b: list[Outcome], c: list[Outcome]
) -> None:
    rows_a, rows_b, rows_c = (aggregate_of(part).rows() for part in (a, b, c))
    everything = aggregate_of(a + b + c).rows()
    assert merge_rows(merge_rows(rows_a + rows_b) + rows_c) == everything
    assert merge_rows(rows_a + merge_rows(rows_b + rows_c)) == everything
    assert merge_rows(rows_c + rows_b + rows_a) == everything
    merged = aggregate_of(c)
    merged.merge(aggregate_of(a))
    merged.merge(aggregate_of(b))
    assert merged.rows() == everything


@settings(max_examples=50, deadline=None)
@given(st.lists(outcomes, min_size=1, max_size=30))
def test_rows_round_trip_through_their_columns(items: list[Outcome]) -> None:
    for row in aggregate_of(items).rows():
        columns = row.columns()
        assert set(columns) == {*KEY_COLUMNS, "version", *ADDITIVE_COLUMNS, *OR_COLUMNS}
        again = AggregateRow.from_columns(columns, row.latency_histogram, row.scores)
        assert again == row


def test_rows_of_different_keys_cannot_be_added() -> None:
    one = AggregateRow("f", "production", "u1", 0, 1, count=1)
    with pytest.raises(ValueError, match="different keys"):
        _ = one + AggregateRow("f", "production", "u2", 0, 1, count=1)


def test_outcomes_fall_in_aligned_time_buckets_per_served_version() -> None:
    aggregate = Aggregate(bucket_seconds=60)
    base = {"feature": "f", "environment": "production", "version": 4}
    aggregate.add(Outcome(**base, version_uid="uid-4", success=True), at=125.0)
    aggregate.add(Outcome(**base, version_uid="uid-4", success=False), at=179.9)
    aggregate.add(Outcome(**base, version_uid="uid-4"), at=180.0)
    aggregate.add(Outcome(**base, version_uid="uid-4", at=30.0), at=999.0)
    rows = aggregate.rows()
    assert [(row.bucket_start, row.count) for row in rows] == [(0, 1), (120, 2), (180, 1)]
    assert (rows[1].successes, rows[1].failures) == (1, 1)


def test_moments_match_numpy() -> None:
    values = np.random.default_rng(3).normal(800, 120, size=1_000)
    moments = Moments.of(values.tolist())
    assert moments.mean == pytest.approx(values.mean())
    assert moments.sd == pytest.approx(values.std(ddof=1))
    assert Moments.of([5.0]).variance is None


def test_memory_is_bounded_and_what_is_dropped_is_counted() -> None:
    aggregate = Aggregate(max_keys=100, max_scores=3)
    for index in range(10_000):
        scores = {f"score{n}": 1.0 for n in range(5)}
        aggregate.add(Outcome(f"feature-{index}", "production", 1, "u", scores=scores), at=0.0)
    assert len(aggregate) == 100
    assert aggregate.outcomes == 100
    assert aggregate.dropped_outcomes == 9_900
    assert aggregate.dropped_scores == 100 * 2
    assert all(len(row.scores) == 3 for row in aggregate.rows())


def test_drop_oldest_keeps_the_newest_buckets() -> None:
    aggregate = Aggregate()
    for minute in range(10):
        for _ in range(minute + 1):
            aggregate.add(Outcome("f", "production", 1, "u"), at=minute * 60.0)
    assert aggregate.drop_oldest(keep=4) == 1 + 2 + 3 + 4 + 5 + 6
    assert [row.bucket_start for row in aggregate.rows()] == [360, 420, 480, 540]
    assert aggregate.dropped_outcomes == 21


def test_cost_comes_from_the_price_table_when_not_given() -> None:
    calls: list[tuple[str, int, int]] = []

    def cost_of(model: str, tokens_in: int, tokens_out: int) -> float | None:
        calls.append((model, tokens_in, tokens_out))
        if model == "broken":
            raise RuntimeError("no price")
        return None if model == "unknown" else tokens_in * 3e-6 + tokens_out * 15e-6

    aggregate = Aggregate(cost_of=cost_of)
    base = {"feature": "f", "environment": "production", "version": 1, "version_uid": "u"}
    aggregate.add(Outcome(**base, model="sonnet", tokens_in=1000, tokens_out=100), at=0)
    aggregate.add(Outcome(**base, model="sonnet", tokens_in=1, tokens_out=1, cost=0.5), at=0)
    aggregate.add(Outcome(**base, model="unknown", tokens_in=10, tokens_out=10), at=0)
    aggregate.add(Outcome(**base, model="broken", tokens_in=10, tokens_out=10), at=0)
    aggregate.add(Outcome(**base, model="sonnet", tokens_in=10), at=0)  # no tokens out
    (row,) = aggregate.rows()
    assert row.count == 5
    assert row.cost.count == 2
    assert row.cost.sum == pytest.approx(0.0045 + 0.5)
    assert aggregate.cost_errors == 1
    assert len(calls) == 3  # given cost and missing tokens never ask the table
