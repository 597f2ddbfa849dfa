"""Two arms compared: intervals, tests, verdicts and a fixed-horizon plan. Pure.

An arm is any set of :class:`~promptdeck.metrics.aggregate.AggregateRow` (the canary
version, the active version, one version before and after a rollout, over any time
range); :func:`compare` sums each arm's rows and compares the candidate with the
baseline, metric by metric:

====================  ==========================================  ==============  ======
metric                per arm (95 % interval by default)           test            better
====================  ==========================================  ==============  ======
``success_rate``      successes / (successes + failures), Wilson   two-proportion  higher
                      score interval (statsmodels                  z-test, pooled
                      ``proportion_confint(method="wilson")``)     (statsmodels
                                                                   ``proportions_ztest``)
``cost``              mean, t interval from count/sum/sumsq        Welch's t-test  lower
``tokens_in``         idem                                         (scipy
``tokens_out``        idem                                         ``ttest_ind_    lower
``latency_ms``        idem; p50 and p95 from the histogram (±2 %)  from_stats``)   lower
``score:NAME``        idem, one per score name in either arm                       higher
====================  ==========================================  ==============  ======

The difference is candidate − baseline, with its interval: Newcomb's hybrid score
interval for rates (statsmodels ``confint_proportions_2indep``), the Welch interval
(Welch–Satterthwaite degrees of freedom) for means. The verdict follows the test:

- ``not enough data`` until each arm has ``min_sample`` values of that metric (100 by
  default) and, for the success rate, ``min_events`` successes and as many failures (10);
- ``better`` / ``worse`` when the test's p-value is below ``alpha``, in the metric's
  direction (success and scores up; cost, tokens and latency down);
- ``no detectable difference`` otherwise (which is not proof of equality: see the plan).

When both arms have no variance at all (every value equal), the difference is exact:
no test is needed, p is reported as 0 (different) or 1 (equal).

JSON shape (``Comparison.to_data()``, the output of ``promptdeck stats --json``)::

    {
      "alpha": 0.05, "confidence": 0.95, "min_sample": 100, "min_events": 10,
      "note": "<PEEKING_NOTE>",
      "baseline": ARM, "candidate": ARM,
      "metrics": [METRIC, ...]          # success_rate, cost, tokens_in, tokens_out,
    }                                   # latency_ms, then score:NAME sorted by name
    ARM = {
      "label": "active", "versions": [5], "requests": 9120, "users": 4301,
      "first_bucket": "2026-11-29T10:00:00+00:00", "last_bucket": "...",  # or null
      "latency_p50_ms": 812.3, "latency_p95_ms": 2210.0,                 # or null
      "success_rate": ESTIMATE, "cost": ESTIMATE, "tokens_in": ESTIMATE,
      "tokens_out": ESTIMATE, "latency_ms": ESTIMATE, "scores": {NAME: ESTIMATE}
    }
    ESTIMATE = {"n": 9120, "value": 0.91, "low": 0.904, "high": 0.916}  # nulls if n = 0
    METRIC = {
      "metric": "success_rate", "test": "two-proportion z-test", "better": "higher",
      "baseline": ESTIMATE, "candidate": ESTIMATE,
      "difference": 0.012, "low": 0.001, "high": 0.023, "p_value": 0.03,  # or nulls
      "verdict": "better" | "worse" | "no detectable difference" | "not enough data",
      "reason": "one plain sentence"
    }

``users`` is an estimate (about ±10 %, see :mod:`promptdeck.metrics.outcome`).

Plan: :func:`plan_rate` and :func:`plan_mean` give the sample each arm needs to detect a
chosen minimum effect with the chosen power, for the traffic split of the canary
(statsmodels ``NormalIndPower`` on Cohen's h, ``TTestIndPower`` on Cohen's d). Decide it
before starting, and read the verdict once both arms have reached it: :data:`PEEKING_NOTE`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal

from scipy import stats as scipy_stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from promptdeck.metrics.aggregate import MEASURES, AggregateRow, Moments
from promptdeck.metrics.outcome import estimate_users, histogram_quantile, merge_sketches

Verdict = Literal["better", "worse", "no detectable difference", "not enough data"]
Direction = Literal["higher", "lower"]

DEFAULT_ALPHA: Final = 0.05
DEFAULT_MIN_SAMPLE: Final = 100
DEFAULT_MIN_EVENTS: Final = 10
RATE_TEST: Final = "two-proportion z-test"
MEAN_TEST: Final = "Welch's t-test"

PEEKING_NOTE: Final = (
    "These intervals and verdicts assume one look at a sample size chosen in advance. "
    "Checking again and again and stopping at the first 'better' or 'worse' inflates "
    "false positives: with a 5 % test, about 14 % of experiments with no real difference "
    "show one at some point over 5 looks, about 19 % over 10. Decide the sample per arm "
    "with the plan before starting, and read the verdict once both arms have reached it. "
    "With several metrics, about 1 in 20 shows a difference by chance alone."
)

_DIRECTIONS: Final[Mapping[str, Direction]] = MappingProxyType(
    {
        "success_rate": "higher",
        "cost": "lower",
        "tokens_in": "lower",
        "tokens_out": "lower",
        "latency_ms": "lower",
    }
)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A rate or a mean over ``n`` values with its confidence interval (None: no data)."""

    n: int
    value: float | None
    low: float | None
    high: float | None

    def to_data(self) -> dict[str, Any]:
        return {"n": self.n, "value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True)
class Totals:
    """One arm's rows added up."""

    requests: int
    successes: int
    failures: int
    measures: Mapping[str, Moments]  # cost, tokens_in, tokens_out, latency_ms
    scores: Mapping[str, Moments]
    latency_histogram: Mapping[int, int]
    users_sketch: tuple[int, ...]
    versions: tuple[int, ...]
    first_bucket: int | None
    last_bucket: int | None


def totals(rows: Iterable[AggregateRow]) -> Totals:
    """Everything in ``rows`` added up, whatever their keys."""
    requests = successes = failures = 0
    measures = {measure: Moments() for measure in MEASURES}
    scores: dict[str, Moments] = {}
    histogram: dict[int, int] = {}
    sketches: list[tuple[int, ...]] = []
    versions: set[int] = set()
    buckets: list[int] = []
    for row in rows:
        requests += row.count
        successes += row.successes
        failures += row.failures
        for measure in MEASURES:
            measures[measure] = measures[measure] + getattr(row, measure)
        for name, moments in row.scores.items():
            scores[name] = scores.get(name, Moments()) + moments
        for bucket, count in row.latency_histogram.items():
            histogram[bucket] = histogram.get(bucket, 0) + count
        sketches.append(row.users_sketch)
        versions.add(row.version)
        buckets.append(row.bucket_start)
    return Totals(
        requests=requests,
        successes=successes,
        failures=failures,
        measures=MappingProxyType(measures),
        scores=MappingProxyType(scores),
        latency_histogram=MappingProxyType(histogram),
        users_sketch=merge_sketches(*sketches),
        versions=tuple(sorted(versions)),
        first_bucket=min(buckets) if buckets else None,
        last_bucket=max(buckets) if buckets else None,
    )


def rate_estimate(successes: int, failures: int, alpha: float = DEFAULT_ALPHA) -> Estimate:
    """The success rate with its Wilson score interval."""
    n = successes + failures
    if n == 0:
        return Estimate(0, None, None, None)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return Estimate(n, successes / n, float(low), float(high))


def mean_estimate(moments: Moments, alpha: float = DEFAULT_ALPHA) -> Estimate:
    """The mean with its t interval (None below two values)."""
    mean, sd = moments.mean, moments.sd
    if mean is None:
        return Estimate(0, None, None, None)
    if sd is None:
        return Estimate(moments.count, mean, None, None)
    if sd == 0:
        return Estimate(moments.count, mean, mean, mean)
    low, high = scipy_stats.t.interval(
        1 - alpha, moments.count - 1, loc=mean, scale=sd / math.sqrt(moments.count)
    )
    return Estimate(moments.count, mean, float(low), float(high))


def _iso(bucket: int | None) -> str | None:
    return None if bucket is None else datetime.fromtimestamp(bucket, UTC).isoformat()


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """One arm's figures, each with its interval."""

    label: str
    versions: tuple[int, ...]
    requests: int
    users: int
    first_bucket: int | None  # seconds since the epoch
    last_bucket: int | None
    success_rate: Estimate
    cost: Estimate
    tokens_in: Estimate
    tokens_out: Estimate
    latency_ms: Estimate
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    scores: Mapping[str, Estimate] = field(hash=False)

    def estimate(self, metric: str) -> Estimate:
        if metric.startswith("score:"):
            return self.scores.get(metric[6:], Estimate(0, None, None, None))
        result: Estimate = getattr(self, metric)
        return result

    def to_data(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "versions": list(self.versions),
            "requests": self.requests,
            "users": self.users,
            "first_bucket": _iso(self.first_bucket),
            "last_bucket": _iso(self.last_bucket),
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "success_rate": self.success_rate.to_data(),
            **{measure: getattr(self, measure).to_data() for measure in MEASURES},
            "scores": {name: self.scores[name].to_data() for name in sorted(self.scores)},
        }


def summarize(
    rows: Iterable[AggregateRow] | Totals, label: str, *, alpha: float = DEFAULT_ALPHA
) -> ArmSummary:
    """One arm's figures from its rows (or their :func:`totals`)."""
    arm = rows if isinstance(rows, Totals) else totals(rows)
    return ArmSummary(
        label=label,
        versions=arm.versions,
        requests=arm.requests,
        users=round(estimate_users(arm.users_sketch)),
        first_bucket=arm.first_bucket,
        last_bucket=arm.last_bucket,
        success_rate=rate_estimate(arm.successes, arm.failures, alpha),
        cost=mean_estimate(arm.measures["cost"], alpha),
        tokens_in=mean_estimate(arm.measures["tokens_in"], alpha),
        tokens_out=mean_estimate(arm.measures["tokens_out"], alpha),
        latency_ms=mean_estimate(arm.measures["latency_ms"], alpha),
        latency_p50_ms=histogram_quantile(arm.latency_histogram, 0.5),
        latency_p95_ms=histogram_quantile(arm.latency_histogram, 0.95),
        scores=MappingProxyType(
            {name: mean_estimate(moments, alpha) for name, moments in arm.scores.items()}
        ),
    )


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """One metric of two arms: the difference candidate − baseline, its test and verdict."""

    metric: str
    test: str
    better: Direction
    baseline: Estimate
    candidate: Estimate
    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    verdict: Verdict
    reason: str

    def to_data(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "test": self.test,
            "better": self.better,
            "baseline": self.baseline.to_data(),
            "candidate": self.candidate.to_data(),
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "verdict": self.verdict,
            "reason": self.reason,
        }


def _verdict(difference: float, p_value: float, better: Direction, alpha: float) -> Verdict:
    if p_value >= alpha or difference == 0:
        return "no detectable difference"
    return "better" if (difference > 0) == (better == "higher") else "worse"


def _reason(verdict: Verdict, p_value: float, alpha: float) -> str:
    if verdict == "no detectable difference":
        return f"p = {p_value:.3g} ≥ {alpha:g}: the difference may be chance"
    return f"p = {p_value:.3g} < {alpha:g}"


def compare_rates(
    metric: str,
    baseline: tuple[int, int],
    candidate: tuple[int, int],
    *,
    alpha: float = DEFAULT_ALPHA,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    min_events: int = DEFAULT_MIN_EVENTS,
    better: Direction = "higher",
) -> MetricComparison:
    """Two (successes, failures) pairs: two-proportion z-test, Newcomb interval."""
    base = rate_estimate(*baseline, alpha=alpha)
    cand = rate_estimate(*candidate, alpha=alpha)
    short = [
        f"{label} has {n} (needs {min_sample})"
        for label, n in (("baseline", base.n), ("candidate", cand.n))
        if n < min_sample
    ] + [
        f"{label} has {count} {kind} (needs {min_events})"
        for label, (successes, failures) in (("baseline", baseline), ("candidate", candidate))
        for kind, count in (("successes", successes), ("failures", failures))
        if count < min_events
    ]
    if short:
        difference = (
            cand.value - base.value if cand.value is not None and base.value is not None else None
        )
        return MetricComparison(
            metric, RATE_TEST, better, base, cand, difference, None, None, None,
            "not enough data", "; ".join(short),
        )  # fmt: skip
    _, p_value = proportions_ztest([candidate[0], baseline[0]], [cand.n, base.n])
    low, high = confint_proportions_2indep(
        candidate[0], cand.n, baseline[0], base.n, compare="diff", alpha=alpha
    )
    assert cand.value is not None and base.value is not None
    difference = cand.value - base.value
    p = float(p_value) if math.isfinite(p_value) else (1.0 if difference == 0 else 0.0)
    verdict = _verdict(difference, p, better, alpha)
    return MetricComparison(
        metric, RATE_TEST, better, base, cand, difference, float(low), float(high), p,
        verdict, _reason(verdict, p, alpha),
    )  # fmt: skip


def compare_means(
    metric: str,
    baseline: Moments,
    candidate: Moments,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    better: Direction = "lower",
) -> MetricComparison:
    """Two sets of moments: Welch's t-test and the Welch interval of the difference."""
    base = mean_estimate(baseline, alpha)
    cand = mean_estimate(candidate, alpha)
    short = [
        f"{label} has {n} (needs {max(min_sample, 2)})"
        for label, n in (("baseline", base.n), ("candidate", cand.n))
        if n < max(min_sample, 2)
    ]
    if short:
        difference = (
            cand.value - base.value if cand.value is not None and base.value is not None else None
        )
        return MetricComparison(
            metric, MEAN_TEST, better, base, cand, difference, None, None, None,
            "not enough data", "; ".join(short),
        )  # fmt: skip
    mean_b, mean_c = baseline.mean, candidate.mean
    sd_b, sd_c = baseline.sd, candidate.sd
    assert mean_b is not None and mean_c is not None and sd_b is not None and sd_c is not None
    difference = mean_c - mean_b
    var_c, var_b = sd_c**2 / candidate.count, sd_b**2 / baseline.count
    se = math.sqrt(var_c + var_b)
    if se == 0:  # every value equal in both arms: the difference is exact
        p_value = 1.0 if difference == 0 else 0.0
        low = high = difference
    else:
        result = scipy_stats.ttest_ind_from_stats(
            mean_c, sd_c, candidate.count, mean_b, sd_b, baseline.count, equal_var=False
        )
        p_value = float(result.pvalue)
        # Welch–Satterthwaite degrees of freedom, as the test above uses.
        dof = (var_c + var_b) ** 2 / (
            var_c**2 / (candidate.count - 1) + var_b**2 / (baseline.count - 1)
        )
        half = float(scipy_stats.t.ppf(1 - alpha / 2, dof)) * se
        low, high = difference - half, difference + half
    verdict = _verdict(difference, p_value, better, alpha)
    return MetricComparison(
        metric, MEAN_TEST, better, base, cand, difference, low, high, p_value, verdict,
        _reason(verdict, p_value, alpha),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Comparison:
    """Candidate (e.g. the canary) against baseline (e.g. the active version)."""

    baseline: ArmSummary
    candidate: ArmSummary
    metrics: tuple[MetricComparison, ...]
    alpha: float
    min_sample: int
    min_events: int
    note: str = PEEKING_NOTE

    def metric(self, name: str) -> MetricComparison:
        for metric in self.metrics:
            if metric.metric == name:
                return metric
        raise KeyError(name)

    def to_data(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "confidence": 1 - self.alpha,
            "min_sample": self.min_sample,
            "min_events": self.min_events,
            "note": self.note,
            "baseline": self.baseline.to_data(),
            "candidate": self.candidate.to_data(),
            "metrics": [metric.to_data() for metric in self.metrics],
        }


def compare(
    baseline_rows: Iterable[AggregateRow],
    candidate_rows: Iterable[AggregateRow],
    *,
    baseline_label: str = "active",
    candidate_label: str = "canary",
    alpha: float = DEFAULT_ALPHA,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    min_events: int = DEFAULT_MIN_EVENTS,
) -> Comparison:
    """Compare two arms given as rows (any versions, any time range)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    base, cand = totals(baseline_rows), totals(candidate_rows)
    metrics = [
        compare_rates(
            "success_rate",
            (base.successes, base.failures),
            (cand.successes, cand.failures),
            alpha=alpha,
            min_sample=min_sample,
            min_events=min_events,
        )
    ]
    for measure in MEASURES:
        metrics.append(
            compare_means(
                measure,
                base.measures[measure],
                cand.measures[measure],
                alpha=alpha,
                min_sample=min_sample,
                better=_DIRECTIONS[measure],
            )
        )
    for name in sorted(set(base.scores) | set(cand.scores)):
        metrics.append(
            compare_means(
                f"score:{name}",
                base.scores.get(name, Moments()),
                cand.scores.get(name, Moments()),
                alpha=alpha,
                min_sample=min_sample,
                better="higher",
            )
        )
    return Comparison(
        baseline=summarize(base, baseline_label, alpha=alpha),
        candidate=summarize(cand, candidate_label, alpha=alpha),
        metrics=tuple(metrics),
        alpha=alpha,
        min_sample=min_sample,
        min_events=min_events,
    )


# -- fixed-horizon plan --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """The sample each arm needs before reading the verdict, decided in advance."""

    kind: Literal["rate", "mean"]
    baseline: float  # the baseline rate, or the standard deviation of the measure
    minimum_effect: float  # the smallest absolute difference worth detecting
    alpha: float
    power: float
    candidate_share: float  # share of traffic the candidate gets (the canary percent)
    baseline_n: int
    candidate_n: int

    @property
    def total(self) -> int:
        return self.baseline_n + self.candidate_n

    def to_data(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "baseline": self.baseline,
            "minimum_effect": self.minimum_effect,
            "alpha": self.alpha,
            "power": self.power,
            "candidate_share": self.candidate_share,
            "baseline_n": self.baseline_n,
            "candidate_n": self.candidate_n,
            "total": self.total,
        }


def _check_plan(alpha: float, power: float, share: float, effect: float) -> float:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be between 0 and 1")
    if not 0 < share < 1:
        raise ValueError(f"the candidate's share of traffic must be between 0 and 1, not {share}")
    if effect == 0 or not math.isfinite(effect):
        raise ValueError("the minimum effect must be a non-zero number")
    return share / (1 - share)  # candidate_n / baseline_n


def _plan_sizes(baseline_n: Any, ratio: float) -> tuple[int, int]:
    n = float(baseline_n)
    return math.ceil(n), math.ceil(n * ratio)


def plan_rate(
    baseline_rate: float,
    minimum_effect: float,
    *,
    alpha: float = DEFAULT_ALPHA,
    power: float = 0.8,
    candidate_share: float = 0.5,
) -> Plan:
    """Sample per arm to detect a success rate moving by ``minimum_effect`` (absolute)."""
    ratio = _check_plan(alpha, power, candidate_share, minimum_effect)
    target = baseline_rate + minimum_effect
    if not 0 < baseline_rate < 1 or not 0 < target < 1:
        raise ValueError("the baseline rate and the rate to detect must be between 0 and 1")
    effect = abs(proportion_effectsize(target, baseline_rate))
    # nobs1 is the baseline arm; the candidate gets ratio * nobs1.
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio)
    baseline_n, candidate_n = _plan_sizes(n, ratio)
    return Plan(
        "rate", baseline_rate, minimum_effect, alpha, power, candidate_share, baseline_n,
        candidate_n,
    )  # fmt: skip


def plan_mean(
    sd: float,
    minimum_effect: float,
    *,
    alpha: float = DEFAULT_ALPHA,
    power: float = 0.8,
    candidate_share: float = 0.5,
) -> Plan:
    """Sample per arm to detect a mean moving by ``minimum_effect`` (absolute), given ``sd``."""
    ratio = _check_plan(alpha, power, candidate_share, minimum_effect)
    if not sd > 0:
        raise ValueError("the standard deviation must be positive")
    effect = abs(minimum_effect) / sd
    n = TTestIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio)
    baseline_n, candidate_n = _plan_sizes(n, ratio)
    return Plan("mean", sd, minimum_effect, alpha, power, candidate_share, baseline_n, candidate_n)
