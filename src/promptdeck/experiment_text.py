"""Comparison figures as short text, for the ``stats`` command and the experiment view.

Pure: no Click, no Textual. Rates show as percent (differences in points), other
figures with four significant digits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: metrics.stats loads SciPy and statsmodels (~1 s)
    from promptdeck.metrics.stats import Estimate, MetricComparison

__all__ = [
    "compact_difference",
    "compact_estimate",
    "difference_text",
    "estimate_text",
    "metric_name",
]

_NAMES = {
    "success_rate": "success rate",
    "cost": "mean cost (USD)",
    "tokens_in": "mean tokens in",
    "tokens_out": "mean tokens out",
    "latency_ms": "mean latency (ms)",
}


def metric_name(metric: str) -> str:
    return f"score {metric[6:]}" if metric.startswith("score:") else _NAMES.get(metric, metric)


def _number(value: float | None, metric: str, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    if metric == "success_rate":
        return f"{value * 100:+.1f} pts" if signed else f"{value * 100:.1f} %"
    text = f"{value:+.4g}" if signed else f"{value:.4g}"
    return text


def compact_estimate(estimate: Estimate, metric: str) -> str:
    """``91.0 % [90.4, 91.6]`` for a rate; ``0.00677 ±0.00011`` for a mean (its t
    interval is symmetric): narrow enough for two arms side by side."""
    if estimate.value is None or estimate.low is None or estimate.high is None:
        return estimate_text(estimate, metric)
    if metric == "success_rate":
        return estimate_text(estimate, metric)
    return f"{estimate.value:.4g} ±{(estimate.high - estimate.low) / 2:.2g}"


def compact_difference(metric: MetricComparison) -> str:
    """The difference with its interval (``±`` for a Welch interval), in one cell."""
    if metric.difference is None:
        return "-"
    if metric.low is None or metric.high is None:
        return _number(metric.difference, metric.metric, signed=True)
    if metric.metric == "success_rate":
        return " ".join(difference_text(metric))
    return f"{metric.difference:+.3g} ±{(metric.high - metric.low) / 2:.2g}"


def estimate_text(estimate: Estimate, metric: str) -> str:
    """``91.0 % [90.4, 91.6]``: the value and its interval."""
    if estimate.value is None:
        return "no data"
    shown = _number(estimate.value, metric)
    if estimate.low is None or estimate.high is None:
        return shown
    if metric == "success_rate":
        return f"{shown} [{estimate.low * 100:.1f}, {estimate.high * 100:.1f}]"
    return f"{shown} [{estimate.low:.4g}, {estimate.high:.4g}]"


def difference_text(metric: MetricComparison) -> tuple[str, str]:
    """The difference and its interval, as two cells."""
    difference = _number(metric.difference, metric.metric, signed=True)
    if metric.low is None or metric.high is None:
        return difference, "-"
    if metric.metric == "success_rate":
        return difference, f"[{metric.low * 100:+.1f}, {metric.high * 100:+.1f}]"
    return difference, f"[{metric.low:+.4g}, {metric.high:+.4g}]"
