"""Experiments as the CLI and the app show them: which two arms, over which time, compared.

Reads through the store's public API (deployments, versions, history, ``store.metrics``)
and hands the figures to the pure :mod:`promptdeck.metrics.stats` and
:mod:`promptdeck.metrics.series`. No Textual, no Click.

- For a feature with a canary, the arms are the active version (baseline) and the
  canary (candidate), from when the current canary began (the oldest of the unbroken
  run of ``canary`` events for that version) unless a time range is given.
- ``versions=(a, b)`` compares any two versions (a is the baseline) over any range.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from promptdeck.errors import ValidationError
from promptdeck.metrics.aggregate import AggregateRow
from promptdeck.metrics.series import Point, series
from promptdeck.metrics.stats import Comparison, Plan, compare, plan_mean, plan_rate, totals
from promptdeck.records import AuditEvent
from promptdeck.store import PromptStore

__all__ = [
    "Arms",
    "Marker",
    "Monitor",
    "arms_for",
    "compare_arms",
    "markers",
    "monitor",
    "parse_time",
    "plan_for",
]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Audit actions that move what a version serves: marked on the monitor's time axis.
MARKED_ACTIONS = ("activate", "rollback", "promote", "canary", "canary-off")


class NoCanaryError(ValidationError):
    """The feature runs no canary in the environment: nothing to compare by default."""


def parse_time(text: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` (that long before ``now``) or an ISO date
    or time (UTC unless it says otherwise)."""
    match = _DURATION.match(text)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        try:
            return now - timedelta(**{unit: amount})
        except OverflowError:  # further back than the year 1
            raise ValidationError(f"not a time: {text!r} (too far back)") from None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"not a time: {text!r} (use a duration such as 7d, 12h, 30m, or an ISO date)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Arms:
    """The two arms of a comparison: version numbers and uids, and the time range."""

    feature: str
    environment: str
    baseline: int
    baseline_uid: str
    candidate: int
    candidate_uid: str
    since: datetime | None
    until: datetime | None
    canary_percent: int | None  # the canary's share of users, when comparing a canary

    @property
    def baseline_label(self) -> str:
        return f"active v{self.baseline}" if self.canary_percent else f"v{self.baseline}"

    @property
    def candidate_label(self) -> str:
        return f"canary v{self.candidate}" if self.canary_percent else f"v{self.candidate}"


def _canary_start(history: Sequence[AuditEvent], environment: str, canary: int) -> datetime | None:
    start = None
    for event in history:  # newest first, as store.history() gives them
        if event.environment != environment:
            continue
        if event.action == "canary" and event.to_version == canary:
            start = event.at
        else:
            break
    return start


