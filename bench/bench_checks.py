"""Benchmark of a check run: 50 cases x 3 repeats against a loopback server answering in 200 ms.

Run with ``python bench/bench_checks.py`` (``--concurrency 8 16 32`` for the bounds to
try, ``--delay 0.2`` for the server's answer time). The real Anthropic SDK client talks
to the loopback LLM server of the test suite.

Printed per bound: wall time, its ratio to the serial floor (150 calls one after the
other) and to the ideal at that bound (ceil(150 / bound) rounds of one call), both from
the one-call latency measured in the same run; and the longest stall of the event loop
the run shares (what an app running the suite in its own loop would feel).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src")]

from llm_server import LLMServer, answer  # noqa: E402

from promptdeck.checks.assertions import prepare_language_detector  # noqa: E402
from promptdeck.checks.model_call import ModelRequest  # noqa: E402
from promptdeck.checks.providers import Providers, ProvidersConfig, ProviderSettings  # noqa: E402
from promptdeck.checks.runner import SuiteRun, Target, run_suite  # noqa: E402
from promptdeck.checks.suite import Message, Suite, parse_suite  # noqa: E402

CASES, REPEATS = 50, 3
MODEL = "claude-3-5-haiku-20241022"
PROMPT = "You are the support agent of {{product}}. Answer in the customer's language."
ANSWER = (
    "Hi Sam, you can export a board from Board settings > Export to CSV. The file opens in "
    "Excel. A colleague from billing will look at your invoice question."
)


def bench_suite() -> Suite:
    cases = [
        {
            "name": f"case {number:02d}",
            "vars": {"product": "Taskly"},
            "input": f"Question {number}: how do I export my board?",
            "repeat": REPEATS,
            "assert": [
                {"type": "contains", "value": "Export to CSV"},
                {"type": "not-contains", "value": ["refund", "discount"], "ignore_case": True},
                {"type": "regex", "value": r"Board settings\s*>"},
                {"type": "max-chars", "value": 800},
                {"type": "language", "value": "en"},
            ],
        }
        for number in range(1, CASES + 1)
    ]
    return parse_suite({"cases": cases})


async def one_call_latency(providers: Providers, calls: int = 5) -> float:
    """Median seconds of one call, measured serially (the floor's unit)."""
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        await providers.complete(ModelRequest(MODEL, "Hi", (Message("user", "ping"),)))
        times.append(time.perf_counter() - began)
    return statistics.median(times)


class StallMeter:
    """The longest lateness of a 5 ms tick on the event loop while it is running."""

    def __init__(self) -> None:
        self.stall = 0.0
        self._running = False
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while self._running:
            began = time.perf_counter()
            await asyncio.sleep(0.005)
            self.stall = max(self.stall, time.perf_counter() - began - 0.005)

    def start(self) -> None:
        self._running = True
        self._task = asyncio.create_task(self._tick())

    async def stop(self) -> float:
        self._running = False
        if self._task is not None:
            await self._task
        return self.stall


async def build_detector() -> tuple[float, float]:
    """(seconds to build the language detector in a thread, longest loop stall meanwhile)."""
    meter = StallMeter()
    meter.start()
    began = time.perf_counter()
    await asyncio.to_thread(prepare_language_detector, ["en"])
    took = time.perf_counter() - began
    return took, await meter.stop()


async def measure(
    config: ProvidersConfig, suite: Suite, concurrency: int
) -> tuple[float, float, SuiteRun]:
    """(wall seconds, longest event-loop stall in seconds, the run)."""
    async with Providers(config) as providers:
        await one_call_latency(providers, 1)  # the SDK imported and connected before timing
        meter = StallMeter()
        meter.start()
        began = time.perf_counter()
        result = await run_suite(
            Target(PROMPT, MODEL), suite, complete=providers.complete, concurrency=concurrency
        )
        wall = time.perf_counter() - began
        stall = await meter.stop()
    return wall, stall, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    os.environ.setdefault("ANTHROPIC_API_KEY", "bench-key")
    suite = bench_suite()
    calls = suite.total_runs
    with LLMServer(lambda seen: answer(ANSWER, delay=args.delay)) as server:
        settings = ProviderSettings(base_url=server.url, timeout_s=30, max_retries=0)
        config = ProvidersConfig({"anthropic": settings, "openai": ProviderSettings()})

        async def floor() -> float:
            async with Providers(config) as providers:
                await one_call_latency(providers, 1)
                return await one_call_latency(providers)

        latency = asyncio.run(floor())
        took, stall = asyncio.run(build_detector())
        print(
            f"language detector built in {took * 1000:.0f} ms, once per process "
            f"(longest event-loop stall meanwhile: {stall * 1000:.0f} ms)"
        )
        serial = calls * latency
        print(f"{CASES} cases x {REPEATS} repeats = {calls} answers of {args.delay * 1000:.0f} ms")
        print(f"one call, measured: {latency * 1000:.0f} ms; serial floor {serial:.1f} s")
        print(f"{'bound':>5} {'wall s':>7} {'vs serial':>9} {'ideal s':>8} {'vs ideal':>8} "
              f"{'max stall ms':>12} {'status':>7}")  # fmt: skip
        for bound in args.concurrency:
            wall, stall, result = asyncio.run(measure(config, suite, bound))
            ideal = math.ceil(calls / bound) * latency
            print(
                f"{bound:>5} {wall:>7.2f} {wall / serial:>9.3f} {ideal:>8.2f} "
                f"{wall / ideal:>8.2f} {stall * 1000:>12.0f} {result.status:>7}"
            )
            if not result.passed:
                errors = {r.error for r in result.repeats if r.error}
                raise SystemExit(f"the bench suite should pass: {sorted(errors)[:3]}")


if __name__ == "__main__":
    main()
