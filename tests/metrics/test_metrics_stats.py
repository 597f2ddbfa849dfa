"""Statistics against known data: references, power, false positives, verdicts, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from promptdeck.metrics.aggregate import Aggregate, AggregateRow, Moments
from promptdeck.metrics.outcome import Outcome
from promptdeck.metrics.stats import (
    PEEKING_NOTE,
    compare,
    compare_means,
    compare_rates,
    plan_mean,
    plan_rate,
)

RNG_SEED = 20261129


def rows_of(
    uid: str,
    version: int,
    latencies: np.ndarray,
    successes: np.ndarray,
    costs: np.ndarray,
    grader: np.ndarray,
    users: int,
) -> list[AggregateRow]:
    aggregate = Aggregate()
    for index, (latency, success, cost, score) in enumerate(
        zip(latencies.tolist(), successes.tolist(), costs.tolist(), grader.tolist(), strict=True)
    ):
        aggregate.add(
            Outcome(
                "support",
                "production",
                version,
                uid,
                tokens_in=500,
                tokens_out=100 + index % 50,
                latency_ms=latency,
                cost=cost,
                success=bool(success),
                scores={"grader": score},
                user_id=str(index % users),
            ),
            at=float(index),  # spread over many minutes: several rows per arm
        )
    return aggregate.rows()


@pytest.fixture(scope="module")
def arms() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(RNG_SEED)
    return {
        "active": {
            "latency": rng.lognormal(6.8, 0.5, 3_000),
            "success": rng.random(3_000) < 0.80,
            "cost": rng.gamma(4.0, 0.001, 3_000),
            "grader": rng.normal(0.70, 0.1, 3_000),
        },
        "canary": {
            "latency": rng.lognormal(6.6, 0.5, 400),
            "success": rng.random(400) < 0.90,
            "cost": rng.gamma(4.0, 0.001, 400),
            "grader": rng.normal(0.72, 0.1, 400),
        },
    }


@pytest.fixture(scope="module")
def comparison(arms: dict[str, dict[str, np.ndarray]]):  # type: ignore[no-untyped-def]
    active, canary = arms["active"], arms["canary"]
    return compare(
        rows_of("u5", 5, active["latency"], active["success"], active["cost"],
                active["grader"], users=1_000),
        rows_of("u6", 6, canary["latency"], canary["success"], canary["cost"],
                canary["grader"], users=150),
    )  # fmt: skip


def test_figures_match_scipy_and_statsmodels_on_the_raw_samples(
    arms: dict[str, dict[str, np.ndarray]],
    comparison,  # type: ignore[no-untyped-def]
) -> None:
    active, canary = arms["active"], arms["canary"]
    assert comparison.baseline.requests == 3_000 and comparison.candidate.requests == 400
    assert comparison.baseline.versions == (5,) and comparison.candidate.versions == (6,)
    # Per arm: Wilson interval and t interval.
    low, high = proportion_confint(int(active["success"].sum()), 3_000, method="wilson")
    assert (comparison.baseline.success_rate.low, comparison.baseline.success_rate.high) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    cost = comparison.candidate.cost
    sem = scipy_stats.sem(canary["cost"])
    ref = scipy_stats.t.interval(0.95, 399, loc=canary["cost"].mean(), scale=sem)
    assert (cost.value, cost.low, cost.high) == pytest.approx((canary["cost"].mean(), *ref))
    # Rates: the two-proportion z-test.
    rate = comparison.metric("success_rate")
    _, p_value = proportions_ztest([canary["success"].sum(), active["success"].sum()], [400, 3_000])
    assert rate.p_value == pytest.approx(p_value)
    assert rate.difference == pytest.approx(canary["success"].mean() - active["success"].mean())
    # Means: Welch's t-test and its interval, as scipy computes them on raw data.
    for metric, key in (("latency_ms", "latency"), ("cost", "cost"), ("score:grader", "grader")):
        welch = scipy_stats.ttest_ind(canary[key], active[key], equal_var=False)
        result = comparison.metric(metric)
        interval = welch.confidence_interval()
        assert result.p_value == pytest.approx(welch.pvalue, rel=1e-6)
        assert (result.low, result.high) == pytest.approx((interval.low, interval.high))
        assert result.test == "Welch's t-test"
    # Latency percentiles within the histogram's 2 % of numpy's.
    for q, value in ((0.5, comparison.candidate.latency_p50_ms), (0.95,
                     comparison.candidate.latency_p95_ms)):  # fmt: skip
        exact = np.quantile(canary["latency"], q, method="inverted_cdf")
        assert value == pytest.approx(exact, rel=0.02)
    assert comparison.candidate.users == pytest.approx(150, rel=0.3)
    assert comparison.baseline.users == pytest.approx(1_000, rel=0.3)


def test_verdicts_follow_each_metrics_direction(comparison) -> None:  # type: ignore[no-untyped-def]
    verdicts = {metric.metric: metric.verdict for metric in comparison.metrics}
    assert verdicts["success_rate"] == "better"  # 90 % against 80 %
    assert verdicts["latency_ms"] == "better"  # faster is better
    assert verdicts["tokens_in"] == "no detectable difference"  # identical everywhere
    assert comparison.metric("tokens_in").p_value == 1.0
    assert [metric.metric for metric in comparison.metrics] == [
        "success_rate", "cost", "tokens_in", "tokens_out", "latency_ms", "score:grader",
    ]  # fmt: skip


def test_a_slower_dearer_canary_is_worse() -> None:
    rng = np.random.default_rng(1)
    base = Moments.of(rng.normal(1_000, 100, 500).tolist())
    slow = Moments.of(rng.normal(1_100, 100, 500).tolist())
    assert compare_means("latency_ms", base, slow, better="lower").verdict == "worse"
    assert compare_means("score:x", base, slow, better="higher").verdict == "better"


def test_hand_checked_two_proportion_figures() -> None:
    # Pooled p = 0.115, SE = sqrt(0.115 * 0.885 * 2 / 1000) = 0.014267, z = 2.1027.
    result = compare_rates("success_rate", (100, 900), (130, 870))
    assert result.difference == pytest.approx(0.03)
    assert result.p_value == pytest.approx(0.03549, abs=1e-5)
    assert result.verdict == "better"
    assert result.low is not None and result.high is not None
    assert 0 < result.low < 0.03 < result.high


def test_no_verdict_before_the_minimum_sample() -> None:
    small = compare_rates("success_rate", (40, 10), (45, 5))
    assert small.verdict == "not enough data"
    assert "needs 100" in small.reason
    assert small.p_value is None and small.low is None
    rare_failures = compare_rates("success_rate", (995, 5), (990, 10))
    assert rare_failures.verdict == "not enough data"
    assert "baseline has 5 failures (needs 10)" in rare_failures.reason
    assert compare_means("cost", Moments(), Moments()).verdict == "not enough data"
    empty = compare([], [])
    assert {metric.verdict for metric in empty.metrics} == {"not enough data"}
    assert empty.baseline.latency_p50_ms is None and empty.baseline.users == 0


def test_to_data_is_the_documented_json(comparison) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(comparison.to_data(), allow_nan=False))
    assert set(data) == {
        "alpha", "confidence", "min_sample", "min_events", "note", "baseline", "candidate",
        "metrics",
    }  # fmt: skip
    assert data["note"] == PEEKING_NOTE
    assert set(data["baseline"]) == {
        "label", "versions", "requests", "users", "first_bucket", "last_bucket",
        "latency_p50_ms", "latency_p95_ms", "success_rate", "cost", "tokens_in",
        "tokens_out", "latency_ms", "scores",
    }  # fmt: skip
    assert data["baseline"]["first_bucket"] == "1970-01-01T00:00:00+00:00"
    assert set(data["metrics"][0]) == {
        "metric", "test", "better", "baseline", "candidate", "difference", "low", "high",
        "p_value", "verdict", "reason",
    }  # fmt: skip
    assert set(data["candidate"]["scores"]["grader"]) == {"n", "value", "low", "high"}


# -- known data over many simulated experiments ----------------------------------------------

EXPERIMENTS = 400


def simulate_rates(p_base: float, p_cand: float, n_base: int, n_cand: int) -> list[str]:
    rng = np.random.default_rng(RNG_SEED)
    base = rng.binomial(n_base, p_base, EXPERIMENTS)
    cand = rng.binomial(n_cand, p_cand, EXPERIMENTS)
    return [
        compare_rates("success_rate", (int(b), n_base - int(b)), (int(c), n_cand - int(c))).verdict
        for b, c in zip(base, cand, strict=True)
    ]


def simulate_means(
    mean_base: float, mean_cand: float, sd: float, n_base: int, n_cand: int
) -> list[str]:
    rng = np.random.default_rng(RNG_SEED + 1)
    verdicts = []
    for _ in range(EXPERIMENTS):
        # Skewed like latencies: gamma with the given mean and standard deviation.
        shape_b, shape_c = (mean_base / sd) ** 2, (mean_cand / sd) ** 2
        base = rng.gamma(shape_b, mean_base / shape_b, n_base)
        cand = rng.gamma(shape_c, mean_cand / shape_c, n_cand)
        verdicts.append(
            compare_means(
                "latency_ms",
                Moments(n_base, float(base.sum()), float(np.square(base).sum())),
                Moments(n_cand, float(cand.sum()), float(np.square(cand).sum())),
            ).verdict
        )
    return verdicts


def share(verdicts: list[str], *wanted: str) -> float:
    return sum(verdict in wanted for verdict in verdicts) / len(verdicts)


# Bands: ±3 standard errors of a proportion over 400 experiments.
def band(expected: float) -> tuple[float, float]:
    error = 3 * (expected * (1 - expected) / EXPERIMENTS) ** 0.5
    return expected - error, expected + error


@pytest.mark.parametrize("candidate_share", [0.5, 0.1])
def test_a_known_rate_difference_is_detected_at_the_planned_power(candidate_share: float) -> None:
    plan = plan_rate(0.20, 0.05, power=0.8, candidate_share=candidate_share)
    verdicts = simulate_rates(0.20, 0.25, plan.baseline_n, plan.candidate_n)
    low, high = band(0.8)
    assert low <= share(verdicts, "better") <= high
    assert share(verdicts, "worse") == 0


@pytest.mark.parametrize("candidate_share", [0.5, 0.1])
def test_a_known_mean_difference_is_detected_at_the_planned_power(candidate_share: float) -> None:
    plan = plan_mean(300.0, -40.0, power=0.8, candidate_share=candidate_share)
    verdicts = simulate_means(1_000, 960, 300, plan.baseline_n, plan.candidate_n)
    low, high = band(0.8)
    assert low <= share(verdicts, "better") <= high


def test_equal_rates_give_false_positives_near_alpha() -> None:
    verdicts = simulate_rates(0.30, 0.30, 2_000, 500)
    low, high = band(0.05)
    assert low <= share(verdicts, "better", "worse") <= high


def test_equal_means_give_false_positives_near_alpha() -> None:
    verdicts = simulate_means(1_000, 1_000, 400, 900, 100)
    low, high = band(0.05)
    assert low <= share(verdicts, "better", "worse") <= high


def test_peeking_inflates_false_positives_as_the_note_says() -> None:
    rng = np.random.default_rng(RNG_SEED + 2)
    looks, per_look, ever = 10, 200, 0
    for _ in range(EXPERIMENTS // 2):
        base = np.cumsum(rng.binomial(per_look, 0.3, looks))
        cand = np.cumsum(rng.binomial(per_look, 0.3, looks))
        ever += any(
            compare_rates(
                "success_rate",
                (int(b), per_look * (look + 1) - int(b)),
                (int(c), per_look * (look + 1) - int(c)),
            ).verdict
            != "no detectable difference"
            for look, (b, c) in enumerate(zip(base, cand, strict=True))
        )
    assert ever / (EXPERIMENTS // 2) > 0.1  # well above the 5 % of a single look


def test_plans_match_known_sample_sizes() -> None:
    # Cohen's h for 0.25 against 0.20 is 0.1199; n = ((1.96 + 0.8416) / h)^2 * 2 / 2.
    assert plan_rate(0.20, 0.05).baseline_n == pytest.approx(1_092, abs=2)
    # d = 0.2: the textbook 394 per group at 80 % power (two-sided 5 %).
    assert plan_mean(1.0, 0.2).baseline_n == 394
    tenth = plan_rate(0.20, 0.05, candidate_share=0.1)
    assert tenth.candidate_n < tenth.baseline_n and tenth.total > plan_rate(0.2, 0.05).total
    with pytest.raises(ValueError):
        plan_rate(0.98, 0.05)
    with pytest.raises(ValueError):
        plan_mean(0.0, 1.0)
