"""A recording fleet: N processes, each recording outcomes into one PostgreSQL store.

Run with ``python bench/bench_metrics_fleet.py`` (``--processes 50 100 200``,
``--rate 1000`` outcomes per second per process, ``--seconds 20``, ``--interval 1``
seconds between flushes; the library's default interval is 10 s). A throwaway
PostgreSQL on loopback (tests/pgserver.py).

Each process is what an application's recording costs and nothing else: the parent
imports only the runtime (``promptdeck.runtime``: the store it reads and the recorder)
and forks the fleet, so the children share its pages; a child opens ``Prompts`` on the
store (one connection, the refresh thread, the recorder's flush thread), has it serve
the canary feature to 500 users up front, then runs a paced loop calling
``prompts.record(prompt, tokens_in=..., tokens_out=..., latency_ms=..., success=...,
scores=..., user_id=...)`` with values drawn beforehand (so the loop measures
``record()``, not a random number generator). Pacing is by the clock: a process that
falls behind catches up in bursts of at most 50, so "recorded/s" says what the
machine managed.

Per N it prints, over the recording window:

- recorded/s: outcomes record() accepted, all processes;
- rows/s: rows inserted or updated in the metric tables (``pg_stat_user_tables``
  deltas, the final flush included) and statements/s (``pg_stat_database`` commits);
- WAL KB/s (``pg_stat_wal``) and table growth (``pg_total_relation_size`` of the three
  metric tables, indexes and TOAST included);
- server CPU (utime + stime of every postgres process, /proc) and client CPU (the
  same for the N recording processes), each as a share of ONE core; the machine has
  ``os.cpu_count()`` of them, shared;
- write latency (each ``store.metrics.add``, timed inside the process) and flush latency
  (the recorder's sink: waiting for the process's one store connection, then the
  write; the refresh thread holds that connection while it waits for a NOTIFY, up to
  one refresh interval): median, p95, max, in ms;
- exact: whether the store's count of outcomes grew by exactly what record() accepted.

Floor, measured in the same run: the same N processes connected and idle (Prompts open,
refresh running, nothing recorded): the server and client CPU of merely being there.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
try:
    from promptdeck.runtime import Prompts
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from promptdeck.runtime import Prompts
from bench_fleet import postgres_cpu_seconds, process_cpu_seconds  # noqa: E402
from pgserver import PostgresServer, make_unsecured_store  # noqa: E402

from promptdeck.metrics.aggregate import AggregateRow  # noqa: E402

FEATURE = "customer-support"  # the sample with a canary (versions 5 and 6)
SAMPLES = ROOT / "sample_prompts"
METRIC_TABLES = ("metric_buckets", "metric_latency", "metric_scores")
USERS = 500
TICK = 0.01  # seconds between bursts
MAX_BURST = 50
WAVE = 25  # processes started (and connected) at a time


class TimedPrompts(Prompts):
    """Prompts that times each flush inside the process: the recorder's sink (which
    first waits for the process's one store connection) and the store write in it."""

    flush_seconds: list[float]
    write_seconds: list[float]

    def _write_metrics(self, rows: list[AggregateRow]) -> None:
        start = time.perf_counter()
        try:
            super()._write_metrics(rows)
        finally:
            self.flush_seconds.append(time.perf_counter() - start)

    def time_writes(self) -> None:
        store = self._store
        assert store is not None
        metrics = store.metrics
        add = metrics.add

        def timed_add(rows: Sequence[AggregateRow]) -> None:
            start = time.perf_counter()
            try:
                add(rows)
            finally:
                self.write_seconds.append(time.perf_counter() - start)

        metrics.add = timed_add  # type: ignore[method-assign]


