"""``promptdeck stats``: text and --json, the canary by default, any two versions, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
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


SINCE = datetime.fromtimestamp(START, UTC).isoformat()
UNTIL = datetime.fromtimestamp(START + 48 * 3600, UTC).isoformat()


def test_series_per_step_and_version_as_json(db: str) -> None:
    result = stats(db, FEATURE, "--series", "--since", SINCE, "--until", UNTIL, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["feature"] == FEATURE and data["environment"] == "production"
    assert data["step_seconds"] == 3600 and data["since"] == SINCE and data["until"] == UNTIL
    points = data["points"]
    assert sum(point["requests"] for point in points) == 48 * 60  # every outcome, once
    assert {point["version"] for point in points} == {5, 6}
    starts = sorted({point["start"] for point in points})
    assert len(starts) == 48 and starts[0] == SINCE  # one step an hour
    assert [(p["start"], p["version"]) for p in points] == sorted(
        (p["start"], p["version"]) for p in points
    )
    keys = {
        "start", "version", "version_uid", "requests", "success_rate", "cost", "tokens_in",
        "tokens_out", "latency_ms", "latency_p50_ms", "latency_p95_ms", "users", "scores",
    }  # fmt: skip
    assert all(set(point) == keys for point in points)
    canary = [p for p in points if p["version"] == 6]
    active = [p for p in points if p["version"] == 5]
    mean = lambda ps, k: sum(p[k] * p["requests"] for p in ps) / sum(p["requests"] for p in ps)  # noqa: E731
    assert mean(canary, "success_rate") > mean(active, "success_rate")  # 93 % against 85 %
    assert mean(canary, "tokens_out") > mean(active, "tokens_out")
    assert data["moves"] == []  # the sample's moves were made before this range


def test_series_wider_steps_add_up_and_moves_are_on_the_axis(db: str) -> None:
    with PromptStore(db, user="alice", create=False) as store:
        store.activate(FEATURE, 6, reason="the canary won")
        store.rollback(FEATURE, reason="cost doubled")
    result = stats(db, FEATURE, "--series", "--since", SINCE, "--step", "1d", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["step_seconds"] == 86400
    by_version: dict[int, int] = {}
    for point in data["points"]:
        by_version[point["version"]] = by_version.get(point["version"], 0) + point["requests"]
    # 48 hours from 09:00 UTC touch three UTC days; steps align on the epoch
    assert [p["start"][:10] for p in data["points"][::2]] == [
        "2026-11-24", "2026-11-25", "2026-11-26",
    ]  # fmt: skip
    assert len(data["points"]) == 6 and all("T00:00:00" in p["start"] for p in data["points"])
    assert sum(by_version.values()) == 48 * 60
    moves = [(move["action"], move["version"], move["reason"]) for move in data["moves"]]
    # Ours come last (the sample's import activated v5 when the test store was made).
    assert moves[-2:] == [("activate", 6, "the canary won"), ("rollback", 5, "cost doubled")]
    assert data["moves"][-2]["at"] <= data["moves"][-1]["at"] <= data["until"]
    text = stats(db, FEATURE, "--series", "--since", SINCE, "--step", "1d").stdout
    assert f"{FEATURE} in production" in text and "per 1d (UTC)" in text
    assert "2026-11-24 00:00  v5" in text.replace("   ", "  ")
    assert "activate v6" in text and "rollback v5" in text and "cost doubled" in text


def test_series_with_nothing_recorded(db: str) -> None:
    result = stats(db, "summarizer", "--series")
    assert result.exit_code == 0, result.output
    assert "No outcomes recorded in this range." in result.stdout
    data = json.loads(stats(db, "summarizer", "--series", "--json").stdout)
    assert data["points"] == [] and data["step_seconds"] == 3600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summarizer"], "summarizer has no canary in production; compare two versions"),
        ([FEATURE, "--since", "yesterday"], "not a time: 'yesterday'"),
        ([FEATURE, "--versions", "5", "99"], "customer-support has no version 99"),
        ([FEATURE, "--plan"], "--plan needs --mde"),
        ([FEATURE, "--since", "1d", "--until", "2d"], "--since must be before --until"),
        ([FEATURE, "--plan", "--mde", "0.5"], "cannot plan"),
        ([FEATURE, "--series", "--step", "90s"], "not a step: '90s'"),
        ([FEATURE, "--series", "--step", "0h"], "not a step: '0h'"),
        ([FEATURE, "--series", "--versions", "5", "6"], "--series shows every version"),
        ([FEATURE, "--series", "--since", "5000w", "--step", "1m"], "more than 100,000 steps"),
        (["nosuch", "--series"], "nosuch"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(db: str, args: list[str], message: str) -> None:
    result = stats(db, *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
