"""`promptdeck check` and `suite` end to end: the real SDK clients against the loopback
LLM server, runs stored, the checks gate and its audited override, keys never shown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from checks_helpers import ANTHROPIC_KEY, OPENAI_KEY
from click.testing import CliRunner, Result
from llm_server import LLMServer, answer, error, hang

from promptdeck.cli import main
from promptdeck.store import PromptStore

PROMPTDECK = Path(sys.executable).with_name("promptdeck")
MODEL = "claude-3-5-haiku-20241022"  # in the default price table
PROMPT = "You greet {{name}} warmly and answer in one line."

SUITE = """\
cases:
  - name: says hello
    vars: {name: Ana}
    input: Say hello
    assert:
      - type: contains
        value: Hello
  - name: answers json
    vars: {name: Ana}
    input: Give JSON
    repeat: 2
    assert:
      - type: is-json
"""


@pytest.fixture
def env(tmp_path: Path, llm: LLMServer, keys: dict[str, str]) -> dict[str, str]:
    """The config file pointing both providers at the loopback server; the keys set."""
    config = Path(os.environ["PROMPTDECK_CONFIG"])
    config.write_text(
        f'[providers.anthropic]\nbase_url = "{llm.url}"\ntimeout = 2\nmax_retries = 0\n'
        f'[providers.openai]\nbase_url = "{llm.openai_url}"\ntimeout = 2\nmax_retries = 0\n',
        encoding="utf-8",
    )
    return {**os.environ}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    with PromptStore(path, user="alice") as store:
        store.create_feature("greeter", PROMPT, model=MODEL, reason="first")
        store.save("greeter", PROMPT + "\nBe brief.", reason="shorter")
        store.activate("greeter", 1, reason="go live")
        store.checks.save_suite("greeter", yaml.safe_load(SUITE), reason="the first cases")
    return path


def run(db: Path, *args: str, user: str = "alice") -> Result:
    return CliRunner().invoke(main, ["--db", str(db), "--user", user, *args])


def good(llm: LLMServer) -> None:
    llm.script("Say hello", answer("Hello Ana, nice to see you!"))
    llm.script("Give JSON", answer('{"greeting": "Hello"}'))


def test_a_passing_check_prints_each_case_stores_the_run_and_exits_0(
    db: Path, llm: LLMServer, env: dict[str, str]
) -> None:
    good(llm)
    result = run(db, "check", "greeter")
    assert result.exit_code == 0, result.output
    assert "greeter v2" in result.output
    assert "PASS   says hello  (1/1 passed, needs 1)" in result.output
    assert "PASS   answers json  (2/2 passed, needs 2)" in result.output
    assert "passed: 2/2 cases passed, 3 answer(s), $" in result.output
    assert {seen.model for seen in llm.requests} == {MODEL}
    assert all("Be brief." in seen.system for seen in llm.requests)  # v2 is what was sent
    with PromptStore(db, user="alice") as store:
        latest = store.checks.latest_run("greeter", 2)
        assert latest is not None and latest.status == "passed" and latest.runner == "alice"
        assert latest.summary["answers"] == 3
        assert store.checks.states("greeter") == {1: "not run", 2: "passed"}


def test_a_failing_check_shows_the_failed_assertion_and_the_answer_and_exits_1(
    db: Path, llm: LLMServer, env: dict[str, str]
) -> None:
    good(llm)
    llm.script("Give JSON", answer('{"ok": true}'), answer("Sure! Here it is: not json"))
    result = run(db, "check", "greeter", "1")
    assert result.exit_code == 1, result.output
    assert "FAIL   answers json  (1/2 passed, needs 2)" in result.output
    # The two repeats run concurrently: either may be the one given the bad answer.
    assert re.search(r"#[12] is-json:", result.output), result.output
    assert "answer: Sure! Here it is: not json" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("failed: 1/2 cases passed")
    with PromptStore(db, user="alice") as store:
        assert store.checks.states("greeter") == {1: "failed", 2: "not run"}


def test_a_provider_error_is_an_error_not_a_failure_and_keys_never_show(
    db: Path, llm: LLMServer, env: dict[str, str], tmp_path: Path
) -> None:
    good(llm)
    # A server that echoes the key back: the message is scrubbed before it is shown.
    llm.script("Give JSON", error(500, f"upstream broke for key {ANTHROPIC_KEY}"))
    result = run(db, "check", "greeter", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "error" and report["passed"] is False
    case = report["result"]["cases"][1]
    assert case["status"] == "error" and case["errors"] == 2
    printed = run(db, "check", "greeter")
    assert "ERROR  answers json" in printed.output and "error:" in printed.output
    for key in (ANTHROPIC_KEY, OPENAI_KEY):
        assert key not in result.output and key not in printed.output
        assert key.encode() not in db.read_bytes()  # nor stored
    assert all(seen.api_key == ANTHROPIC_KEY for seen in llm.requests)  # yet it was used


def test_the_json_report_has_the_run_the_suite_and_every_answer(
    db: Path, llm: LLMServer, env: dict[str, str]
) -> None:
    good(llm)
    result = run(db, "check", "greeter", "2", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert set(report) == {
        "feature", "version", "suite", "suite_uid", "run", "status", "passed", "runner", "result"
    }  # fmt: skip
    assert (report["feature"], report["version"], report["suite"]) == ("greeter", 2, 1)
    totals = report["result"]["totals"]
    assert totals["cases_passed"] == 2 and totals["answers"] == 3
    answers = [r["answer"] for c in report["result"]["cases"] for r in c["repeats"]]
    assert answers.count('{"greeting": "Hello"}') == 2


def test_check_all_runs_the_active_and_newer_versions_and_skips_features_without_suites(
    db: Path, llm: LLMServer, env: dict[str, str]
) -> None:
    good(llm)
    with PromptStore(db, user="alice") as store:
        store.create_feature("plain", "No suite here.", model=MODEL, reason="first")
    result = run(db, "check", "--all")
    assert result.exit_code == 0, result.output
    assert "greeter v1" in result.output and "greeter v2" in result.output
    assert "plain: no suite, skipped" in result.output
    with PromptStore(db, user="alice") as store:
        assert store.checks.states("greeter") == {1: "passed", 2: "passed"}


def test_usage_errors_exit_2_and_a_missing_suite_or_key_is_one_line(
    db: Path, llm: LLMServer, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(db, "check").exit_code == 2
    assert run(db, "check", "greeter", "--all").exit_code == 2
    with PromptStore(db, user="alice") as store:
        store.create_feature("plain", "No suite here.", model=MODEL, reason="first")
    result = run(db, "check", "plain")
    assert result.exit_code == 1
    assert (
        result.output.startswith("error: plain has no suite") and "Traceback" not in result.output
    )
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    Path(os.environ["PROMPTDECK_CONFIG"]).write_text("", encoding="utf-8")  # the real API
    result = run(db, "check", "greeter")
    assert result.exit_code == 1 and "ANTHROPIC_API_KEY is not set" in result.output
    with PromptStore(db, user="alice") as store:
        assert store.checks.runs("greeter", 2) == []  # nothing recorded


def test_the_gate_refuses_activation_without_a_passing_run_and_the_override_is_audited(
    db: Path, llm: LLMServer, env: dict[str, str]
) -> None:
    with PromptStore(db, user="alice") as store:
        store.checks.require("production")
    refused = run(db, "activate", "greeter", "2", "--reason", "ship it")
    assert refused.exit_code == 1
    assert "checks: v2 not run" in refused.output
    error_line = refused.output.strip().splitlines()[-1]
    assert error_line == (
        "error: production requires passing checks: v2 of greeter has no passing run of "
        "suite #1 (has not been run); run `promptdeck check greeter 2`"
    )
    # a failing run does not open the gate
    llm.script("Say hello", answer("Good day."))
    llm.script("Give JSON", answer("{}"))
    assert run(db, "check", "greeter", "2").exit_code == 1
    refused = run(db, "activate", "greeter", "2", "--reason", "ship it")
    assert "(last failed)" in refused.output and refused.exit_code == 1
    # an editor may not override; an admin may, and it is in the history
    with PromptStore(db, user="alice") as store:
        store.set_role("alice", "admin")
        store.set_role("bob", "editor")
    denied = run(db, "activate", "greeter", "2", "--reason", "x", "--override-checks", user="bob")
    assert denied.exit_code == 1 and "must be an admin" in denied.output
    done = run(db, "activate", "greeter", "2", "--reason", "hotfix", "--override-checks")
    assert done.exit_code == 0, done.output
    with PromptStore(db, user="alice") as store:
        event = store.history("greeter", limit=2)
        assert [e.action for e in event] == ["activate", "override-checks"]
        assert event[1].reason == "hotfix" and event[1].to_version == 2
        assert "no passing run" in event[1].details["missing"]


def test_a_passing_run_opens_the_gate_until_the_suite_changes(
    db: Path, llm: LLMServer, env: dict[str, str], tmp_path: Path
) -> None:
    good(llm)
    with PromptStore(db, user="alice") as store:
        store.checks.require("production")
    assert run(db, "check", "greeter", "2").exit_code == 0
    shown = run(db, "canary", "greeter", "2", "--percent", "10", "--reason", "try")
    assert shown.exit_code == 0, shown.output
    changed = tmp_path / "changed.yaml"
    changed.write_text(SUITE.replace("value: Hello", "value: Ana"), encoding="utf-8")
    saved = run(db, "suite", "set", "greeter", "--file", str(changed), "--reason", "name it")
    assert saved.output == "greeter: saved suite #2 (2 case(s))\n"
    same = run(db, "suite", "set", "greeter", "--file", str(changed), "--reason", "again")
    assert same.exit_code == 1 and "nothing changed" in same.output
    refused = run(db, "activate", "greeter", "2", "--reason", "ship it")
    assert refused.exit_code == 1 and "suite #2" in refused.output
    history = run(db, "suite", "show", "greeter", "--history")
    assert [line.split()[0] for line in history.output.splitlines()] == ["#2", "#1"]


def test_a_bad_suite_file_is_refused_with_file_and_line(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUITE.replace("type: is-json", "type: is-jsonish"), encoding="utf-8")
    result = run(db, "suite", "set", "greeter", "--file", str(bad), "--reason", "typo")
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {bad}:8: suite: case 'answers json'")
    assert len(result.output.strip().splitlines()) == 1


def test_ctrl_c_mid_run_exits_130_and_records_nothing(
    db: Path, llm: LLMServer, env: dict[str, str]
) -> None:
    llm.script("Say hello", hang(30))
    llm.script("Give JSON", hang(30))
    env = {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [str(PROMPTDECK), "--db", str(db), "--user", "alice", "check", "greeter"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 20
    while len(llm.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(llm.requests) == 3  # every call is in flight
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err and "nothing was recorded" in err
    with PromptStore(db, user="alice") as store:
        assert store.checks.runs("greeter", 2) == []


def test_a_viewer_is_refused_before_any_model_call(
    db: Path, llm: LLMServer, env: dict[str, str]
) -> None:
    with PromptStore(db, user="alice") as store:
        store.set_role("alice", "admin")
    result = run(db, "check", "greeter", user="vera")
    assert result.exit_code == 1
    assert result.output == (
        "error: vera is a viewer: to record a check run you must be an editor\n"
    )
    assert llm.requests == []
