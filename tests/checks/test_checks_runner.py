"""Running a suite: repeats and thresholds, errors apart from failures, progress,
concurrency, cancellation and Ctrl+C, and keys that never reach a result."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import anthropic  # noqa: F401  imported up front: timings measure calls, not imports
import openai  # noqa: F401
import pytest
from checks_helpers import ANTHROPIC_KEY, ENV, OPENAI_KEY, fast_config
from llm_server import LLMServer, Reply, Seen, answer, error, hang

from promptdeck.checks.assertions import JUDGE_SYSTEM_PROMPT
from promptdeck.checks.model_call import ProviderError
from promptdeck.checks.providers import ProvidersConfig
from promptdeck.checks.runner import (
    CancelToken,
    Progress,
    RunCancelled,
    SuiteRun,
    Target,
    run_suite_blocking,
)
from promptdeck.checks.suite import Suite, parse_suite
from promptdeck.pricing import PriceTable

PROMPT = "You are the support agent of {{product}}. Never promise refunds."
SONNET = "claude-sonnet-4-20250514"


def case(name: str, text: str, *checks: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "vars": {"product": "Taskly"},
        "input": text,
        "assert": list(checks),
        **extra,
    }


def suite_of(*cases: dict[str, object], **top: object) -> Suite:
    return parse_suite({"cases": list(cases), **top})


def run(
    config: ProvidersConfig,
    suite: Suite,
    model: str = SONNET,
    prompt: str = PROMPT,
    **options: object,
) -> SuiteRun:
    target = Target(prompt, model, {"max_tokens": 200, "temperature": 0.2}, "support", 3)
    return run_suite_blocking(target, suite, providers=config, environ=ENV, **options)  # type: ignore[arg-type]


NO_REFUND = {"type": "not-contains", "value": ["refund"], "ignore_case": True}


@pytest.mark.parametrize("model", [SONNET, "gpt-4o"])
def test_a_passing_suite_records_answers_tokens_latency_and_cost(
    llm: LLMServer, config: ProvidersConfig, model: str
) -> None:
    llm.script(
        "Where is my invoice?",
        answer("Your invoices are under Billing.", input_tokens=1000, output_tokens=200),
    )
    llm.script(
        "Refund now!",
        answer("The billing team decides; HANDOFF", input_tokens=1000, output_tokens=100),
    )
    suite = suite_of(
        case("invoice", "Where is my invoice?", {"type": "contains", "value": "Billing"}),
        case("refund", "Refund now!", NO_REFUND, {"type": "contains", "value": "HANDOFF"}),
    )
    result = run(config, suite, model)
    assert result.status == "passed" and result.passed
    invoice, refund = result.cases
    (repeat,) = invoice.repeats
    assert repeat.answer == "Your invoices are under Billing."
    assert (repeat.input_tokens, repeat.output_tokens) == (1000, 200)
    price = PriceTable.default().price(model)
    assert price is not None
    assert repeat.cost == pytest.approx((1000 * price.input + 200 * price.output) / 1e6)
    assert repeat.latency_ms > 0
    assert [o.result.reason for o in refund.repeats[0].assertions] == [
        'does not contain "refund"',
        'contains "HANDOFF"',
    ]
    assert result.input_tokens == 2000 and result.output_tokens == 300
    assert result.cost == pytest.approx(repeat.cost + refund.repeats[0].cost)  # type: ignore[operator]
    assert result.finished_at >= result.started_at
    # The template was rendered with the case's variables and the parameters were sent.
    seen = llm.requests_for("Where is my invoice?")[0]
    assert seen.system == "You are the support agent of Taskly. Never promise refunds."
    assert seen.body["temperature"] == 0.2 and seen.body["max_tokens"] == 200
    data = json.loads(json.dumps(result.to_data()))
    assert data["status"] == "passed" and data["model"] == model and data["version"] == 3
    assert data["totals"]["cases_passed"] == 2 and data["totals"]["answers"] == 2
    assert data["cases"][1]["repeats"][0]["assertions"][1]["label"] == 'contains "HANDOFF"'


def test_a_failure_names_the_assertion_and_keeps_the_answer(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    llm.script("Refund now!", answer("Sure, I will refund you today."))
    result = run(config, suite_of(case("refund", "Refund now!", NO_REFUND)))
    assert result.status == "failed"
    (repeat,) = result.cases[0].repeats
    assert repeat.status == "failed"
    assert repeat.answer == "Sure, I will refund you today."
    (failed,) = repeat.failed_assertions
    assert failed.assertion.kind == "not-contains"
    assert failed.result.reason == 'contains "refund"'


@pytest.mark.parametrize(("threshold", "status"), [(2, "passed"), (3, "failed")])
def test_repeats_pass_when_enough_reach_the_threshold(
    llm: LLMServer, config: ProvidersConfig, threshold: int, status: str
) -> None:
    llm.script(
        "Refund?",
        answer("The billing team decides."),
        answer("A refund is coming."),
        answer("Billing decides."),
    )
    suite = suite_of(case("refund", "Refund?", NO_REFUND, repeat=3, threshold=threshold))
    result = run(config, suite)
    (outcome,) = result.cases
    assert [r.repeat for r in outcome.repeats] == [1, 2, 3]
    assert (outcome.passes, outcome.errors, outcome.threshold) == (2, 0, threshold)
    assert outcome.status == status
    assert result.status == status
    assert len(llm.requests_for("Refund?")) == 3


def test_errors_are_not_failures(llm: LLMServer) -> None:
    config = fast_config(llm.url, retries=0)
    llm.script("down", error(500, "overloaded"))
    llm.script("flaky", answer("fine"), error(503, "blip"), answer("fine"))
    llm.script("bad", answer("Here is a refund"))
    suite = suite_of(
        case("down", "down", NO_REFUND),
        case("flaky", "flaky", NO_REFUND, repeat=3, threshold=2),
        case("bad", "bad", NO_REFUND),
    )
    result = run(config, suite)
    down, flaky, bad = result.cases
    assert down.status == "error"
    (repeat,) = down.repeats
    assert repeat.status == "error" and repeat.answer is None and repeat.error_kind == "status"
    assert repeat.error is not None and "HTTP 500: overloaded" in repeat.error
    assert flaky.status == "passed" and (flaky.passes, flaky.errors) == (2, 1)
    assert bad.status == "failed"
    assert result.status == "failed"  # a failure outweighs an error

    only_errors = run(config, suite_of(case("down", "down", NO_REFUND)))
    assert only_errors.status == "error" and not only_errors.passed


def test_a_timeout_is_an_error_for_that_case_only(llm: LLMServer) -> None:
    config = fast_config(llm.url, timeout=0.3, retries=0)
    llm.script("slow", hang(3))
    llm.script("quick", answer("fine"))
    result = run(
        config, suite_of(case("slow", "slow", NO_REFUND), case("quick", "quick", NO_REFUND))
    )
    slow, quick = result.cases
    assert slow.status == "error" and slow.repeats[0].error_kind == "timeout"
    assert quick.status == "passed"


def test_rate_limited_cases_recover_through_retry_after(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    llm.script("busy", error(429, "rate limited", retry_after=0.2), answer("fine"))
    result = run(config, suite_of(case("busy", "busy", NO_REFUND)))
    assert result.passed
    assert result.cases[0].repeats[0].latency_ms >= 200


def verdicts(seen: Seen) -> Reply:
    """A grader: fails answers that mention a competitor, else passes."""
    if seen.system != JUDGE_SYSTEM_PROMPT:
        return Reply("OK")
    graded = seen.last_user.split("<answer>")[1]
    if "Trello" in graded:
        return answer('{"pass": false, "reason": "It discusses a competitor."}')
    if "gibberish" in graded:
        return answer("I cannot decide.")
    return answer('```json\n{"pass": true, "reason": "Stays on Taskly."}\n```')


def test_judge_grades_with_the_grader_model(config: ProvidersConfig) -> None:
    rubric = {"type": "judge", "rubric": "Never discusses competitors."}
    with LLMServer(verdicts) as server:
        config = fast_config(server.url)
        server.script("Is Trello better?", answer("Trello is fine, but Taskly has automations."))
        server.script("Compare plans", answer("Taskly Pro adds automations."))
        server.script("odd", answer("gibberish"))
        suite = suite_of(
            case("competitor", "Is Trello better?", rubric),
            case("plans", "Compare plans", rubric),
            case("odd", "odd", rubric),
            grader="gpt-4o-mini",
        )
        result = run(config, suite)
        judged = [s for s in server.requests if s.system == JUDGE_SYSTEM_PROMPT]
    competitor, plans, odd = result.cases
    assert competitor.status == "failed"
    assert competitor.repeats[0].assertions[0].result.reason == "judge: It discusses a competitor."
    assert plans.status == "passed"
    assert plans.repeats[0].assertions[0].result.reason == "judge: Stays on Taskly."
    assert odd.status == "error"  # an unreadable verdict says nothing about the prompt
    assert odd.repeats[0].error is not None and "no pass/fail verdict" in odd.repeats[0].error
    assert {s.model for s in judged} == {"gpt-4o-mini"}
    assert {s.wire for s in judged} == {"openai"}
    assert all(s.body["temperature"] == 0 for s in judged)
    # the grader's cost is counted apart from the answer's
    assert plans.repeats[0].grading_cost is not None and plans.repeats[0].grading_cost > 0


def test_static_problems_stop_the_run_before_any_model_call(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    suite = parse_suite({"cases": [{"name": "no vars", "input": "hi", "assert": [NO_REFUND]}]})
    result = run(config, suite)
    assert result.status == "failed"
    assert [str(p) for p in result.static_problems] == [
        "case 'no vars': does not provide the prompt's variable product"
    ]
    assert result.cases == ()
    assert llm.requests == []
    empty = run(config, suite_of(case("x", "hi", NO_REFUND)), prompt="  ")
    assert str(empty.static_problems[0]) == "the prompt is empty"


def test_max_cost_needs_a_priced_model(llm: LLMServer, config: ProvidersConfig) -> None:
    suite = suite_of(case("cheap", "hi", {"type": "max-cost", "value": 0.01}))
    result = run(config, suite, model="llama3.1:8b")
    assert result.status == "failed" and llm.requests == []
    priced = PriceTable.default().with_overrides(
        {"llama3.1:8b": PriceTable.default().prices["gpt-4o-mini"]}
    )
    assert run(config, suite, model="llama3.1:8b", prices=priced).passed


def test_progress_reports_each_answer_and_each_finished_case(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    events: list[Progress] = []
    suite = suite_of(case("a", "a", NO_REFUND, repeat=3), case("b", "b", NO_REFUND, repeat=2))
    result = run(config, suite, on_progress=events.append)
    assert [e.done for e in events] == [1, 2, 3, 4, 5]
    assert {e.total for e in events} == {5}
    finished = [e.case_result for e in events if e.case_result is not None]
    assert sorted(c.name for c in finished) == ["a", "b"]
    by_name = {c.name: c for c in result.cases}
    assert all(c == by_name[c.name] for c in finished)  # the same results, delivered early


def test_cases_run_concurrently_within_the_bound(llm: LLMServer, config: ProvidersConfig) -> None:
    llm.script("slow", answer("fine", delay=0.3))
    suite = suite_of(case("slow", "slow", NO_REFUND, repeat=12))
    began = time.perf_counter()
    result = run(config, suite, concurrency=4)
    elapsed = time.perf_counter() - began
    assert result.passed
    assert llm.max_active == 4
    assert elapsed < 12 * 0.3 / 2  # well under serial; ideal is 3 x 0.3 s


def test_cancel_from_another_thread_stops_without_a_result(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    llm.script("slow", answer("fine", delay=0.4))
    suite = suite_of(case("slow", "slow", NO_REFUND, repeat=20))
    token = CancelToken()
    seen: list[Progress] = []

    def on_progress(event: Progress) -> None:
        seen.append(event)
        if len(seen) == 2:
            threading.Thread(target=token.cancel).start()

    began = time.perf_counter()
    with pytest.raises(RunCancelled, match="nothing was recorded"):
        run(config, suite, concurrency=2, on_progress=on_progress, cancel=token)
    assert time.perf_counter() - began < 2.5  # not the 4 s the whole run takes
    assert 2 <= len(seen) < 20
    calls = len(llm.requests)
    time.sleep(0.6)
    assert len(llm.requests) == calls  # nothing more was sent after the cancel


def test_a_token_cancelled_before_the_run_sends_nothing(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(RunCancelled):
        run(config, suite_of(case("a", "a", NO_REFUND)), cancel=token)
    assert llm.requests == []


def test_an_outside_cancel_is_not_turned_into_run_cancelled(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    """A host (the app's worker) cancelling its own task gets CancelledError back."""
    from promptdeck.checks.providers import Providers
    from promptdeck.checks.runner import run_suite

    llm.script("slow", answer("fine", delay=1))

    async def main() -> None:
        async with Providers(config, ENV) as providers:
            target = Target(PROMPT, SONNET)
            task = asyncio.create_task(
                run_suite(
                    target, suite_of(case("s", "slow", NO_REFUND)), complete=providers.complete
                )
            )
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{checks!r}]
    from checks_helpers import fast_config
    from promptdeck.checks.runner import RunCancelled, Target, run_suite_blocking
    from promptdeck.checks.suite import parse_suite

    suite = parse_suite({{"cases": [{{"name": "slow", "input": "slow", "repeat": 20,
                         "assert": [{{"type": "is-json"}}]}}]}})
    def progress(event):
        print("progress", event.done, flush=True)
    try:
        run_suite_blocking(Target("Hi", "claude-3-5-haiku-20241022"), suite,
                           providers=fast_config({url!r}, timeout=5),
                           concurrency=2, on_progress=progress)
    except RunCancelled as exc:
        print("cancelled:", exc, flush=True)
        sys.exit(130)
    print("finished", flush=True)
    """
)


def test_ctrl_c_mid_run_stops_cleanly_without_a_traceback(llm: LLMServer) -> None:
    llm.script("slow", answer('{"ok": true}', delay=0.5))
    script = CTRL_C_SCRIPT.format(checks=str(Path(__file__).resolve().parent), url=llm.url)
    env = {**os.environ, **ENV}
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # wait until answers are coming in
    assert first.startswith("progress"), first + (process.stderr.read() if process.stderr else "")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130, out + err
    assert "cancelled: the check run was interrupted; nothing was recorded" in out
    assert "finished" not in out
    assert "Traceback" not in err
    assert ANTHROPIC_KEY not in out + err


def test_api_keys_never_reach_results(llm: LLMServer) -> None:
    with LLMServer(required_key="another-key") as refusing:
        result = run(
            fast_config(refusing.url, retries=0),
            suite_of(case("a", "a", NO_REFUND)),
            model="gpt-4o",
        )
    dumped = json.dumps(result.to_data()) + repr(result)
    assert result.cases[0].status == "error"
    assert "refused the API key in OPENAI_API_KEY" in dumped
    for key in (ANTHROPIC_KEY, OPENAI_KEY):
        assert key not in dumped


def test_a_stored_run_reads_back_equal(llm: LLMServer, config: ProvidersConfig) -> None:
    llm.script("a", answer("Fine"), answer("A refund!"))
    suite = suite_of(
        case("a", "a", NO_REFUND, {"type": "max-chars", "value": 100}, repeat=2, threshold=1),
        case("b", "b", {"type": "json-schema", "schema": {"type": "object"}}),
    )
    result = run(config, suite)
    stored = json.loads(json.dumps(result.to_data()))
    assert SuiteRun.from_data(stored) == result
    assert SuiteRun.from_data(stored).to_data() == stored


def test_a_missing_key_is_one_error_before_any_call(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    unkeyed = ProvidersConfig()  # the real Anthropic endpoint, which needs a key
    suite = suite_of(case("a", "a", NO_REFUND, repeat=3))
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY is not set"):
        run_suite_blocking(Target(PROMPT, SONNET), suite, providers=unkeyed, environ={})
    # static problems still come first, and need no key
    broken = run_suite_blocking(Target("  ", SONNET), suite, providers=unkeyed, environ={})
    assert broken.status == "failed" and broken.static_problems


def test_a_schema_that_cannot_be_resolved_fails_with_a_reason(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    remote = {"$ref": "https://schemas.example/ticket.json"}  # never fetched
    llm.script("a", answer('{"category": "bug"}'))
    result = run(config, suite_of(case("a", "a", {"type": "json-schema", "schema": remote})))
    (outcome,) = result.cases[0].repeats[0].assertions
    assert not outcome.passed
    assert outcome.result.reason.startswith("the schema's $ref cannot be resolved offline")


def test_a_failing_progress_callback_surfaces_as_itself(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    def broken(event: Progress) -> None:
        raise RuntimeError("the progress bar broke")

    with pytest.raises(RuntimeError, match="the progress bar broke"):
        run(config, suite_of(case("a", "a", NO_REFUND, repeat=3)), on_progress=broken)
