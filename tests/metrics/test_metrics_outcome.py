"""Outcome validation, the latency histogram's error bound and the distinct-user sketch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptdeck.metrics.outcome import (
    LATENCY_RELATIVE_ERROR,
    USER_SKETCH_WORDS,
    Outcome,
    bucket_value,
    estimate_users,
    histogram_quantile,
    latency_bucket,
    merge_sketches,
    to_signed,
    user_bit,
)


def outcome(**changes: object) -> Outcome:
    fields: dict[str, object] = {
        "feature": "support",
        "environment": "production",
        "version": 3,
        "version_uid": "uid-3",
    }
    fields.update(changes)
    return Outcome(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"tokens_in": -1},
        {"tokens_out": 2.5},
        {"latency_ms": float("nan")},
        {"latency_ms": -3.0},
        {"cost": float("inf")},
        {"cost": True},
        {"success": 1},
        {"scores": {"grader": float("nan")}},
        {"scores": {"": 1.0}},
        {"scores": {"grader": "high"}},
        {"version": 0},
        {"version_uid": ""},
        {"feature": ""},
        {"at": float("nan")},
    ],
)
def test_bad_outcomes_are_refused_with_a_clear_message(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        outcome(**changes)


def test_an_outcome_is_frozen_and_keeps_its_own_copy_of_scores() -> None:
    scores = {"grader": 0.5}
    result = outcome(scores=scores, user_id=42)  # type: ignore[arg-type]
    scores["grader"] = 9.0
    assert result.scores == {"grader": 0.5}
    assert result.user_id == "42"
    with pytest.raises(AttributeError):
        result.cost = 1.0  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e7, allow_nan=False))
def test_a_bucket_stands_for_its_values_within_the_stated_error(latency: float) -> None:
    value = bucket_value(latency_bucket(latency))
    assert abs(value - latency) <= LATENCY_RELATIVE_ERROR * latency * (1 + 1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=1, max_size=300),
    st.sampled_from([0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_quantiles_are_within_the_stated_error_of_numpy(values: list[float], q: float) -> None:
    histogram: dict[int, int] = {}
    for value in values:
        bucket = latency_bucket(value)
        histogram[bucket] = histogram.get(bucket, 0) + 1
    exact = float(np.quantile(values, q, method="inverted_cdf"))
    estimate = histogram_quantile(histogram, q)
    assert estimate is not None
    assert abs(estimate - exact) <= LATENCY_RELATIVE_ERROR * exact * (1 + 1e-9)


def test_quantiles_of_realistic_latencies_match_numpy() -> None:
    latencies = np.random.default_rng(7).lognormal(mean=6.7, sigma=0.6, size=50_000)
    histogram: dict[int, int] = {}
    for value in latencies.tolist():
        histogram[latency_bucket(value)] = histogram.get(latency_bucket(value), 0) + 1
    for q in (0.5, 0.95):
        exact = float(np.quantile(latencies, q, method="inverted_cdf"))
        assert histogram_quantile(histogram, q) == pytest.approx(exact, rel=0.02)
    assert len(histogram) < 150  # sparse: a few dozen buckets, whatever the count
    assert histogram_quantile({}, 0.5) is None


def sketch_of(users: list[str]) -> tuple[int, ...]:
    words = [0] * USER_SKETCH_WORDS
    for user in users:
        word, bit = user_bit(user)
        words[word] |= bit
    return tuple(to_signed(word) for word in words)


@pytest.mark.parametrize("count", [1, 5, 30, 160, 1_000, 20_000])
def test_distinct_users_are_estimated_within_30_percent(count: int) -> None:
    users = [f"user-{index}" for index in range(count)]
    sketch = sketch_of(users * 3)  # repeats do not count
    assert estimate_users(sketch) == pytest.approx(count, rel=0.3)
    assert all(-(2**63) <= word < 2**63 for word in sketch)  # fits a BIGINT


def test_the_user_error_is_about_ten_percent_on_average() -> None:
    errors = []
    for trial in range(40):
        users = [f"t{trial}-user-{index}" for index in range(2_000)]
        errors.append(estimate_users(sketch_of(users)) / 2_000 - 1)
    assert math.sqrt(np.mean(np.square(errors))) < 0.15
    assert abs(float(np.mean(errors))) < 0.06  # no large bias


def test_sketches_merge_by_or_like_the_union_of_their_users() -> None:
    left = [f"a{index}" for index in range(500)]
    right = [f"b{index}" for index in range(300)] + left[:100]
    assert merge_sketches(sketch_of(left), sketch_of(right)) == sketch_of(left + right)
    once = sketch_of(left)
    assert merge_sketches(once, once) == once  # a batch sent twice adds no users
    assert estimate_users(merge_sketches()) == 0.0


def test_the_same_user_as_int_or_str_is_one_user() -> None:
    assert user_bit(42) == user_bit("42")
