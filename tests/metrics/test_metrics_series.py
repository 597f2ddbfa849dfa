"""Metrics over time per version, for the monitor view."""

from __future__ import annotations

import json

import pytest

from promptdeck.metrics.aggregate import Aggregate
from promptdeck.metrics.outcome import Outcome
from promptdeck.metrics.series import series


def test_steps_per_version_show_a_change_that_doubled_the_cost() -> None:
    aggregate = Aggregate()
    hour = 3600
    for minute in range(0, 180, 5):  # three hours; version 2 takes over in hour 2
        at = float(minute * 60)
        version, uid, cost = (1, "u1", 0.01) if minute < 120 else (2, "u2", 0.02)
        for user in range(4):
            aggregate.add(
                Outcome("f", "production", version, uid, cost=cost, latency_ms=800.0,
                        success=user != 0, scores={"grader": 0.5}, user_id=str(user)),
                at=at,
            )  # fmt: skip
    points = series(aggregate.rows(), step_seconds=hour)
    assert [(p.start, p.version, p.requests) for p in points] == [
        (0, 1, 48), (hour, 1, 48), (2 * hour, 2, 48)
    ]  # fmt: skip
    assert [p.cost for p in points] == pytest.approx([0.01, 0.01, 0.02])
    assert points[0].success_rate == 0.75
    assert points[0].users == 4
    assert points[0].latency_p50_ms == pytest.approx(800, rel=0.02)
    assert points[0].scores == {"grader": 0.5}
    data = json.loads(json.dumps([p.to_data() for p in points], allow_nan=False))
    assert data[2]["start"] == "1970-01-01T02:00:00+00:00"
    with pytest.raises(ValueError):
        series([], step_seconds=0)
