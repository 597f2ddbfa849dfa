"""What the store hands out about checks: suite revisions and stored runs. Pure.

A suite revision is one saved state of a feature's suite (its body is the canonical
data of ``suite_to_data``); a stored run is one run of a suite against a version,
immutable once written (its ``results`` is ``SuiteRun.to_data()``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from promptdeck.checks.suite import Suite, parse_suite, suite_to_data

CheckState = Literal["passed", "failed", "error", "not run"]


def canonical_suite(data: object, source: str = "") -> dict[str, object]:
    """The suite's canonical data (parsed, validated, written back): what is stored."""
    return suite_to_data(parse_suite(data, source))


def suite_hash(body: Mapping[str, object]) -> str:
    """The content hash of a canonical suite body (key order does not matter)."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SuiteRevision:
    feature: str
    number: int
    uid: str
    body: Mapping[str, Any]
    content_hash: str
    author: str
    reason: str
    created_at: datetime

    @property
    def suite(self) -> Suite:
        return parse_suite(self.body, f"{self.feature} suite #{self.number}")


@dataclass(frozen=True, slots=True)
class CheckRun:
    """One stored run of a suite against a version."""

    uid: str
    feature: str
    version: int
    suite_uid: str | None
    model: str
    status: str  # passed | failed | error
    runner: str
    started_at: datetime
    finished_at: datetime
    summary: Mapping[str, Any]
    results: Mapping[str, Any]

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def describe(self) -> str:
        """One line: ``passed 7/7 cases (2026-11-29 20:31, by alice)``."""
        cases = self.summary.get("cases", 0)
        passed = self.summary.get("cases_passed", 0)
        when = self.finished_at.strftime("%Y-%m-%d %H:%M")
        return f"{self.status} {passed}/{cases} cases ({when}, by {self.runner})"