def arms_for(
    store: PromptStore,
    feature: str,
    environment: str,
    *,
    versions: tuple[int, int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Arms:
    """The arms to compare (ValidationError saying why when there are none)."""
    uids = {summary.number: summary.uid for summary in store.versions(feature)}
    if versions is not None:
        for number in versions:
            if number not in uids:
                raise ValidationError(f"{feature} has no version {number}")
        if versions[0] == versions[1]:
            raise ValidationError("compare two different versions")
        baseline, candidate = versions
        percent = None
    else:
        deployment = store.deployment(feature, environment)
        if deployment.canary is None or deployment.active is None:
            raise NoCanaryError(
                f"{feature} has no canary in {environment}; "
                "compare two versions with --versions A B"
            )
        baseline, candidate, percent = (
            deployment.active,
            deployment.canary,
            deployment.canary_percent,
        )
        if since is None:
            since = _canary_start(store.history(feature), environment, candidate)
    return Arms(
        feature, environment, baseline, uids[baseline], candidate, uids[candidate],
        since, until, percent,
    )  # fmt: skip


def _epoch(value: datetime | None, *, floor: bool) -> int | None:
    if value is None:
        return None
    seconds = value.timestamp()
    # Buckets are a minute wide: include the minute ``since`` falls in.
    return int(seconds // 60 * 60) if floor else int(seconds)


def arm_rows(store: PromptStore, arms: Arms) -> tuple[list[AggregateRow], list[AggregateRow]]:
    rows = store.metrics.rows(
        arms.feature,
        environment=arms.environment,
        version_uids=[arms.baseline_uid, arms.candidate_uid],
        since=_epoch(arms.since, floor=True),
        until=_epoch(arms.until, floor=False),
    )
    return (
        [row for row in rows if row.version_uid == arms.baseline_uid],
        [row for row in rows if row.version_uid == arms.candidate_uid],
    )


def compare_arms(store: PromptStore, arms: Arms, *, alpha: float = 0.05) -> Comparison:
    baseline, candidate = arm_rows(store, arms)
    return compare(
        baseline,
        candidate,
        baseline_label=arms.baseline_label,
        candidate_label=arms.candidate_label,
        alpha=alpha,
    )


def plan_for(
    store: PromptStore,
    arms: Arms,
    metric: str,
    minimum_effect: float,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
) -> Plan:
    """A fixed-horizon plan for ``metric``, its baseline (the rate, or the spread of a
    mean) measured on the baseline arm; the candidate's share is the canary's percent
    (half for two versions). ValidationError when the baseline has no data for it."""
    baseline_rows, _ = arm_rows(store, arms)
    arm = totals(baseline_rows)
    share = arms.canary_percent / 100 if arms.canary_percent else 0.5
    if metric == "success_rate":
        decided = arm.successes + arm.failures
        if not decided:
            raise ValidationError("the plan needs the baseline's success rate: none reported yet")
        return plan_rate(
            arm.successes / decided,
            minimum_effect,
            alpha=alpha,
            power=power,
            candidate_share=share,
        )
    moments = (
        arm.scores.get(metric[6:]) if metric.startswith("score:") else arm.measures.get(metric)
    )
    sd = moments.sd if moments is not None else None
    if not sd:
        raise ValidationError(
            f"the plan needs the spread of {metric} in the baseline: not enough data"
        )
    return plan_mean(sd, minimum_effect, alpha=alpha, power=power, candidate_share=share)


# -- the monitor -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Marker:
    """A pointer move on the time axis: ``activate v6``, ``rollback v5``..."""

    at: datetime
    action: str
    version: int | None
    actor: str
    reason: str

    @property
    def label(self) -> str:
        return f"{self.action} v{self.version}" if self.version is not None else self.action


@dataclass(frozen=True, slots=True)
class Monitor:
    """One feature's metrics over time in one environment, and the moves between."""

    feature: str
    environment: str
    since: datetime
    until: datetime
    step_seconds: int
    points: tuple[Point, ...]
    markers: tuple[Marker, ...]


def markers(
    history: Sequence[AuditEvent], environment: str, since: datetime, until: datetime
) -> list[Marker]:
    return sorted(
        (
            Marker(event.at, event.action, event.to_version, event.actor, event.reason)
            for event in history
            if event.environment == environment
            and event.action in MARKED_ACTIONS
            and since <= event.at < until
        ),
        key=lambda marker: marker.at,
    )


def monitor(
    store: PromptStore,
    feature: str,
    environment: str,
    *,
    since: datetime,
    until: datetime,
    step_seconds: int = 3600,
) -> Monitor:
    """Per version and step, from ``store.metrics``; moves from the audit history."""
    rows = store.metrics.rows(
        feature,
        environment=environment,
        since=_epoch(since, floor=True),
        until=_epoch(until, floor=False),
    )
    return Monitor(
        feature=feature,
        environment=environment,
        since=since,
        until=until,
        step_seconds=step_seconds,
        points=tuple(series(rows, step_seconds=step_seconds)),
        markers=tuple(markers(store.history(feature), environment, since, until)),
    )
