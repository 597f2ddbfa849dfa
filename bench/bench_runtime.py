"""Benchmark of the runtime library against what teams do today.

Run with ``python bench/bench_runtime.py`` (``--no-pg`` to skip PostgreSQL, ``--quick``
for fewer rounds). It builds a store from sample_prompts/ in a temporary directory
(and, when the PostgreSQL binaries are installed, in a throwaway server from
tests/pgserver.py) and prints, for each backend:

- ``get()`` from the cache, median and p99 (per call, timer overhead included) and the
  mean over a tight loop; with and without a user id on a feature that has a canary;
- first ``get()``: constructing ``Prompts`` (the one synchronous load) plus the first call;
- one refresh with nothing changed, and with one activation;
- the same request served by querying the store on every call
  (``PromptStore.version(feature, "active")``), and by a 60-second TTL cache;
- staleness after an activation: measured for promptdeck (time until a client polling
  ``get()`` sees the new version), computed for the TTL cache (an activation lands at a
  uniformly random moment of the cache's 60 s life: mean 30 s, worst 60 s).

Then, on a SQLite store of ``--features`` features (10,000 by default), the figures of
issue 13 as ratios to their floors in the same run:

- one refresh after one activation with the snapshot on (the default), against the same
  refresh with no snapshot (goal: within 2x); and the snapshot write itself, which runs
  on its own thread off the refresh path;
- ``Prompts()`` construction, against reading the same deployments with
  ``PromptStore.serving()`` (the floor: the data has to be read), and against the goal of
  0.3 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    from promptdeck import yamlio
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from promptdeck import yamlio
from promptdeck.records import (  # noqa: E402
    Deployment,
    FeatureDocument,
    Version,
    VersionSpec,
)
from promptdeck.runtime import Prompts  # noqa: E402
from promptdeck.store import PromptStore  # noqa: E402

FEATURE = "translator"  # versions 1..3, 2 active, no canary
CANARY_FEATURE = "customer-support"  # 5 active, 6 a 10 % canary
TTL = 60.0


def fmt(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_call(fn: Callable[[], object], n: int) -> tuple[float, float, float]:
    """(median, p99, mean over a tight loop) of one call, in seconds."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        start = clock()
        fn()
        samples.append((clock() - start) / 1e9)
    loop_start = time.perf_counter()
    for _ in range(n):
        fn()
    mean = (time.perf_counter() - loop_start) / n
    return statistics.median(samples), percentile(samples, 0.99), mean


def timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


class TTLCache:
    """What teams write today: ask the database, keep the answer for 60 seconds."""

    def __init__(self, store: PromptStore, ttl: float = TTL) -> None:
        self.store = store
        self.ttl = ttl
        self.cache: dict[str, tuple[float, Version]] = {}

    def get(self, feature: str) -> Version:
        now = time.monotonic()
        hit = self.cache.get(feature)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        version = self.store.version(feature, "active")
        self.cache[feature] = (now, version)
        return version


def row(label: str, value: str) -> None:
    print(f"  {label:<62} {value}")


