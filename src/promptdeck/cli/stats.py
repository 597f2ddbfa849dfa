"""``promptdeck stats``: the canary (or any two versions) compared, with honest statistics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from promptdeck.cli.common import ENV_OPTION, JSON_OPTION, CliState, emit_json, fail, table
from promptdeck.experiment_text import difference_text, estimate_text, metric_name

if TYPE_CHECKING:
    from promptdeck.experiment import Arms
    from promptdeck.metrics.stats import Comparison, Plan

METRIC_CHOICES = ("success_rate", "cost", "tokens_in", "tokens_out", "latency_ms")


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "the start"


def render_comparison(arms: Arms, comparison: Comparison) -> str:
    base, cand = comparison.baseline, comparison.candidate
    share = f" ({arms.canary_percent} % of users)" if arms.canary_percent else ""
    until = f" until {_when(arms.until)}" if arms.until else ""
    lines = [
        f"{arms.feature} in {arms.environment}: {base.label} against {cand.label}{share}, "
        f"from {_when(arms.since)}{until}",
        "",
    ]
    confidence = f"{(1 - comparison.alpha) * 100:g} %"
    rows = [
        ["requests", str(base.requests), str(cand.requests)],
        ["users (estimate)", f"~{base.users}", f"~{cand.users}"],
    ]
    for metric in comparison.metrics:
        rows.append(
            [
                metric_name(metric.metric),
                estimate_text(metric.baseline, metric.metric),
                estimate_text(metric.candidate, metric.metric),
            ]
        )
        if metric.metric == "latency_ms":
            rows.append(
                [
                    "latency p50 / p95 (ms)",
                    _quantiles(base.latency_p50_ms, base.latency_p95_ms),
                    _quantiles(cand.latency_p50_ms, cand.latency_p95_ms),
                ]
            )
    lines.append(table(rows, ["", base.label, cand.label]))
    lines.append("")
    verdicts = []
    for metric in comparison.metrics:
        difference, interval = difference_text(metric)
        p_value = "-" if metric.p_value is None else f"{metric.p_value:.3g}"
        verdicts.append([metric_name(metric.metric), difference, interval, p_value, metric.verdict])
    lines.append(
        table(
            verdicts,
            ["metric", f"{cand.label} − {base.label}", f"{confidence} interval", "p", "verdict"],
        )
    )
    lines += [
        "",
        f"Tests: success rate by the two-proportion z-test (Wilson interval per arm, "
        f"Newcomb's for the difference); means by Welch's t-test. No verdict before "
        f"{comparison.min_sample} per arm (and {comparison.min_events} successes and "
        f"failures each for the rate).",
        "",
        f"Note: {comparison.note}",
    ]
    return "\n".join(lines)


def _quantiles(p50: float | None, p95: float | None) -> str:
    if p50 is None or p95 is None:
        return "no data"
    return f"{p50:.0f} / {p95:.0f}"


def render_plan(plan: Plan, metric: str) -> str:
    what = (
        f"a success rate of {plan.baseline * 100:.1f} % "
        f"moving by {plan.minimum_effect * 100:+.1f} pts"
        if plan.kind == "rate"
        else f"{metric_name(metric)} (sd {plan.baseline:.4g}) moving by {plan.minimum_effect:+.4g}"
    )
    return (
        f"Plan: to detect {what} with {plan.power * 100:g} % power at alpha {plan.alpha:g}, "
        f"with the candidate getting {plan.candidate_share * 100:g} % of traffic: "
        f"{plan.baseline_n} requests in the baseline and {plan.candidate_n} in the candidate "
        f"({plan.total} in all). Read the verdict once both arms have reached them."
    )


@click.command()
@click.argument("feature")
@ENV_OPTION
@click.option("--since", metavar="7d|ISO", help="From (a duration back from now, or a time).")
@click.option("--until", metavar="7d|ISO", help="Until (default: now).")
@click.option(
    "--versions",
    nargs=2,
    type=click.IntRange(min=1),
    metavar="A B",
    help="Compare version B against version A instead of the canary against the active.",
)
@click.option("--plan", "want_plan", is_flag=True, help="Also print a fixed-horizon plan.")
@click.option("--mde", type=float, help="The plan's minimum detectable effect (absolute).")
@click.option(
    "--power",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.8,
    show_default=True,
)
@click.option(
    "--metric",
    type=click.Choice(METRIC_CHOICES),
    default="success_rate",
    show_default=True,
    help="The metric the plan is for.",
)
@JSON_OPTION
@click.pass_obj
def stats(
    state: CliState,
    feature: str,
    environment: str,
    since: str | None,
    until: str | None,
    versions: tuple[int, int] | None,
    want_plan: bool,
    mde: float | None,
    power: float,
    metric: str,
    as_json: bool,
) -> None:
    """Compare a feature's canary with its active version (or two versions).

    Per arm: requests, users, success rate, mean cost, tokens, latency (p50/p95) and
    each score, with 95 % intervals; then the difference, its interval and a verdict
    per metric. Read the note on peeking before acting on a verdict.
    """
    from promptdeck.experiment import arms_for, compare_arms, parse_time, plan_for

    if want_plan and mde is None:
        fail("--plan needs --mde (the smallest difference worth detecting, e.g. 0.02)")
    now = datetime.now(UTC)
    since_at = parse_time(since, now) if since else None
    until_at = parse_time(until, now) if until else None
    if since_at and until_at and since_at >= until_at:
        fail("--since must be before --until")
    store = state.store()
    arms = arms_for(
        store,
        feature,
        environment,
        versions=tuple(versions) if versions else None,  # type: ignore[arg-type]
        since=since_at,
        until=until_at,
    )
    comparison = compare_arms(store, arms)
    plan = None
    if want_plan:
        assert mde is not None
        try:
            plan = plan_for(store, arms, metric, mde, power=power)
        except ValueError as exc:
            fail(f"cannot plan: {exc}")
    if as_json:
        data: dict[str, Any] = {
            "feature": arms.feature,
            "environment": arms.environment,
            "since": arms.since.isoformat() if arms.since else None,
            "until": arms.until.isoformat() if arms.until else None,
            "canary_percent": arms.canary_percent,
            **comparison.to_data(),
        }
        if plan is not None:
            data["plan"] = {"metric": metric, **plan.to_data()}
        emit_json(data)
        return
    click.echo(render_comparison(arms, comparison))
    if plan is not None:
        click.echo("")
        click.echo(render_plan(plan, metric))
