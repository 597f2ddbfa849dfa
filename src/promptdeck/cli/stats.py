"""``promptdeck stats``: the canary (or any two versions) compared, with honest statistics."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from promptdeck.cli.common import ENV_OPTION, JSON_OPTION, CliState, emit_json, fail, table
from promptdeck.experiment_text import difference_text, estimate_text, metric_name

if TYPE_CHECKING:
    from promptdeck.experiment import Arms, Monitor
    from promptdeck.metrics.stats import Comparison, Plan

METRIC_CHOICES = ("success_rate", "cost", "tokens_in", "tokens_out", "latency_ms")
SERIES_SINCE = timedelta(days=7)  # --series without --since
MAX_STEPS = 100_000  # --series: steps in the range, at most (the output stays sane)
MAX_STEP = 52 * 7 * 86400  # one step at most (a wider one is a typo)
_STEP = re.compile(r"([0-9]{1,9})([mhdw])")  # ASCII digits: "٣h" is no step
_STEP_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _step_seconds(text: str) -> int:
    """``15m``, ``1h``, ``6h``, ``1d``, ``1w``: whole minutes, the metric buckets' width."""
    match = _STEP.fullmatch(text.strip().lower())
    seconds = int(match.group(1)) * _STEP_UNITS[match.group(2)] if match else 0
    if not 1 <= seconds <= MAX_STEP:
        shown = text if len(text) <= 20 else text[:20] + "..."
        fail(
            f"not a step: {shown!r} (use whole minutes, hours, days or weeks, "
            "up to 52w: 15m, 1h, 1d)"
        )
    return seconds


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


def _minute(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def _number(value: float | None, digits: str) -> str:
    return "-" if value is None else format(value, digits)


def monitor_data(view: Monitor) -> dict[str, Any]:
    """``stats --series --json``: the README documents this shape."""
    return {
        "feature": view.feature,
        "environment": view.environment,
        "since": view.since.isoformat(),
        "until": view.until.isoformat(),
        "step_seconds": view.step_seconds,
        "points": [point.to_data() for point in view.points],
        "moves": [
            {
                "at": marker.at.astimezone(UTC).isoformat(),
                "action": marker.action,
                "version": marker.version,
                "actor": marker.actor,
                "reason": marker.reason,
            }
            for marker in view.markers
        ],
    }


def render_monitor(view: Monitor) -> str:
    step = view.step_seconds
    width = (
        f"{step // 86400}d"
        if step % 86400 == 0
        else (f"{step // 3600}h" if step % 3600 == 0 else f"{step // 60}m")
    )
    lines = [
        f"{view.feature} in {view.environment}, {_when(view.since)} to {_when(view.until)}, "
        f"per {width} (UTC)",
        "",
    ]
    if not view.points:
        lines.append("No outcomes recorded in this range.")
    else:
        rows = [
            [
                _minute(datetime.fromtimestamp(point.start, UTC)),
                f"v{point.version}",
                str(point.requests),
                "-" if point.success_rate is None else f"{point.success_rate * 100:.1f} %",
                _number(point.cost, ".4g"),
                f"{_number(point.latency_p50_ms, '.0f')} / {_number(point.latency_p95_ms, '.0f')}",
                f"~{point.users}",
            ]
            for point in view.points
        ]
        lines.append(
            table(
                rows,
                ["start", "version", "requests", "success", "cost", "p50 / p95 ms", "users"],
            )
        )
    if view.markers:
        lines += ["", "Moves:"]
        lines.append(
            table(
                [
                    [_minute(marker.at), marker.label, marker.actor, marker.reason]
                    for marker in view.markers
                ],
                ["at", "move", "by", "reason"],
            )
        )
    return "\n".join(lines)


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
@click.option(
    "--series",
    is_flag=True,
    help="Metrics over time instead: per step and version, with the moves between.",
)
@click.option(
    "--step",
    default="1h",
    show_default=True,
    metavar="15m|1h|1d",
    help="With --series: the width of one step.",
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
    series: bool,
    step: str,
    as_json: bool,
) -> None:
    """Compare a feature's canary with its active version (or two versions).

    Per arm: requests, users, success rate, mean cost, tokens, latency (p50/p95) and
    each score, with 95 % intervals; then the difference, its interval and a verdict
    per metric. Read the note on peeking before acting on a verdict.

    With --series: per --step (from --since, 7 days back by default) and version,
    requests, success rate, cost, latency p50/p95 and users, and the activations,
    rollbacks, promotions and canary moves between (what the app's monitor charts).
    """
    from promptdeck.experiment import arms_for, compare_arms, monitor, parse_time, plan_for

    if want_plan and mde is None:
        fail("--plan needs --mde (the smallest difference worth detecting, e.g. 0.02)")
    if series and (want_plan or versions):
        fail("--series shows every version over time: it takes no --versions or --plan")
    now = datetime.now(UTC)
    since_at = parse_time(since, now) if since else None
    until_at = parse_time(until, now) if until else None
    if since_at and until_at and since_at >= until_at:
        fail("--since must be before --until")
    store = state.store()
    if series:
        step_seconds = _step_seconds(step)
        end = until_at or now
        try:
            start = since_at or end - SERIES_SINCE
        except OverflowError:  # --until in the first week of the year 1
            fail("--until is too early for the default --since: give --since too")
        if start >= end:
            fail("--since must be before --until")
        if (end - start).total_seconds() / step_seconds > MAX_STEPS:
            fail(f"more than {MAX_STEPS:,} steps in that range: use a wider --step")
        view = monitor(
            store, feature, environment, since=start, until=end, step_seconds=step_seconds
        )
        if as_json:
            emit_json(monitor_data(view))
        else:
            click.echo(render_monitor(view))
        return
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
