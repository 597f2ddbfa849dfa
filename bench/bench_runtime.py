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

Then, on a SQLite and a PostgreSQL store of ``--features`` features (10,000 by default),
the figures of issue 13 as ratios to their floors in the same run:

- ``Prompts()`` construction, against the bare query of every active deployment with the
  columns served, through the driver on an open connection (the floor: the data has to
  be read), in wall and in CPU time, and against the goal of 0.3 s;
- one refresh after one activation with the snapshot on (the default), against the same
  refresh with no snapshot (goal: within 2x); and the snapshot write itself, which runs
  on its own thread off the refresh path;
- get() calls per second in two threads while another process activates five times a
  second (each activation: a refresh and a snapshot write), against the same quiet, and
  the longest pause a get() thread saw.

``--sqlite-store PATH`` and ``--pg-url URL`` reuse big stores between runs (to compare
two versions of promptdeck on the same data: run this file with each on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import tempfile
import threading
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
def postgres_store(*, sample: bool = True) -> Iterator[str | None]:
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
        if sample:
            with PromptStore(url, user="bench") as store:
                store.import_documents(yamlio.read_files([ROOT / "sample_prompts"]))
        yield url
    finally:
        server.destroy()


def big_documents(features: int) -> list[FeatureDocument]:
    """``features`` features, two versions each, the first active in production."""
    documents = []
    for i in range(features):
        name = f"feature-{i:05d}"
        text = f"You are assistant {i}. " + "Answer {{question}} politely and precisely. " * 20
        versions = (
            VersionSpec(1, text, "claude-sonnet", {"max_tokens": 500, "temperature": 0.2}),
            VersionSpec(2, text + " v2", "claude-sonnet", {"max_tokens": 600}),
        )
        documents.append(FeatureDocument(name, versions, (Deployment(name, "production", 1),)))
    return documents


def big_store(location: str | Path, features: int) -> str:
    with PromptStore(location, user="bench") as store:
        store.import_documents(big_documents(features))
        return store.url


# The floor of a cold read: the bare query of every active deployment of the environment
# with the columns served, through the driver alone (no SQLAlchemy), on an open connection.
BARE_QUERY = (
    "SELECT f.name, d.canary_percent, d.revision, v.uid, v.number, v.system_prompt, "
    "v.model, CAST(v.parameters AS TEXT) FROM deployments d "
    "JOIN features f ON f.id = d.feature_id JOIN versions v ON v.id = d.active_version_id "
    "WHERE d.environment = 'production'"
)


def bare_query(raw: object) -> int:
    cursor = raw.cursor()  # type: ignore[attr-defined]
    cursor.execute(BARE_QUERY)
    count = len(cursor.fetchall())
    cursor.close()
    return count


ACTIVATOR = """
import sys, time
from promptdeck.store import PromptStore
store = PromptStore(sys.argv[1], user="activator", create=False)
number = store.deployment("feature-00002").active  # stores are reused between runs
sys.stdout.write("ready\\n"); sys.stdout.flush()
while sys.stdin.readline():
    number = 2 if number == 1 else 1
    store.activate("feature-00002", number, reason="bench")
    sys.stdout.write("done\\n"); sys.stdout.flush()
"""


def get_throughput(client: Prompts, url: str, seconds: float) -> None:
    """Two threads call get() nonstop; another process activates five times a second.

    Prints get() calls per second and the longest pause between two calls of one thread,
    quiet and then during the refreshes (and snapshot writes) the activations cause.
    """
    import subprocess

    activator = subprocess.Popen(
        [sys.executable, "-c", ACTIVATOR, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert activator.stdin is not None and activator.stdout is not None
    activator.stdout.readline()

    def window(activate: bool) -> tuple[float, float]:
        stop = threading.Event()
        counts = [0, 0]
        gaps = [0.0, 0.0]

        def spin(index: int) -> None:
            clock = time.perf_counter
            last = clock()
            n = 0
            worst = 0.0
            while not stop.is_set():
                client.get("feature-00003")
                now = clock()
                worst = max(worst, now - last)
                last = now
                n += 1
            counts[index], gaps[index] = n, worst

        threads = [threading.Thread(target=spin, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            if activate:
                activator.stdin.write("go\n")  # type: ignore[union-attr]
                activator.stdin.flush()  # type: ignore[union-attr]
                if activator.stdout.readline() != "done\n":  # type: ignore[union-attr]
                    raise RuntimeError("the activating process failed (see above)")
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join()
        return sum(counts) / (time.perf_counter() - started), max(gaps)

    try:
        quiet, quiet_gap = window(False)
        busy, busy_gap = window(True)
        quiet2, quiet_gap2 = window(False)
    finally:
        activator.stdin.close()
        activator.wait()
    quiet, quiet_gap = (quiet + quiet2) / 2, max(quiet_gap, quiet_gap2)
    row(
        "get() calls/s, 2 threads: during refreshes / quiet (floor)",
        f"{busy / 1e6:.2f}M / {quiet / 1e6:.2f}M = {busy / quiet:.2f}x",
    )
    row(
        "longest pause of a get() thread: during refreshes / quiet",
        f"{fmt(busy_gap)} / {fmt(quiet_gap)}",
    )


def bench_many(url: str, label: str, features: int, rounds: int, directory: Path) -> None:
    print(f"\n== {features:,} features ({label}) ==")
    admin = PromptStore(url, user="bench")
    snap = directory / f"snap-{label.split()[0]}.json"
    number = [admin.deployment("feature-00001").active or 1]  # stores are reused

    def flip() -> None:
        number[0] = 2 if number[0] == 1 else 1
        admin.activate("feature-00001", number[0], reason="bench")

    cpu_costs: dict[int, list[float]] = {}  # id(client) -> this thread's CPU per refresh

    def refresh_costs(client: Prompts) -> list[float]:
        costs = []
        for _ in range(rounds):
            flip()
            start, cpu = time.perf_counter(), time.thread_time()
            assert client.refresh()
            costs.append(time.perf_counter() - start)
            cpu_costs.setdefault(id(client), []).append(time.thread_time() - cpu)
            flush = getattr(client, "flush_snapshot", None)
            if flush is not None:  # let the writer finish: the next round starts clean
                flush()
        return costs

    # Prompts() construction against the bare query, interleaved.
    raw = admin.engine.raw_connection()
    assert bare_query(raw) == features
    Prompts(url, refresh_interval=None, snapshot_path=snap).close()  # warm: compiled SQL
    # Wall time, and this thread's CPU time, which a machine loaded by others inflates less.
    construct, floor, serving, construct_cpu, floor_cpu = [], [], [], [], []
    for _ in range(max(5, rounds // 2)):
        start, cpu = time.perf_counter(), time.thread_time()
        client = Prompts(url, refresh_interval=None, snapshot_path=snap)
        construct.append(time.perf_counter() - start)
        construct_cpu.append(time.thread_time() - cpu)
        assert client.status().features == features
        client.close()  # finishes the snapshot write, not counted: it is off the path
        start, cpu = time.perf_counter(), time.thread_time()
        bare_query(raw)
        floor.append(time.perf_counter() - start)
        floor_cpu.append(time.thread_time() - cpu)
        start = time.perf_counter()
        admin.serving()
        serving.append(time.perf_counter() - start)
    raw.close()
    c_median, f_median = statistics.median(construct), statistics.median(floor)
    row(
        "Prompts() / bare query of the active deployments (floor)",
        f"{fmt(c_median)} / {fmt(f_median)} = {c_median / f_median:.2f}x "
        f"(min {fmt(min(construct))}, max {fmt(max(construct))}; "
        f"goal 0.3 s: {c_median / 0.3:.2f}x)",
    )
    c_cpu, f_cpu = statistics.median(construct_cpu), statistics.median(floor_cpu)
    row(
        "  the same in this thread's CPU time",
        f"{fmt(c_cpu)} / {fmt(f_cpu)} = {c_cpu / f_cpu:.2f}x",
    )
    s_median = statistics.median(serving)
    row(
        "  for reference: PromptStore.serving() (full Version records)",
        f"{fmt(s_median)} = {s_median / f_median:.2f}x the floor",
    )

    with (
        Prompts(url, refresh_interval=None, snapshot_path=snap) as with_snapshot,
        Prompts(url, refresh_interval=None, snapshot_path=False) as without,
    ):
        with_snapshot.flush_snapshot()
        on, off = [], []
        for _ in range(2):  # interleaved, so that load on the machine hits both
            on += refresh_costs(with_snapshot)
            off += refresh_costs(without)
        on_cpu = statistics.median(cpu_costs[id(with_snapshot)])
        off_cpu = statistics.median(cpu_costs[id(without)])
    on_median, off_median = statistics.median(on), statistics.median(off)
    row(
        "refresh after one activation, snapshot on / off (floor)",
        f"{fmt(on_median)} / {fmt(off_median)} = {on_median / off_median:.2f}x (goal <= 2x)",
    )
    row(
        "  the same in the refreshing thread's CPU time",
        f"{fmt(on_cpu)} / {fmt(off_cpu)} = {on_cpu / off_cpu:.2f}x",
    )
    try:
        from promptdeck.runtime_snapshot import SnapshotWriter, _Job

        def _job(state: object) -> _Job:
            return _Job(state, "bench", "production")  # type: ignore[arg-type]

        with Prompts(url, refresh_interval=None, snapshot_path=False) as client:
            state = client._state
        writer = SnapshotWriter(directory / "w.json", lambda _error: None)
        start = time.perf_counter()
        writer.submit(state, "bench", "production")  # the first write encodes all
        writer.flush()
        first = time.perf_counter() - start
        name = "feature-00001"
        samples, encoding = [], []
        for i in range(rounds):
            entries = dict(state.entries)  # one feature changed, as after an activation
            entries[name] = dataclasses.replace(entries[name], revision=10**6 + i)
            changed = dataclasses.replace(state, entries=entries)
            start = time.perf_counter()
            writer.submit(changed, "bench", "production")
            writer.flush()
            samples.append(time.perf_counter() - start)
            # Encoding and hashing, in CPU time (hashing releases the GIL; writing is I/O):
            entries[name] = dataclasses.replace(entries[name], revision=2 * 10**6 + i)
            encode = getattr(writer, "chunks", writer.encode)  # an older writer: encode()
            cpu = time.thread_time()
            encode(_job(dataclasses.replace(state, entries=entries)))
            encoding.append(time.thread_time() - cpu)
        row(
            "  snapshot write on its own thread: first (all) / one feature changed",
            f"{fmt(first)} / {fmt(statistics.median(samples))}",
        )
        row(
            "  of which encoding and hashing (CPU time), one feature changed",
            f"{fmt(statistics.median(encoding))}",
        )
    except ImportError:  # an older promptdeck writes on the refresh path
        pass

    with Prompts(url, refresh_interval=0.05, snapshot_path=snap) as client:
        client.flush_snapshot()
        get_throughput(client, url, 2.0)
    admin.close()


def has_features(url: str, features: int) -> bool:
    """Whether the store at ``url`` already holds the big store (reused between runs)."""
    try:
        with PromptStore(url, user="bench", create=False, migrate=False) as store:
            return len(store.serving()[1]) == features
    except Exception:  # missing, empty or older: build it
        return False


def big(features: int, rounds: int, with_pg: bool, sqlite: str | None, pg: str | None) -> None:
    """The big-store figures; ``sqlite`` / ``pg``: stores to reuse (built if empty)."""
    with tempfile.TemporaryDirectory(prefix="pd-bench-many-") as name:
        directory = Path(name)
        location = sqlite or str(directory / "store.db")
        url = f"sqlite:///{Path(location).resolve()}"
        if not has_features(url, features):
            started = time.perf_counter()
            big_store(location, features)
            took = time.perf_counter() - started
            print(f"\n(SQLite store of {features:,} features built in {took:.0f} s)")
        bench_many(url, "SQLite", features, rounds, directory)
        if pg is not None:
            if not has_features(pg, features):
                big_store(pg, features)
            bench_many(pg, "PostgreSQL", features, rounds, directory)
            return
        if not with_pg:
            return
        with postgres_store(sample=False) as pg_url:
            if pg_url is None:
                return
            started = time.perf_counter()
            big_store(pg_url, features)
            print(f"\n(PostgreSQL store built in {time.perf_counter() - started:.0f} s)")
            bench_many(pg_url, "PostgreSQL", features, rounds, directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--big-only", action="store_true", help="only the big-store figures")
    parser.add_argument("--sqlite-store", help="big SQLite store file to reuse (built if empty)")
    parser.add_argument("--pg-url", help="big PostgreSQL store to reuse (built if empty)")
    parser.add_argument(
        "--features", type=int, default=10_000, help="size of the big store (0: skip it)"
    )
    args = parser.parse_args()
    rounds = 20_000 if args.quick else 200_000
    staleness_rounds = 3 if args.quick else 10
    print(f"python {sys.version.split()[0]}, {rounds} get() calls per figure")
    if not args.big_only:
        with sqlite_store() as url:
            bench(url, "SQLite (local file, WAL)", rounds, staleness_rounds)
    if not args.no_pg and not args.big_only:
        with postgres_store() as pg_url:
            if pg_url is not None:
                bench(pg_url, "PostgreSQL (local server, TCP loopback)", rounds, staleness_rounds)
    if args.features:
        rounds = 10 if args.quick else 30
        big(args.features, rounds, not args.no_pg, args.sqlite_store, args.pg_url)


if __name__ == "__main__":
    main()
