"""Run a feature's current suite against one of its versions and store the run.

What the CLI (``promptdeck check``) and the app's checks view share: find the version
and the suite, read the provider and price settings from the config file, run, then
record the run in one unit of work. A run that is cancelled or interrupted raises
RunCancelled before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from promptdeck.checks.records import CheckRun, SuiteRevision
from promptdeck.checks.runner import (
    DEFAULT_CONCURRENCY,
    CancelToken,
    ProgressCallback,
    SuiteRun,
    Target,
    run_suite_blocking,
)
from promptdeck.errors import ValidationError
from promptdeck.records import Version

if TYPE_CHECKING:
    from promptdeck.store import PromptStore, VersionRef


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """A version and the suite it is to be run against."""

    version: Version
    suite: SuiteRevision

    @property
    def target(self) -> Target:
        return Target(
            system_prompt=self.version.system_prompt,
            model=self.version.model,
            parameters=dict(self.version.parameters),
            feature=self.version.feature,
            version=self.version.number,
        )


def plan(store: PromptStore, feature: str, ref: VersionRef, environment: str) -> PlannedRun:
    """The version ``ref`` of ``feature`` and its current suite (ValidationError if none)."""
    store.checks.require_recorder()
    version = store.version(feature, ref, environment)
    suite = store.checks.suite(feature)
    if suite is None:
        raise ValidationError(
            f"{feature} has no suite: add one with "
            f"`promptdeck suite set {feature} --file SUITE.yaml --reason ...`"
        )
    return PlannedRun(version, suite)


def plan_all(store: PromptStore, environment: str) -> Iterator[PlannedRun | str]:
    """The nightly set: every feature's active version in ``environment`` and every
    newer one (the latest when none is active); a line for each feature without a suite."""
    store.checks.require_recorder()
    for summary in store.features(environment):
        suite = store.checks.suite(summary.name)
        if suite is None:
            yield f"{summary.name}: no suite, skipped"
            continue
        active = summary.active
        numbers = [v.number for v in store.versions(summary.name)]  # newest first
        chosen = [n for n in numbers if n >= active] if active is not None else numbers[:1]
        for number in sorted(chosen):
            yield PlannedRun(store.version(summary.name, number), suite)


def run_and_record(
    store: PromptStore,
    planned: PlannedRun,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[SuiteRun, CheckRun]:
    """Run ``planned`` with the configured providers and prices, then store the run."""
    from promptdeck.checks.providers import load_providers_config
    from promptdeck.config import load_price_table

    run = run_suite_blocking(
        planned.target,
        planned.suite.suite,
        providers=load_providers_config(),
        prices=load_price_table(),
        concurrency=concurrency,
        on_progress=on_progress,
        cancel=cancel,
    )
    stored = store.checks.record_run(
        planned.version.feature, planned.version.number, run, suite_uid=planned.suite.uid
    )
    return run, stored