def child(url: str, args: argparse.Namespace, record: bool, sync: Any, results: Any) -> None:
    ready, go, done, release = sync
    for _attempt in range(10):  # a loaded machine may time a connection out: try again
        prompts = TimedPrompts(
            url,
            refresh_interval=args.refresh,
            metrics_interval=args.interval,
            snapshot_path=False,
        )
        if prompts.status().source == "store":
            break
        prompts.close()
        time.sleep(1.0)
    else:
        raise SystemExit("could not connect in 10 tries")
    prompts.flush_seconds, prompts.write_seconds = [], []
    prompts.time_writes()
    rng = random.Random(os.getpid())
    served = [prompts.get(FEATURE, user_id=f"{os.getpid()}-{user}") for user in range(USERS)]
    draws = [
        (
            served[rng.randrange(USERS)],
            rng.randint(500, 1500),
            rng.randint(50, 400),
            rng.lognormvariate(6.5, 0.5),
            rng.random() < 0.9,
            {"grader": rng.random()},
            rng.randrange(USERS),
        )
        for _ in range(4096)
    ]
    ready.release()
    go.wait()
    recorded = 0
    start = time.monotonic()
    end = start + args.seconds
    now = start
    while record and now < end:
        due = min(int((now - start) * args.rate), recorded + MAX_BURST)
        while recorded < due:
            prompt, tokens_in, tokens_out, latency, success, scores, user = draws[recorded & 4095]
            prompts.record(
                prompt,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_ms=latency,
                success=success,
                scores=scores,
                user_id=user,
            )
            recorded += 1
        time.sleep(TICK)
        now = time.monotonic()
    if not record:
        time.sleep(args.seconds)
    done.release()
    release.wait()  # the parent reads the CPU figures while we still live
    status = prompts.status().metrics
    prompts.close()  # the last flush
    results.put(
        (
            recorded,
            status.recorded if status else 0,
            status.dropped_outcomes if status else 0,
            prompts.flush_seconds,
            prompts.write_seconds,
        )
    )


@dataclass
class Stats:
    rows: int
    commits: int
    wal: int
    size: int
    stored: int


def server_stats(server: PostgresServer, database: str) -> Stats:
    import psycopg

    with psycopg.connect(server.conninfo(database), autocommit=True) as connection:
        tables = list(METRIC_TABLES)
        rows = connection.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables "
            "WHERE relname = ANY(%s)",
            (tables,),
        ).fetchone()
        commits = connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        wal = connection.execute("SELECT wal_bytes FROM pg_stat_wal").fetchone()
        size = connection.execute(
            "SELECT sum(pg_total_relation_size(c)) FROM unnest(%s::regclass[]) AS c",
            (tables,),
        ).fetchone()
        stored = connection.execute("SELECT coalesce(sum(count), 0) FROM metric_buckets").fetchone()
    assert rows and commits and wal and size and stored
    return Stats(int(rows[0]), int(commits[0]), int(wal[0]), int(size[0]), int(stored[0]))


