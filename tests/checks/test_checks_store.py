"""store.checks on SQLite and PostgreSQL: suites versioned per feature, runs stored whole
and immutable, suites in the feature YAML, the checks gate on every pointer move."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from promptdeck import yamlio
from promptdeck.checks.model_call import ModelReply, ModelRequest
from promptdeck.checks.runner import SuiteRun, Target, run_suite
from promptdeck.errors import (
    GateError,
    NoChangeError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from promptdeck.store import PromptStore

ROOT = Path(__file__).resolve().parents[2]
MODEL = "claude-3-5-haiku-20241022"
PROMPT = "Answer {{name}} in one line."
SUITE = yaml.safe_load(
    """
cases:
  - name: greets
    vars: {name: Ana}
    input: Hi
    assert: [{type: contains, value: Hello}]
"""
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PromptStore]:
    sqlite = request.param == "sqlite"
    url = str(tmp_path / "s.db") if sqlite else request.getfixturevalue("pg_store_url")
    with PromptStore(url, user="alice") as opened:
        opened.create_feature("greeter", PROMPT, model=MODEL, reason="first")
        opened.save("greeter", PROMPT + " Be kind.", reason="kinder")
        opened.activate("greeter", 1, reason="live")
        yield opened


def made_run(store: PromptStore, number: int, answer: str) -> SuiteRun:
    version = store.version("greeter", number)
    target = Target(version.system_prompt, version.model, version.parameters, "greeter", number)

    async def complete(request: ModelRequest) -> ModelReply:
        return ModelReply(answer, 10, 5, request.model, 12.0)

    suite = store.checks.suite("greeter")
    assert suite is not None
    return asyncio.run(run_suite(target, suite.suite, complete=complete))


def record(store: PromptStore, number: int, answer: str = "Hello Ana") -> None:
    suite = store.checks.suite("greeter")
    assert suite is not None
    run = made_run(store, number, answer)
    store.checks.record_run("greeter", number, run, suite_uid=suite.uid)


def test_suites_are_versioned_with_a_reason_and_identical_content_is_refused(
    store: PromptStore,
) -> None:
    assert store.checks.suite("greeter") is None
    first = store.checks.save_suite("greeter", SUITE, reason="first cases")
    assert (first.number, first.author, first.reason) == (1, "alice", "first cases")
    with pytest.raises(NoChangeError):
        store.checks.save_suite("greeter", SUITE, reason="again")
    with pytest.raises(ValidationError, match="reason"):
        store.checks.save_suite("greeter", {**SUITE, "grader": MODEL}, reason="  ")
    with pytest.raises(ValidationError, match="case 'greets'"):
        store.checks.save_suite("greeter", {"cases": [{"name": "greets"}]}, reason="bad")
    second = store.checks.save_suite("greeter", {**SUITE, "grader": MODEL}, reason="a grader")
    assert [r.number for r in store.checks.suite_history("greeter")] == [2, 1]
    current = store.checks.suite("greeter")
    assert current is not None and current.uid == second.uid and current.body["grader"] == MODEL
    assert [e.action for e in store.history("greeter", limit=2)] == ["suite", "suite"]
    with pytest.raises(NotFoundError):
        store.checks.suite("nope")


def test_a_viewer_may_not_save_a_suite_and_an_editor_may(store: PromptStore) -> None:
    store.set_role("alice", "admin")
    store.set_role("vera", "viewer")
    store.set_role("ed", "editor")
    with PromptStore(store.url, user="vera") as viewer, pytest.raises(PermissionDeniedError):
        viewer.checks.save_suite("greeter", SUITE, reason="x")
    with PromptStore(store.url, user="ed") as editor:
        assert editor.checks.save_suite("greeter", SUITE, reason="x").author == "ed"


def test_runs_are_stored_whole_and_read_back_per_version_and_suite(store: PromptStore) -> None:
    store.checks.save_suite("greeter", SUITE, reason="first")
    assert store.checks.states("greeter") == {1: "not run", 2: "not run"}
    record(store, 2, "Nope")
    record(store, 2, "Hello Ana")
    record(store, 1, "Nope")
    runs = store.checks.runs("greeter", 2)
    assert [r.status for r in runs] == ["passed", "failed"]
    latest = store.checks.latest_run("greeter", 2)
    assert latest is not None and latest.uid == runs[0].uid
    assert SuiteRun.from_data(latest.results).passed
    assert latest.results["cases"][0]["repeats"][0]["answer"] == "Hello Ana"
    assert latest.summary["input_tokens"] == 10
    assert store.checks.states("greeter") == {1: "failed", 2: "passed"}
    # a new suite revision: the old runs no longer count for the current suite
    store.checks.save_suite("greeter", {**SUITE, "grader": MODEL}, reason="grader")
    assert store.checks.latest_run("greeter", 2) is None
    assert store.checks.states("greeter") == {1: "not run", 2: "not run"}
    assert len(store.checks.runs("greeter", 2)) == 2  # kept


def test_a_run_of_another_version_is_refused_and_nothing_is_written(store: PromptStore) -> None:
    store.checks.save_suite("greeter", SUITE, reason="first")
    revision = store.revision()
    run = made_run(store, 1, "Hello")
    with pytest.raises(ValidationError, match="not made with version 2"):
        store.checks.record_run("greeter", 2, run, suite_uid=None)
    assert store.revision() == revision
    assert store.checks.runs("greeter", 2) == []


def test_the_gate_refuses_activate_canary_and_promote_until_a_run_passes(
    store: PromptStore,
) -> None:
    store.checks.require("production")
    assert store.checks.required("production") and not store.checks.required("staging")
    with pytest.raises(GateError, match="has no suite"):
        store.activate("greeter", 2, reason="go")
    store.checks.save_suite("greeter", SUITE, reason="first")
    with pytest.raises(GateError, match="v2 of greeter has no passing run of suite #1"):
        store.set_canary("greeter", 2, 10, reason="try")
    store.governance.create_environment("staging")  # environments exist once created
    store.activate("greeter", 2, reason="elsewhere", environment="staging")  # not required
    record(store, 2)
    store.set_canary("greeter", 2, 10, reason="try")
    store.checks.save_suite("greeter", {**SUITE, "grader": MODEL}, reason="stricter")
    with pytest.raises(GateError, match="suite #2"):
        store.promote("greeter", reason="all in")
    assert store.deployment("greeter").active == 1  # nothing moved
    store.promote("greeter", reason="all in", override_checks=True)
    assert store.deployment("greeter").active == 2
    assert store.history("greeter", limit=2)[1].action == "override-checks"


def test_only_an_admin_changes_what_an_environment_requires(store: PromptStore) -> None:
    store.set_role("alice", "admin")
    store.set_role("ed", "editor")
    with PromptStore(store.url, user="ed") as editor, pytest.raises(PermissionDeniedError):
        editor.checks.require("production")
    store.checks.require("staging")
    revision = store.revision()
    store.checks.require("staging")  # already so: nothing written
    assert store.revision() == revision
    store.checks.require("staging", False)
    assert not store.checks.required("staging")


def test_the_suite_travels_with_the_feature_yaml(store: PromptStore, tmp_path: Path) -> None:
    store.checks.save_suite("greeter", SUITE, reason="first")
    text = yamlio.dump_document(store.export_document("greeter"))
    assert "suite:" in text
    document = yamlio.parse_text(text, "greeter.yaml")
    with PromptStore(tmp_path / "other.db", user="bob") as other:
        result = other.import_documents([document])
        assert result.suites_saved == ("greeter",)
        copied = other.checks.suite("greeter")
        assert copied is not None and copied.body == store.checks.suite("greeter").body  # type: ignore[union-attr]
        assert copied.reason == "Imported from greeter.yaml"
        assert not other.import_documents([document]).changed  # the same again: nothing


def test_importing_the_sample_prompts_makes_their_suites(tmp_path: Path) -> None:
    with PromptStore(tmp_path / "s.db", user="alice") as store:
        store.import_documents(yamlio.read_files([ROOT / "sample_prompts"]))
        cases = {
            name: len(suite.body["cases"])
            for name in ("customer-support", "ticket-classifier", "summarizer")
            if (suite := store.checks.suite(name)) is not None
        }
    assert cases == {"customer-support": 7, "ticket-classifier": 5}


def test_a_bad_suite_in_a_feature_file_names_the_file_and_the_line() -> None:
    text = (
        "feature: greeter\nversion: 1\nmodel: m\nsystem_prompt: Hi {{name}}\n"
        "suite:\n  cases:\n    - name: one\n      vars: {name: A}\n      input: Hi\n"
        "      assert: [{type: is-json}]\n"
        "    - name: two\n      input: Hi\n      repeat: 0\n"
    )
    with pytest.raises(ValidationError) as caught:
        yamlio.parse_text(text, "greeter.yaml")
    assert str(caught.value).startswith("greeter.yaml:11: suite: case 'two'")