def bench(url: str, label: str, rounds: int, staleness_rounds: int) -> None:
    print(f"\n== {label} ==")
    tmp = Path(tempfile.mkdtemp(prefix="pd-bench-snap-"))
    admin = PromptStore(url, user="bench")
    number = [2]

    def flip() -> None:
        number[0] = 3 if number[0] == 2 else 2
        admin.activate(FEATURE, number[0], reason="bench")

    # get() from the cache
    with Prompts(url, refresh_interval=1.0, snapshot_path=tmp / "a.json") as prompts:
        med, p99, mean = per_call(lambda: prompts.get(FEATURE), rounds)
        row("get() from cache, no user id", f"median {fmt(med)}  p99 {fmt(p99)}  mean {fmt(mean)}")
        users = iter(range(10**9))
        med, p99, mean = per_call(lambda: prompts.get(CANARY_FEATURE, user_id=next(users)), rounds)
        row(
            "get() from cache, user id, feature with a canary",
            f"median {fmt(med)}  p99 {fmt(p99)}  mean {fmt(mean)}",
        )
        values = dict.fromkeys(prompts.get(FEATURE).variables, "x")
        med, p99, mean = per_call(lambda: prompts.get(FEATURE).render(**values), rounds // 4)
        row("get() + render()", f"median {fmt(med)}  p99 {fmt(p99)}")

    # first get()
    def first() -> None:
        with Prompts(url, refresh_interval=None, snapshot_path=tmp / "b.json") as client:
            client.get(FEATURE)

    samples = timed(first, 20)
    row(
        "first get(): Prompts(...) + get() (incl. snapshot write)",
        f"median {fmt(statistics.median(samples))}  max {fmt(max(samples))}",
    )

    # refresh cost
    with Prompts(url, refresh_interval=None, snapshot_path=tmp / "c.json") as client:
        samples = timed(client.refresh, 200)
        row("one refresh, nothing changed", f"median {fmt(statistics.median(samples))}")
        costs = []
        for _ in range(30):
            flip()
            start = time.perf_counter()
            changed = client.refresh()
            costs.append(time.perf_counter() - start)
            assert changed and client.get(FEATURE).version == number[0]
        row(
            "one refresh after one activation (incl. snapshot write)",
            f"median {fmt(statistics.median(costs))}",
        )
    with Prompts(url, refresh_interval=None, snapshot_path=False) as client:
        costs = []
        for _ in range(30):
            flip()
            start = time.perf_counter()
            client.refresh()
            costs.append(time.perf_counter() - start)
        row(
            "one refresh after one activation (no snapshot file)",
            f"median {fmt(statistics.median(costs))}",
        )

    # the approaches teams use today
    med, p99, _ = per_call(lambda: admin.version(FEATURE, "active"), max(200, rounds // 100))
    row("(a) query the store on every call", f"median {fmt(med)}  p99 {fmt(p99)}")
    ttl = TTLCache(admin)
    ttl.get(FEATURE)
    med, p99, _ = per_call(lambda: ttl.get(FEATURE), rounds)
    row("(b) 60 s TTL cache, hit", f"median {fmt(med)}  p99 {fmt(p99)}")

    # staleness after an activation
    for interval in (1.0, 0.1):
        seen = []
        with Prompts(url, refresh_interval=interval, snapshot_path=False) as client:
            rng = random.Random(7)
            for _ in range(staleness_rounds):
                time.sleep(rng.uniform(0, interval))  # land at a random refresh phase
                flip()
                start = time.monotonic()
                while client.get(FEATURE).version != number[0]:
                    time.sleep(0.0005)
                seen.append(time.monotonic() - start)
        row(
            f"staleness, promptdeck refresh_interval={interval:g} s ({len(seen)} activations)",
            f"mean {fmt(statistics.mean(seen))}  max {fmt(max(seen))}",
        )
    row("staleness, (a) query on every call", "0 (but every request pays the query)")
    phases = [random.Random(i).uniform(0, TTL) for i in range(10_000)]
    row(
        "staleness, (b) 60 s TTL cache (computed)",
        f"mean {fmt(statistics.mean(TTL - p for p in phases))}  max {fmt(TTL)}",
    )
    admin.close()


@contextmanager
def sqlite_store() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="pd-bench-") as directory:
        path = Path(directory) / "store.db"
        with PromptStore(path, user="bench") as store:
            store.import_documents(yamlio.read_files([ROOT / "sample_prompts"]))
            yield store.url


@contextmanager
def postgres_store() -> Iterator[str | None]:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from pgserver import PostgresServer, PostgresServerError, make_unsecured_store
    except ImportError as exc:  # pytest is not installed
        print(f"\n(PostgreSQL skipped: {exc})")
        yield None
        return
    try:
        server = PostgresServer().start()
    except (PostgresServerError, OSError) as exc:
        print(f"\n(PostgreSQL skipped: {exc})")
        yield None
        return
    try:
        url = server.create_database("bench")
        make_unsecured_store(url)  # a store without `init`'s roles: bench plays users
        with PromptStore(url, user="bench") as store:
            store.import_documents(yamlio.read_files([ROOT / "sample_prompts"]))
        yield url
    finally:
        server.destroy()


def big_store(path: Path, features: int) -> str:
    """A store of ``features`` features, two versions each, the first active."""
    documents = []
    for i in range(features):
        name = f"feature-{i:05d}"
        text = f"You are assistant {i}. " + "Answer {{question}} politely and precisely. " * 20
        versions = (
            VersionSpec(1, text, "claude-sonnet", {"max_tokens": 500, "temperature": 0.2}),
            VersionSpec(2, text + " v2", "claude-sonnet", {"max_tokens": 600}),
        )
        documents.append(FeatureDocument(name, versions, (Deployment(name, "production", 1),)))
    with PromptStore(path, user="bench") as store:
        store.import_documents(documents)
        return store.url


def bench_many(features: int, rounds: int) -> None:
    print(f"\n== {features:,} features (SQLite) ==")
    with tempfile.TemporaryDirectory(prefix="pd-bench-many-") as directory:
        started = time.perf_counter()
        url = big_store(Path(directory) / "store.db", features)
        print(f"  (store built in {time.perf_counter() - started:.0f} s)")
        admin = PromptStore(url, user="bench")
        snap = Path(directory) / "snap.json"
        number = [1]

        def flip() -> None:
            number[0] = 2 if number[0] == 1 else 1
            admin.activate("feature-00001", number[0], reason="bench")

        def refresh_costs(client: Prompts) -> list[float]:
            costs = []
            for _ in range(rounds):
                flip()
                start = time.perf_counter()
                assert client.refresh()
                costs.append(time.perf_counter() - start)
                flush = getattr(client, "flush_snapshot", None)
                if flush is not None:  # let the writer finish: the next round starts clean
                    flush()
            return costs

        with (
            Prompts(url, refresh_interval=None, snapshot_path=snap) as with_snapshot,
            Prompts(url, refresh_interval=None, snapshot_path=False) as without,
        ):
            on, off = [], []
            for _ in range(2):  # interleaved, so that load on the machine hits both
                on += refresh_costs(with_snapshot)
                off += refresh_costs(without)
        on_median, off_median = statistics.median(on), statistics.median(off)
        row(
            "refresh after one activation, snapshot on / off (floor)",
            f"{fmt(on_median)} / {fmt(off_median)}  = {on_median / off_median:.2f}x (goal <= 2x)",
        )
        try:
            from promptdeck.runtime_snapshot import SnapshotWriter

            with Prompts(url, refresh_interval=None, snapshot_path=False) as client:
                state = client._state
            writer = SnapshotWriter(Path(directory) / "w.json", lambda _error: None)
            writer.submit(state, "bench", "production")  # the first write encodes all
            writer.flush()
            name = "feature-00001"
            samples = []
            for i in range(rounds):
                entries = dict(state.entries)  # one feature changed, as after an activation
                entries[name] = dataclasses.replace(entries[name], revision=10**6 + i)
                changed = dataclasses.replace(state, entries=entries)
                start = time.perf_counter()
                writer.submit(changed, "bench", "production")
                writer.flush()
                samples.append(time.perf_counter() - start)
            row(
                "  snapshot write, off the refresh path (one feature changed)",
                f"median {fmt(statistics.median(samples))}",
            )
        except ImportError:  # an older promptdeck writes on the refresh path
            pass

        construct, floor = [], []
        for _ in range(max(3, rounds // 4)):
            start = time.perf_counter()
            client = Prompts(url, refresh_interval=None, snapshot_path=snap)
            construct.append(time.perf_counter() - start)
            client.close()  # finishes the snapshot write, not counted: it is off the path
            start = time.perf_counter()
            admin.serving()
            floor.append(time.perf_counter() - start)
        c_median, f_median = statistics.median(construct), statistics.median(floor)
        row(
            "Prompts() / PromptStore.serving() (floor: reading the data)",
            f"{fmt(c_median)} / {fmt(f_median)}  = {c_median / f_median:.2f}x "
            f"({c_median / 0.3:.2f}x the 0.3 s goal)",
        )
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument(
        "--features", type=int, default=10_000, help="size of the big store (0: skip it)"
    )
    args = parser.parse_args()
    rounds = 20_000 if args.quick else 200_000
    staleness_rounds = 3 if args.quick else 10
    print(f"python {sys.version.split()[0]}, {rounds} get() calls per figure")
    with sqlite_store() as url:
        bench(url, "SQLite (local file, WAL)", rounds, staleness_rounds)
    if not args.no_pg:
        with postgres_store() as pg_url:
            if pg_url is not None:
                bench(pg_url, "PostgreSQL (local server, TCP loopback)", rounds, staleness_rounds)
    if args.features:
        bench_many(args.features, 10 if args.quick else 30)


if __name__ == "__main__":
    main()