def pss_megabytes(pids: Sequence[int]) -> float:
    """Proportional set size of the processes (shared pages split between sharers)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Run:
    n: int
    seconds: float
    recorded: int
    accepted: int
    dropped: int
    before: Stats
    after: Stats
    server_cpu: float
    client_cpu: float
    pss_mb: float
    flushes: list[float]
    writes: list[float]


def fleet(
    server: PostgresServer, url: str, database: str, n: int, args: argparse.Namespace, record: bool
) -> Run:
    context = multiprocessing.get_context("fork")
    sync = (context.Semaphore(0), context.Event(), context.Semaphore(0), context.Event())
    ready, go, done, release = sync
    results = context.Queue()
    gc.collect()
    gc.freeze()  # the children do not dirty the parent's objects' pages by collecting them
    children = [
        context.Process(target=child, args=(url, args, record, sync, results)) for _ in range(n)
    ]
    for wave in range(0, n, WAVE):  # connect in waves, not all at once
        for process in children[wave : wave + WAVE]:
            process.start()
        for _ in children[wave : wave + WAVE]:
            ready.acquire()
    pids = [process.pid for process in children if process.pid is not None]
    time.sleep(1.5)  # statistics settle; every process is connected and served
    before = server_stats(server, database)
    server_cpu = postgres_cpu_seconds(server)
    client_cpu = sum(process_cpu_seconds(pid) for pid in pids)
    start = time.monotonic()
    go.set()
    for _ in children:
        done.acquire()
    elapsed = time.monotonic() - start
    server_cpu = postgres_cpu_seconds(server) - server_cpu
    client_cpu = sum(process_cpu_seconds(pid) for pid in pids) - client_cpu
    pss = pss_megabytes(pids)
    release.set()
    gathered = [results.get(timeout=120) for _ in children]
    for process in children:
        process.join(60)
        assert process.exitcode == 0, process.exitcode
    gc.unfreeze()
    time.sleep(1.5)  # backends report their table statistics at exit
    after = server_stats(server, database)
    return Run(
        n=n,
        seconds=elapsed,
        recorded=sum(result[0] for result in gathered),
        accepted=sum(result[1] for result in gathered),
        dropped=sum(result[2] for result in gathered),
        before=before,
        after=after,
        server_cpu=server_cpu / elapsed,
        client_cpu=client_cpu / elapsed,
        pss_mb=pss,
        flushes=[seconds for result in gathered for seconds in result[3]],
        writes=[seconds for result in gathered for seconds in result[4]],
    )


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def spread(samples: list[float]) -> str:
    """median/p95/max in ms."""
    if not samples:
        return "-"
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"{fmt_ms(statistics.median(ordered))}/{fmt_ms(p95)}/{fmt_ms(ordered[-1])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--rate", type=int, default=1000, help="outcomes per second per process")
    parser.add_argument("--seconds", type=float, default=20.0, help="recording window")
    parser.add_argument("--interval", type=float, default=1.0, help="flush interval (s)")
    parser.add_argument("--refresh", type=float, default=1.0, help="prompt refresh interval (s)")
    args = parser.parse_args()
    from promptdeck import yamlio
    from promptdeck.store import PromptStore

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; each process records "
        f"{args.rate:,} outcomes/s for {args.seconds:g} s, flushing every {args.interval:g} s"
    )
    with PostgresServer(max_connections=max(args.processes) + 30) as server:
        database = "bench_metrics_fleet"
        url = server.create_database(database)
        make_unsecured_store(url)  # a store without `init`'s roles: bench plays users
        with PromptStore(url, user="bench") as store:
            store.import_documents(yamlio.read_files([SAMPLES]))
        header = (
            f"{'N':>4} {'what':>6} {'asked/s':>9} {'recorded/s':>10} {'rows/s':>8} "
            f"{'stmts/s':>8} {'WAL KB/s':>9} {'table KB/s':>10} {'server CPU':>10} "
            f"{'client CPU':>10} {'µs/outcome':>10} {'write ms p50/p95/max':>20} "
            f"{'flush ms p50/p95/max':>21} "
            f"{'PSS MB':>7} exact"
        )
        print(header)
        for n in args.processes:
            for record in (False, True):
                run = fleet(server, url, database, n, args, record)
                seconds = run.seconds
                stored = run.after.stored - run.before.stored
                exact = "yes" if stored == run.accepted == run.recorded else "NO"
                client_us = run.client_cpu * seconds / run.recorded * 1e6 if run.recorded else 0.0
                print(
                    f"{n:>4} {'record' if record else 'idle':>6} "
                    f"{n * args.rate if record else 0:>9,} {run.recorded / seconds:>10,.0f} "
                    f"{(run.after.rows - run.before.rows) / seconds:>8,.0f} "
                    f"{(run.after.commits - run.before.commits) / seconds:>8,.0f} "
                    f"{(run.after.wal - run.before.wal) / seconds / 1024:>9,.0f} "
                    f"{(run.after.size - run.before.size) / seconds / 1024:>10,.0f} "
                    f"{run.server_cpu * 100:>9.0f}% {run.client_cpu * 100:>9.0f}% "
                    f"{client_us:>10.1f} {spread(run.writes):>20} {spread(run.flushes):>21} "
                    f"{run.pss_mb:>7,.0f} "
                    f"{exact if record else '-'}"
                    + (f" (stored {stored:,}, dropped {run.dropped:,})" if exact == "NO" else "")
                )
        print(
            "  (CPU: share of one core over the recording window; client: the N recording\n"
            "   processes, µs/outcome = their CPU / outcomes; idle: the same processes\n"
            "   connected and refreshing, recording nothing, the floor; rows/s, WAL and\n"
            "   table growth include the last flush at close; exact: the store's count grew\n"
            "   by exactly the outcomes record() accepted)"
        )


if __name__ == "__main__":
    main()
