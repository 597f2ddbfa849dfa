"""Benchmark of outcome recording (promptdeck.metrics.recorder).

Run with ``python bench/bench_metrics.py`` (``--quick`` for fewer rounds). Prints, each as
a time and as a ratio to a floor measured in the same run:

- ``record()`` per call: bare (no measures), typical (tokens, latency, success, user)
  and full (plus a score and a cost from a price table), and ``timed()`` as a ``with``
  block; floors: a no-op function called with the same arguments, and a dict increment;
- a tight loop doing a dict lookup (standing in for ``Prompts.get()``, itself a dict
  lookup on a snapshot) with and without a ``record()`` per iteration;
- the same with four threads recording at once (one lock, the GIL: throughput, not
  latency, is what to read);
- ``flush()`` for N keys (rows built and handed to a sink that keeps them), against a
  floor of building N plain dicts with as many fields.

Best of several rounds (the least disturbed by other load); the ratios travel better
than the times.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    from promptdeck.metrics.recorder import Recorder
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from promptdeck.metrics.recorder import Recorder
from promptdeck.metrics.aggregate import AggregateRow  # noqa: E402


@dataclass(frozen=True, slots=True)
class Served:
    feature: str = "customer-support"
    version: int = 6
    uid: str = "0f5c2a9e-6d1b-4c1e-9a57-3c1d2b7f9e10"
    model: str = "claude-sonnet-4-20250514"


PROMPT = Served()
PRICES = {"claude-sonnet-4-20250514": (3e-6, 15e-6)}


def cost_of(model: str, tokens_in: int, tokens_out: int) -> float | None:
    price = PRICES.get(model)
    return None if price is None else tokens_in * price[0] + tokens_out * price[1]


def fmt(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e3:.2f} ms"


def per_call(body: Callable[[int], None], calls: int, rounds: int) -> float:
    """Best round's time per call of ``body(calls)``: the least disturbed by other load."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        body(calls)
        samples.append((time.perf_counter() - start) / calls)
    return min(samples)


def noop(prompt: object, **values: object) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    calls, rounds = (20_000, 3) if args.quick else (200_000, 7)

    sent: list[AggregateRow] = []
    recorder = Recorder(sent.extend, interval=0.5, cost_of=cost_of)  # flushing meanwhile
    users = [f"user-{index}" for index in range(5_000)]

    def noop_loop(n: int) -> None:
        for index in range(n):
            user = users[index % 5_000]
            noop(PROMPT, environment="production", tokens_in=812, tokens_out=230,
                 latency_ms=1432.5, success=True, user_id=user)  # fmt: skip

    counter = {"k": 0}

    def dict_increment(n: int) -> None:
        for _ in range(n):
            counter["k"] += 1

    def bare(n: int) -> None:
        for _ in range(n):
            recorder.record(PROMPT, environment="production")

    def typical(n: int) -> None:
        for index in range(n):
            user = users[index % 5_000]
            recorder.record(PROMPT, environment="production", tokens_in=812, tokens_out=230,
                            latency_ms=1432.5, success=True, user_id=user)  # fmt: skip

    def full(n: int) -> None:
        scores = {"grader": 0.8}
        for index in range(n):
            recorder.record(PROMPT, environment="production", tokens_in=812, tokens_out=230,
                            latency_ms=1432.5, success=True, scores=scores,
                            user_id=users[index % 5_000])  # fmt: skip

    def timed(n: int) -> None:
        for index in range(n):
            user = users[index % 5_000]
            with recorder.timed(PROMPT, environment="production", user_id=user) as call:
                call.tokens(812, 230)
                call.success(True)

    floor_call = per_call(noop_loop, calls, rounds)
    floor_dict = per_call(dict_increment, calls, rounds)
    print(f"floor: no-op call with the same arguments   {fmt(floor_call)}")
    print(f"floor: dict increment                       {fmt(floor_dict)}")
    print(f"{'record()':32} {'per call':>10} {'x no-op call':>13} {'x dict incr':>12}")
    for name, body in (("bare", bare), ("typical", typical), ("full (score, cost_of)", full),
                       ("timed() with block", timed)):  # fmt: skip
        cost = per_call(body, calls, rounds)
        print(f"{name:32} {fmt(cost):>10} {cost / floor_call:>12.1f}x {cost / floor_dict:>11.1f}x")

    # A request loop: get() stands as a dict lookup; with and without a record() each time.
    served = {"customer-support": PROMPT}

    def lookup_only(n: int) -> None:
        for _ in range(n):
            served["customer-support"]

    def lookup_and_record(n: int) -> None:
        for index in range(n):
            prompt = served["customer-support"]
            user = users[index % 5_000]
            recorder.record(prompt, environment="production", tokens_in=812, tokens_out=230,
                            latency_ms=1432.5, success=True, user_id=user)  # fmt: skip

    alone = per_call(lookup_only, calls, rounds)
    both = per_call(lookup_and_record, calls, rounds)
    print(f"\ntight loop, dict lookup alone                {fmt(alone)}")
    print(f"tight loop, dict lookup + typical record()   {fmt(both)}  ({both / alone:.1f}x)")
    print("  (a real request spends milliseconds to seconds in the model call: record() is")
    print(
        f"   {both / 1e-3 * 100:.3f} % of a 1 ms request, {both / 0.5 * 100:.5f} % of a 500 ms one)"
    )

    threads = 4
    per_thread = calls // threads

    def contended(n: int) -> None:
        workers = [threading.Thread(target=typical, args=(per_thread,)) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    crowd = per_call(contended, per_thread * threads, rounds)
    one = per_call(typical, calls, rounds)
    print(f"\n{threads} threads recording at once: {fmt(crowd)} per record "
          f"(one thread: {fmt(one)}; {crowd / one:.2f}x)")  # fmt: skip
    recorder.close()
    status = recorder.status()
    print(f"recorded {status.recorded:,}, rejected {status.rejected}, "
          f"dropped {status.dropped_outcomes}, flushes {status.flushes}")  # fmt: skip

    print(f"\n{'flush() of N keys':18} {'time':>10} {'per key':>10} {'x floor':>8}")
    for keys in (100, 1_000, 10_000):
        taken: list[AggregateRow] = []
        flusher = Recorder(taken.extend, interval=None, max_keys=keys)
        width = len(AggregateRow("f", "e", "u", 0, 1).columns())
        samples, floors = [], []
        for _ in range(max(3, rounds // 2)):
            for index in range(keys):
                flusher.record(Served(feature=f"feature-{index}"), environment="production",
                               tokens_in=10, tokens_out=5, latency_ms=300.0, success=True,
                               user_id=str(index))  # fmt: skip
            start = time.perf_counter()
            flusher.flush()
            samples.append(time.perf_counter() - start)
            start = time.perf_counter()
            plain = [{f"c{column}": index for column in range(width)} for index in range(keys)]
            floors.append(time.perf_counter() - start)
            del plain
        cost, floor = min(samples), min(floors)
        print(f"{keys:>18,} {fmt(cost):>10} {fmt(cost / keys):>10} {cost / floor:>7.1f}x")
        flusher.close()


if __name__ == "__main__":
    main()
