"""Deterministic outcomes for customer-support (active v5, canary v6 at 10 %), for the
stats CLI and the experiment and monitor views: same figures on every run."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from promptdeck.metrics.aggregate import Aggregate
from promptdeck.metrics.outcome import Outcome
from promptdeck.pricing import PriceTable
from promptdeck.store import PromptStore

FEATURE = "customer-support"
START = int(datetime(2026, 11, 24, 9, 0, tzinfo=UTC).timestamp())
HOURS = 48


def add_outcomes(
    store: PromptStore, *, start: int = START, per_hour: int = 60, canary_share: float = 0.1
) -> None:
    """Two days of outcomes: v5 succeeds 85 % of the time, v6 (the canary) 93 %;
    v6 answers longer (more tokens out, higher cost)."""
    uids = {summary.number: summary.uid for summary in store.versions(FEATURE)}
    rng = random.Random(20261124)
    # The cost from the price table, as the runtime computes it.
    aggregate = Aggregate(max_keys=100_000, cost_of=PriceTable.default().cost)
    for hour in range(HOURS):
        for index in range(per_hour):
            canary = rng.random() < canary_share
            version = 6 if canary else 5
            tokens_out = rng.randint(150, 350) if canary else rng.randint(100, 300)
            aggregate.add(
                Outcome(
                    feature=FEATURE,
                    environment="production",
                    version=version,
                    version_uid=uids[version],
                    model="claude-sonnet-4-20250514",
                    tokens_in=rng.randint(800, 1200),
                    tokens_out=tokens_out,
                    latency_ms=rng.lognormvariate(6.6 if canary else 6.5, 0.3),
                    cost=None,
                    success=rng.random() < (0.93 if canary else 0.85),
                    scores={"grader": min(1.0, max(0.0, rng.gauss(0.75 if canary else 0.7, 0.1)))},
                    user_id=f"user-{rng.randint(0, 5000)}",
                    at=start + hour * 3600 + index * (3600 // per_hour),
                ),
                START,
            )
    store.metrics.add(aggregate.rows())
