"""``promptdeck stats``: text and --json, the canary by default, any two versions, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from experiment_data import FEATURE, START, add_outcomes

from promptdeck.cli.app import main
from promptdeck.store import PromptStore


@pytest.fixture
def db(store_path: Path) -> str:
    with PromptStore(store_path, user="alice") as store:
        add_outcomes(store)
    return str(store_path)


def stats(db: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db, "stats", *args])


def test_the_canary_against_the_active_version_as_text(db: str) -> None:
    result = stats(db, FEATURE)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "active v5 against canary v6 (10 % of users)" in out
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    assert lines["success rate"].split()[-1] == "better"  # 93 % against 85 %
    assert lines["mean tokens out"].split()[-1] == "worse"  # longer answers
    assert lines["mean cost (USD)"].split()[-1] == "worse"
    assert "two-proportion z-test" in out and "Welch's t-test" in out
    assert "peeking" not in out.lower() or "Note:" in out
    assert "Note: These intervals and verdicts assume one look" in out


def test_json_is_the_documented_shape(db: str) -> None:
    result = stats(db, FEATURE, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["feature"] == FEATURE and data["canary_percent"] == 10
    assert data["baseline"]["label"] == "active v5"
    assert data["candidate"]["versions"] == [6]
    total = data["baseline"]["requests"] + data["candidate"]["requests"]
    assert total == 48 * 60
    metrics = {m["metric"]: m for m in data["metrics"]}
    assert list(metrics) == [
        "success_rate", "cost", "tokens_in", "tokens_out", "latency_ms", "score:grader",
    ]  # fmt: skip
    rate = metrics["success_rate"]
    assert rate["test"] == "two-proportion z-test" and rate["verdict"] == "better"
    assert rate["low"] < rate["difference"] < rate["high"]
    assert metrics["cost"]["test"] == "Welch's t-test"


def test_two_versions_over_a_time_range(db: str) -> None:
    first_day = f"{START + 24 * 3600}"
    from datetime import UTC, datetime

    until = datetime.fromtimestamp(int(first_day), UTC).isoformat()
    since = datetime.fromtimestamp(START, UTC).isoformat()
    result = stats(
        db, FEATURE, "--versions", "5", "6", "--since", since, "--until", until, "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["baseline"]["label"] == "v5" and data["canary_percent"] is None
    assert data["baseline"]["requests"] + data["candidate"]["requests"] == 24 * 60


def test_a_plan_for_the_chosen_effect(db: str) -> None:
    result = stats(db, FEATURE, "--plan", "--mde", "0.02", "--json")
    plan = json.loads(result.stdout)["plan"]
    assert plan["metric"] == "success_rate" and plan["candidate_share"] == 0.1
    assert plan["candidate_n"] < plan["baseline_n"]  # 10 % of the traffic
    text = stats(db, FEATURE, "--plan", "--mde", "5", "--metric", "tokens_out").stdout
    assert "Plan: to detect mean tokens out" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summarizer"], "summarizer has no canary in production; compare two versions"),
        ([FEATURE, "--since", "yesterday"], "not a time: 'yesterday'"),
        ([FEATURE, "--versions", "5", "99"], "customer-support has no version 99"),
        ([FEATURE, "--plan"], "--plan needs --mde"),
        ([FEATURE, "--since", "1d", "--until", "2d"], "--since must be before --until"),
        ([FEATURE, "--plan", "--mde", "0.5"], "cannot plan"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(db: str, args: list[str], message: str) -> None:
    result = stats(db, *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
