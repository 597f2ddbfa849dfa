"""Benchmark of the store side of metrics: ``store.metrics.add`` and a recording fleet.

Run with ``python bench/bench_metrics_store.py`` (``--processes 20 50``, ``--seconds``,
``--rate``, ``--quick``). Starts its own PostgreSQL on loopback (tests/pgserver.py).

1. Flush cost per batch, on SQLite and PostgreSQL: one ``add()`` of K keys (each key with
   ~34 latency buckets and two scores, as a busy minute looks), against two floors
   measured in the same run: one transaction inserting one plain row on the same engine
   (a round trip), and the same rows written the fastest plain way (COPY on PostgreSQL,
   executemany on SQLite) into scratch tables without keys (what writing them costs
   with no upsert at all).
2. A fleet: N processes, each a Recorder (the runtime's, ``interval`` s flushes) recording
   ``rate`` outcomes a second over 4 versions, against one PostgreSQL, for ``seconds``:
   rows written per second (``pg_stat_user_tables`` inserts + updates of the metric
   tables), WAL bytes per second (``pg_stat_wal``), and server CPU (utime + stime of
   every postgres process, /proc). Floor: the same N processes each committing one
   trivial transaction per interval (the least a per-interval flush can cost).

Best of several rounds for (1); the ratios travel better than the times. The fleet in
(2) writes through PromptStore directly; bench_metrics_fleet.py runs the fleet through the
runtime (``Prompts.record()``), as an application does, with client CPU and latencies.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
try:
    from promptdeck.store import PromptStore
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from promptdeck.store import PromptStore
from bench_fleet import postgres_cpu_seconds  # noqa: E402
from pgserver import PostgresServer, make_unsecured_store  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402

from promptdeck.metrics.aggregate import Aggregate, AggregateRow, merge_rows  # noqa: E402
from promptdeck.metrics.outcome import Outcome  # noqa: E402
from promptdeck.metrics.recorder import Recorder  # noqa: E402
from promptdeck.store.engine import WRITE_OPTION  # noqa: E402
from promptdeck.store.metrics import table_rows  # noqa: E402

METRIC_TABLES = ("metric_buckets", "metric_latency", "metric_scores")


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.2f} ms"


def batch(keys: int, bucket: int, rng: random.Random) -> list[AggregateRow]:
    aggregate = Aggregate(max_keys=keys + 1)
    for key in range(keys):
        for _ in range(60):
            aggregate.add(
                Outcome(
                    feature=f"feature-{key // 4}",
                    environment="production",
                    version=key % 4 + 1,
                    version_uid=f"uid-{key}",
                    model="m",
                    tokens_in=rng.randint(500, 1500),
                    tokens_out=rng.randint(50, 400),
                    latency_ms=rng.lognormvariate(6.5, 0.5),
                    cost=0.001,
                    success=rng.random() < 0.9,
                    scores={"grader": rng.random(), "thumbs": 1.0},
                    user_id=str(rng.randint(0, 10_000)),
                    at=bucket,
                ),
                bucket,
            )
    return aggregate.rows()


def copy_floor(store: PromptStore, rows: list[AggregateRow]) -> float:
    """The same rows written the fastest plain way, in one transaction, into scratch
    tables shaped like the metric tables but without keys: COPY on PostgreSQL,
    executemany on SQLite."""
    tables = table_rows(store.metrics.origin(), merge_rows(rows))
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        postgres = store.engine.dialect.name == "postgresql"
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS scratch_{table.name}")
            if postgres:
                cursor.execute(f"CREATE TABLE scratch_{table.name} (LIKE {table.name})")
            else:
                cursor.execute(
                    f"CREATE TABLE scratch_{table.name} AS SELECT * FROM {table.name} WHERE 0"
                )
        raw.commit()
        start = time.perf_counter()
        if not postgres:  # the engine runs SQLite in autocommit and sends BEGIN itself
            cursor.execute("BEGIN")
        for table, values in tables.items():
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            if postgres:
                with cursor.copy(f"COPY scratch_{table.name} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for value in values:
                        copy.write_row(value)
            else:
                marks = ", ".join("?" * len(table.columns))
                cursor.executemany(f"INSERT INTO scratch_{table.name} VALUES ({marks})", values)
        raw.commit()
        return time.perf_counter() - start
    finally:
        raw.close()


def per_row_upsert(store: PromptStore, rows: list[AggregateRow]) -> float:
    """The previous flush, for comparison in the same run: the same upsert sent as
    executemany (one INSERT ... ON CONFLICT per row), into a copy of the origin."""
    tables = table_rows(f"old-{time.monotonic_ns()}"[:36], merge_rows(rows))
    dialect = store.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    start = time.perf_counter()
    with store.engine.connect() as connection:
        options: dict[str, Any] = (
            {"isolation_level": "READ COMMITTED"}
            if dialect == "postgresql"
            else {WRITE_OPTION: True}
        )
        connection = connection.execution_options(**options)
        with connection.begin():
            for table, values in tables.items():
                statement = insert(table)
                key = {column.name for column in table.primary_key.columns}
                updates = {
                    column.name: column + statement.excluded[column.name]
                    for column in table.columns
                    if column.name not in key and column.name != "version"
                }  # the OR of the user words does not change what this costs
                names = [column.name for column in table.columns]
                connection.execute(
                    statement.on_conflict_do_update(index_elements=sorted(key), set_=updates),
                    [dict(zip(names, value, strict=True)) for value in values],
                )
    return time.perf_counter() - start


def flush_costs(url: str, label: str, rounds: int) -> None:
    rng = random.Random(1)
    with PromptStore(url, user="bench") as store:
        with store.engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS bench_floor (n INTEGER)"))
        best_floor = float("inf")
        for _ in range(rounds * 5):
            start = time.perf_counter()
            with store.engine.begin() as connection:
                connection.execute(text("INSERT INTO bench_floor (n) VALUES (1)"))
            best_floor = min(best_floor, time.perf_counter() - start)
        copy = "COPY" if store.engine.dialect.name == "postgresql" else "executemany"
        print(f"\n{label}: floor 1: one transaction, one plain row: {fmt(best_floor)}")
        print(f"  floor 2: the same rows by {copy} into tables without keys, one transaction")
        print("  before: the same rows as one INSERT ... ON CONFLICT per row (executemany)")
        print(
            f"{'keys per batch':>15} {'rows':>7} {'add()':>10} {'per key':>10} "
            f"{'x floor 1':>9} {'floor 2':>10} {'x floor 2':>9} {'before':>10} {'x floor 2':>9}"
        )
        for keys in (1, 10, 100, 1000):
            best = best_copy = best_before = float("inf")
            written = 0
            for round_ in range(rounds):
                rows = batch(keys, 60 * (round_ + 1), rng)
                written = sum(len(v) for v in table_rows("o", merge_rows(rows)).values())
                start = time.perf_counter()
                store.metrics.add(rows)
                best = min(best, time.perf_counter() - start)
                best_copy = min(best_copy, copy_floor(store, rows))
                best_before = min(best_before, per_row_upsert(store, rows))
            print(
                f"{keys:>15,} {written:>7,} {fmt(best):>10} {fmt(best / keys):>10} "
                f"{best / best_floor:>8.1f}x {fmt(best_copy):>10} {best / best_copy:>8.1f}x "
                f"{fmt(best_before):>10} {best_before / best_copy:>8.1f}x"
            )


def recording_child(
    url: str, rate: int, seconds: float, interval: float, floor: bool, sync: Any
) -> None:
    ready, go, done, release = sync
    store = PromptStore(url, user="bench", create=False, migrate=False)
    with store.engine.connect():
        pass  # connected before the clock starts
    ready.release()
    go.wait()
    try:
        _record(store, rate, seconds, interval, floor)
    finally:
        done.release()
        release.wait()  # the parent reads the server's CPU while our backend still lives
        store.close()


def _record(store: PromptStore, rate: int, seconds: float, interval: float, floor: bool) -> None:
    if floor:

        def sink(rows: list[AggregateRow]) -> None:
            with store.engine.begin() as connection:
                connection.execute(text("SELECT 1"))

        sink([])
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(interval)
            sink([])
        return

    class Served:
        def __init__(self, version: int) -> None:
            self.feature, self.version, self.uid, self.model = (
                "support",
                version,
                f"u{version}",
                "m",
            )

    served = [Served(version) for version in range(1, 5)]
    recorder = Recorder(store.metrics.add, interval=interval)
    rng = random.Random(os.getpid())
    end = time.monotonic() + seconds
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    while time.monotonic() < end:
        started = time.monotonic()
        for _ in range(per_tick):
            recorder.record(
                served[rng.randrange(4)],
                environment="production",
                tokens_in=rng.randint(500, 1500),
                tokens_out=rng.randint(50, 400),
                latency_ms=rng.lognormvariate(6.5, 0.5),
                success=rng.random() < 0.9,
                scores={"grader": rng.random()},
                user_id=rng.randint(0, 100_000),
            )
        time.sleep(max(0.0, tick - (time.monotonic() - started)))
    recorder.close()


def table_writes(server: PostgresServer, database: str) -> tuple[int, int, int]:
    """Rows inserted or updated in the metric tables, WAL bytes, outcomes stored."""
    import psycopg

    with psycopg.connect(server.conninfo(database), autocommit=True) as connection:
        stored = connection.execute("SELECT coalesce(sum(count), 0) FROM metric_buckets").fetchone()
        row = connection.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables "
            "WHERE relname = ANY(%s)",
            (list(METRIC_TABLES),),
        ).fetchone()
        wal = connection.execute("SELECT wal_bytes FROM pg_stat_wal").fetchone()
    return (
        int(row[0]) if row else 0,
        int(wal[0]) if wal else 0,
        int(stored[0]) if stored else 0,
    )


def fleet(
    server: PostgresServer, url: str, database: str, n: int, args: argparse.Namespace, floor: bool
) -> tuple[float, float, float, float]:
    context = multiprocessing.get_context("fork")
    sync = (context.Semaphore(0), context.Event(), context.Semaphore(0), context.Event())
    ready, go, done, release = sync
    children = [
        context.Process(
            target=recording_child,
            args=(url, args.rate, args.seconds, args.interval, floor, sync),
        )
        for _ in range(n)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.acquire()
    time.sleep(1.0)  # let the statistics settle
    writes, wal, stored = table_writes(server, database)
    cpu, start = postgres_cpu_seconds(server), time.monotonic()
    go.set()
    for _ in children:
        done.acquire()
    elapsed = time.monotonic() - start
    cpu_used = postgres_cpu_seconds(server) - cpu
    release.set()
    for child in children:
        child.join()
        assert child.exitcode == 0, child.exitcode
    time.sleep(1.0)  # backends flush their table statistics at exit
    writes_after, wal_after, stored_after = table_writes(server, database)
    return (
        (writes_after - writes) / elapsed,
        (wal_after - wal) / elapsed,
        cpu_used / elapsed,
        (stored_after - stored) / elapsed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[20])
    parser.add_argument("--rate", type=int, default=1000, help="outcomes per second per process")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0, help="flush interval (s)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter fleets")
    parser.add_argument("--flush-only", action="store_true", help="skip the fleet")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    if args.quick:
        args.seconds = min(args.seconds, 5.0)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with PostgresServer() as server, tempfile.TemporaryDirectory() as tmp:
        flush_costs(str(Path(tmp) / "bench.db"), "SQLite", rounds)
        database = "bench_metrics"
        url = server.create_database(database)
        make_unsecured_store(url)  # a store without `init`'s roles: bench plays users
        flush_costs(url, "PostgreSQL", rounds)
        if args.flush_only:
            return
        print(
            f"\nfleet: each process records {args.rate:,} outcomes/s over 4 versions, "
            f"flushing every {args.interval:g} s, for {args.seconds:g} s"
        )
        print(
            f"{'processes':>9} {'asked/s':>11} {'stored/s':>11} {'rows/s':>8} {'WAL KB/s':>9} "
            f"{'server CPU':>11} {'ms/1k rows':>10} {'floor CPU':>10} {'x floor':>8}"
        )
        for n in args.processes:
            _, _, floor_cpu, _ = fleet(server, url, database, n, args, floor=True)
            rows, wal, cpu, stored = fleet(server, url, database, n, args, floor=False)
            ratio = f"{cpu / floor_cpu:>7.1f}x" if floor_cpu >= 0.005 else "    n/a"
            per_krow = cpu * 1000 / rows * 1000 if rows else 0.0
            print(
                f"{n:>9} {n * args.rate:>11,} {stored:>11,.0f} {rows:>8,.0f} {wal / 1024:>9,.0f} "
                f"{cpu * 100:>10.1f}% {per_krow:>10.1f} {floor_cpu * 100:>9.1f}% {ratio}"
            )
        print("  (per second of recording, processes connected beforehand; stored/s: outcomes")
        print("   in the store, the last flush included; server CPU: share of one core; floor:")
        print("   the same processes each committing one trivial transaction per interval;")
        print("   n/a when the floor is below what /proc's clock ticks can measure)")


if __name__ == "__main__":
    main()
