"""Run a suite against a version: static checks first, then every case x repeat.

Concurrency is asyncio with the SDKs' async clients, bounded by a semaphore. Why not a
thread pool: the calls are network waits, so one thread serves many of them; one
async client shares its connection pool; and cancelling a task interrupts a call in
flight, so Ctrl+C or ``CancelToken.cancel()`` stops at once instead of waiting for
every blocked thread to return.

A provider error (timeout, rate limit, 5xx, bad key) makes that repeat an ERROR, which
is not a failure: the model did not answer, so nothing is known about the prompt.
Cancellation raises RunCancelled: a run is returned whole or not at all.

Progress callbacks run in the event loop's thread (for the app, the worker's thread:
hand them to the UI with ``call_from_thread``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from promptdeck.checks.assertions import (
    Answer,
    AssertionResult,
    check,
    judge,
    prepare_language_detector,
)
from promptdeck.checks.model_call import Complete, ModelReply, ModelRequest, ProviderError
from promptdeck.checks.providers import Providers, ProvidersConfig
from promptdeck.checks.static import StaticProblem, static_problems
from promptdeck.checks.suite import Assertion, Case, Suite, assertion_to_data, parse_assertion
from promptdeck.errors import PromptDeckError
from promptdeck.pricing import PriceTable
from promptdeck.templates import render

DEFAULT_CONCURRENCY = 16  # see bench/bench_checks.py; SDK retries absorb 429s
MAX_CONCURRENCY = 64

Status = Literal["passed", "failed", "error"]


class RunCancelled(PromptDeckError):
    """The run was stopped (Ctrl+C or cancel()); nothing of it should be stored."""


class CancelToken:
    """Stops a run from any thread: ``token.cancel()`` (e.g. the app's cancel key).

    One token per run: once cancelled it stays cancelled.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._task: tuple[asyncio.AbstractEventLoop, asyncio.Task[object]] | None = None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            if self._task is not None:
                loop, task = self._task
                if not loop.is_closed():
                    loop.call_soon_threadsafe(task.cancel)

    def _attach(self, task: asyncio.Task[object]) -> None:
        with self._lock:
            self._task = (task.get_loop(), task)
            if self._event.is_set():
                task.cancel()

    def _detach(self) -> None:
        with self._lock:
            self._task = None


@dataclass(frozen=True, slots=True)
class Target:
    """The version a suite runs against: what is sent to the model."""

    system_prompt: str
    model: str
    parameters: Mapping[str, object] = field(default_factory=dict)
    feature: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class AssertionOutcome:
    assertion: Assertion
    result: AssertionResult

    @property
    def passed(self) -> bool:
        return self.result.passed

    def to_data(self) -> dict[str, object]:
        return {
            "assertion": assertion_to_data(self.assertion),
            "label": self.assertion.describe(),
            "passed": self.result.passed,
            "reason": self.result.reason,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AssertionOutcome:
        assertion = parse_assertion(data["assertion"], "stored assertion")
        return cls(assertion, AssertionResult(bool(data["passed"]), str(data["reason"])))


@dataclass(frozen=True, slots=True)
class RepeatResult:
    """One answer of one case, and what its assertions made of it."""

    case: str
    repeat: int  # 1-based
    status: Status
    answer: str | None  # None when the model did not answer (an error)
    assertions: tuple[AssertionOutcome, ...] = ()
    error: str | None = None  # why it is an error: safe to show and store
    error_kind: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0  # the answer, SDK retries included; not the judges
    cost: float | None = 0.0  # USD of the answer, None when the model has no price
    grading_cost: float | None = 0.0  # USD of the judge calls

    @property
    def failed_assertions(self) -> tuple[AssertionOutcome, ...]:
        return tuple(outcome for outcome in self.assertions if not outcome.passed)

    def to_data(self) -> dict[str, object]:
        return {
            "case": self.case,
            "repeat": self.repeat,
            "status": self.status,
            "answer": self.answer,
            "assertions": [outcome.to_data() for outcome in self.assertions],
            "error": self.error,
            "error_kind": self.error_kind,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_ms": self.latency_ms,
            "cost": self.cost,
            "grading_cost": self.grading_cost,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> RepeatResult:
        return cls(
            case=data["case"],
            repeat=data["repeat"],
            status=data["status"],
            answer=data["answer"],
            assertions=tuple(AssertionOutcome.from_data(a) for a in data["assertions"]),
            error=data["error"],
            error_kind=data["error_kind"],
            input_tokens=data["input_tokens"],
            output_tokens=data["output_tokens"],
            latency_ms=data["latency_ms"],
            cost=data["cost"],
            grading_cost=data["grading_cost"],
        )


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    threshold: int
    repeats: tuple[RepeatResult, ...]

    @property
    def passes(self) -> int:
        return sum(1 for r in self.repeats if r.status == "passed")

    @property
    def errors(self) -> int:
        return sum(1 for r in self.repeats if r.status == "error")

    @property
    def passed(self) -> bool:
        return self.passes >= self.threshold

    @property
    def status(self) -> Status:
        """passed at the threshold; error when errors alone kept it from passing."""
        if self.passed:
            return "passed"
        if self.passes + self.errors >= self.threshold:
            return "error"
        return "failed"

    def to_data(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status,
            "threshold": self.threshold,
            "passes": self.passes,
            "errors": self.errors,
            "repeats": [r.to_data() for r in self.repeats],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CaseResult:
        repeats = tuple(RepeatResult.from_data(r) for r in data["repeats"])
        return cls(name=data["name"], threshold=data["threshold"], repeats=repeats)


def _sum_costs(costs: list[float | None]) -> float | None:
    return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)


@dataclass(frozen=True, slots=True)
class SuiteRun:
    """One whole run: what was run, when, and every result. Store it with ``to_data()``."""

    target: Target
    started_at: datetime
    finished_at: datetime
    static_problems: tuple[StaticProblem, ...]
    cases: tuple[CaseResult, ...]
    concurrency: int

    @property
    def status(self) -> Status:
        """passed when there is no static problem and every case passed."""
        if self.static_problems:
            return "failed"
        statuses = {case.status for case in self.cases}
        if "failed" in statuses:
            return "failed"
        return "error" if "error" in statuses else "passed"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def repeats(self) -> tuple[RepeatResult, ...]:
        return tuple(r for case in self.cases for r in case.repeats)

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.repeats)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.repeats)

    @property
    def cost(self) -> float | None:
        """USD of answers and judges; None when some model has no price."""
        repeats = self.repeats
        return _sum_costs([r.cost for r in repeats] + [r.grading_cost for r in repeats])

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def to_data(self) -> dict[str, object]:
        cases = self.cases
        return {
            "feature": self.target.feature,
            "version": self.target.version,
            "model": self.target.model,
            "parameters": dict(self.target.parameters),
            "system_prompt": self.target.system_prompt,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "status": self.status,
            "concurrency": self.concurrency,
            "static_problems": [p.to_data() for p in self.static_problems],
            "totals": {
                "cases": len(cases),
                "cases_passed": sum(1 for c in cases if c.status == "passed"),
                "cases_failed": sum(1 for c in cases if c.status == "failed"),
                "cases_error": sum(1 for c in cases if c.status == "error"),
                "answers": len(self.repeats),
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cost": self.cost,
                "duration_s": round(self.duration_s, 3),
            },
            "cases": [case.to_data() for case in cases],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SuiteRun:
        """A run read back from ``to_data()`` (JSON storage); the totals are recomputed."""
        target = Target(
            system_prompt=data.get("system_prompt", ""),
            model=data["model"],
            parameters=dict(data["parameters"]),
            feature=data["feature"],
            version=data["version"],
        )
        return cls(
            target=target,
            started_at=datetime.fromisoformat(data["started_at"]),
            finished_at=datetime.fromisoformat(data["finished_at"]),
            static_problems=tuple(
                StaticProblem(p["case"], p["message"]) for p in data["static_problems"]
            ),
            cases=tuple(CaseResult.from_data(c) for c in data["cases"]),
            concurrency=data["concurrency"],
        )


@dataclass(frozen=True, slots=True)
class Progress:
    """Sent after each answer is judged: ``done`` of ``total``, and its result."""

    done: int
    total: int
    result: RepeatResult
    case_result: CaseResult | None  # set when this repeat was the case's last one


ProgressCallback = Callable[[Progress], None]


async def run_suite(
    target: Target,
    suite: Suite,
    *,
    complete: Complete,
    prices: PriceTable | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    grader: str | None = None,
    before_calls: Callable[[tuple[str, ...]], Awaitable[None]] | None = None,
) -> SuiteRun:
    """Run ``suite`` against ``target``; raises RunCancelled when cancelled.

    ``before_calls`` gets the models the run will call (answers and judges) once the
    static checks pass, before any call: ``Providers.preflight`` raises ProviderError
    there for a missing key or SDK, so that is one clear error, not one per case.

    ``complete`` makes one model call (``Providers.complete``); ``grader`` is the
    default judge model when neither the assertion nor the suite names one (else the
    target's model). Static problems end the run before any model call.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
    prices = prices or PriceTable.default()
    started = datetime.now(UTC)
    unpriced = None if prices.price(target.model) is not None else target.model
    problems = static_problems(target.system_prompt, suite, unpriced_model=unpriced)
    if problems:
        return SuiteRun(target, started, datetime.now(UTC), problems, (), concurrency)

    default_grader = suite.grader or grader or target.model
    task = asyncio.current_task()
    if cancel is not None and task is not None:
        cancel._attach(task)
    try:
        if before_calls is not None:
            await before_calls(_models(target, suite, default_grader))
        languages = {
            a.language for c in suite.cases for a in c.assertions if a.language is not None
        }
        if languages:  # load the language models off the event loop, once
            await asyncio.to_thread(prepare_language_detector, languages)
        cases = await _run_cases(
            target,
            suite,
            complete=complete,
            prices=prices,
            concurrency=concurrency,
            on_progress=on_progress,
            default_grader=default_grader,
        )
    except asyncio.CancelledError:
        if cancel is not None and cancel.cancelled:
            if task is not None:
                task.uncancel()
            raise RunCancelled("the check run was cancelled; nothing was recorded") from None
        raise
    finally:
        if cancel is not None:
            cancel._detach()
    return SuiteRun(target, started, datetime.now(UTC), (), cases, concurrency)


def _models(target: Target, suite: Suite, default_grader: str) -> tuple[str, ...]:
    judges = (
        a.grader or default_grader for c in suite.cases for a in c.assertions if a.kind == "judge"
    )
    return tuple(dict.fromkeys([target.model, *judges]))


async def _run_cases(
    target: Target,
    suite: Suite,
    *,
    complete: Complete,
    prices: PriceTable,
    concurrency: int,
    on_progress: ProgressCallback | None,
    default_grader: str,
) -> tuple[CaseResult, ...]:
    gate = asyncio.Semaphore(concurrency)
    total = suite.total_runs
    done = 0
    finished: dict[str, list[RepeatResult]] = {case.name: [] for case in suite.cases}

    async def one(case: Case, system: str, repeat: int) -> None:
        nonlocal done
        async with gate:
            result = await _run_repeat(
                target, case, system, repeat, complete, prices, default_grader
            )
        done += 1
        finished[case.name].append(result)
        case_result = None
        if len(finished[case.name]) == case.repeat:
            case_result = _case_result(case, finished[case.name])
        if on_progress is not None:
            on_progress(Progress(done, total, result, case_result))

    try:
        async with asyncio.TaskGroup() as group:
            for case in suite.cases:
                system = render(target.system_prompt, case.variables)
                for repeat in range(1, case.repeat + 1):
                    group.create_task(one(case, system, repeat))
    except ExceptionGroup as failures:
        # A bug (say in a progress callback) stopped the run: raise it as itself.
        raise failures.exceptions[0] from None
    return tuple(_case_result(case, finished[case.name]) for case in suite.cases)


def _case_result(case: Case, repeats: list[RepeatResult]) -> CaseResult:
    ordered = tuple(sorted(repeats, key=lambda r: r.repeat))
    return CaseResult(name=case.name, threshold=case.threshold, repeats=ordered)


async def _run_repeat(
    target: Target,
    case: Case,
    system: str,
    repeat: int,
    complete: Complete,
    prices: PriceTable,
    default_grader: str,
) -> RepeatResult:
    request = ModelRequest(
        model=target.model, system=system, messages=case.messages, parameters=target.parameters
    )
    began = time.perf_counter()
    try:
        reply: ModelReply = await complete(request)
    except ProviderError as exc:
        return RepeatResult(
            case=case.name,
            repeat=repeat,
            status="error",
            answer=None,
            error=str(exc),
            error_kind=exc.kind,
        )
    # The provider's own measure leaves out one-time costs (importing the SDK).
    latency_ms = reply.latency_ms
    if latency_ms is None:
        latency_ms = (time.perf_counter() - began) * 1000
    answer = Answer(
        text=reply.text,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        latency_ms=latency_ms,
        cost=prices.cost(target.model, reply.input_tokens, reply.output_tokens),
    )
    outcomes: list[AssertionOutcome] = []
    grading_costs: list[float | None] = []
    for assertion in case.assertions:
        if assertion.kind != "judge":
            try:
                result = check(assertion, answer)
            except Exception as exc:  # e.g. a schema $ref that cannot be resolved offline
                result = AssertionResult(False, f"could not be evaluated: {exc}")
            outcomes.append(AssertionOutcome(assertion, result))
            continue
        model = assertion.grader or default_grader
        metered = _Metered(complete, prices)
        try:
            result = await judge(
                assertion, reply.text, case.messages, complete=metered, model=model
            )
        except ProviderError as exc:
            return RepeatResult(
                case=case.name,
                repeat=repeat,
                status="error",
                answer=reply.text,
                assertions=tuple(outcomes),
                error=f"judge ({model}): {exc}",
                error_kind=exc.kind,
                input_tokens=answer.input_tokens,
                output_tokens=answer.output_tokens,
                latency_ms=latency_ms,
                cost=answer.cost,
                grading_cost=_sum_costs([*grading_costs, metered.cost]),
            )
        grading_costs.append(metered.cost)
        outcomes.append(AssertionOutcome(assertion, result))
    passed = all(outcome.passed for outcome in outcomes)
    return RepeatResult(
        case=case.name,
        repeat=repeat,
        status="passed" if passed else "failed",
        answer=reply.text,
        assertions=tuple(outcomes),
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        latency_ms=latency_ms,
        cost=answer.cost,
        grading_cost=_sum_costs(grading_costs),
    )


class _Metered:
    """A Complete that remembers what its calls cost (for the judge's calls)."""

    def __init__(self, complete: Complete, prices: PriceTable) -> None:
        self._complete = complete
        self._prices = prices
        self.cost: float | None = 0.0

    async def __call__(self, request: ModelRequest) -> ModelReply:
        reply = await self._complete(request)
        call_cost = self._prices.cost(request.model, reply.input_tokens, reply.output_tokens)
        self.cost = None if self.cost is None or call_cost is None else self.cost + call_cost
        return reply


def run_suite_blocking(
    target: Target,
    suite: Suite,
    *,
    providers: ProvidersConfig | None = None,
    prices: PriceTable | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    grader: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SuiteRun:
    """``run_suite`` with the SDK providers, from synchronous code (CLI, a thread worker).

    Ctrl+C (KeyboardInterrupt in the main thread) and ``cancel.cancel()`` both stop the
    calls in flight and raise RunCancelled.
    """

    async def main() -> SuiteRun:
        async with Providers(providers, environ) as clients:
            return await run_suite(
                target,
                suite,
                complete=clients.complete,
                prices=prices,
                concurrency=concurrency,
                on_progress=on_progress,
                cancel=cancel,
                grader=grader,
                before_calls=clients.preflight,
            )

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        # asyncio.run cancelled the run's tasks and closed the clients before this
        raise RunCancelled("the check run was interrupted; nothing was recorded") from None
