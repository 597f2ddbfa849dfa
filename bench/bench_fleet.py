"""A fleet of runtime processes against one PostgreSQL, directly and through PgBouncer.

Run with ``python bench/bench_fleet.py`` (``--processes 50 100 200`` for bigger fleets;
the default is small so that it finishes in about a minute). Everything runs on
loopback in a throwaway server from tests/pgserver.py; PgBouncer (Debian package
``pgbouncer``) in transaction pooling mode in front of it for the second half.

For each fleet size and each way of connecting it prints, measured on the server:

- server connections held by the fleet (``pg_stat_activity``);
- transactions per second at idle (``pg_stat_database`` commits and rollbacks), per
  process: the runtime now reads in autocommit, so one transaction is one statement
  (an older runtime ran 3-4 statements in each: ping, BEGIN, reads, COMMIT);
- server CPU at idle (utime + stime of every postgres process, from /proc, plus the
  PgBouncer process when the fleet goes through it), per process;
- staleness after an activation: from the start of the ``activate()`` call to the
  moment each process swapped in the new version (recorded inside the process), median,
  p95 and max over all processes and rounds; "never" is longer than 1.5 intervals + 0.5 s.

Floors, measured in the same run: the idle server with no process at all (CPU and
statements), and the staleness of a fleet of one connected directly.

The children are forked from this process after the imports, so a fleet of 200 starts
in seconds and shares the interpreter's pages.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
try:
    from promptdeck import yamlio
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from promptdeck import yamlio
from pgserver import PgBouncer, PostgresServer, make_unsecured_store  # noqa: E402

from promptdeck.runtime import Prompts  # noqa: E402
from promptdeck.store import PromptStore  # noqa: E402

FEATURE = "translator"  # versions 1..3, 2 active
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Watched(Prompts):
    """A Prompts that notes when it swapped in a new version of FEATURE."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.seen: list[tuple[int, float]] = []
        super().__init__(*args, **kwargs)

    def _apply(self, revision: int, rows: list[Any], full: bool) -> bool:
        changed = super()._apply(revision, rows, full)
        served = self._state.entries.get(FEATURE)
        version = served.active.version if served and served.active else 0
        if not self.seen or self.seen[-1][0] != version:
            self.seen.append((version, time.monotonic()))
        return changed


def child(url: str, pooled: bool, interval: float, pipe: Connection) -> None:
    try:
        options = {"pooled": True} if pooled else {}  # an older promptdeck has no pooled=
        prompts = Watched(url, refresh_interval=interval, snapshot_path=False, **options)
    except Exception as exc:  # report, do not hang the parent
        pipe.send(("error", repr(exc)))
        return
    pipe.send(("ready", None))
    while True:
        command = pipe.recv()
        if command == "report":
            pipe.send(("seen", list(prompts.seen)))
        elif command == "status":
            pipe.send(("status", getattr(prompts.status(), "listening", None)))
        elif command == "stop":
            prompts.close()
            pipe.send(("stopped", None))
            return


def postgres_cpu_seconds(server: PostgresServer) -> float:
    """utime + stime of the postmaster and all its children, in seconds."""
    postmaster = int((server.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == postmaster or ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def process_cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def transactions(server: PostgresServer, database: str) -> int:
    with server.admin() as admin:
        row = admin.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


def connections(server: PostgresServer, database: str) -> int:
    with server.admin() as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


@dataclass
class Result:
    label: str
    processes: int
    connections: int
    listening: int
    statements_per_s: float
    cpu_per_s: float
    staleness: list[float]


def idle_load(
    server: PostgresServer, database: str, seconds: float, bouncer_pid: int | None = None
) -> tuple[float, float]:
    """(statements/s, server CPU s/s: PostgreSQL plus PgBouncer if given) over ``seconds``.

    Our own reads of the statistics are in the 'postgres' database, not counted.
    """

    def cpu() -> float:
        return postgres_cpu_seconds(server) + process_cpu_seconds(bouncer_pid)

    xacts, used, start = transactions(server, database), cpu(), time.time()
    time.sleep(seconds)
    elapsed = time.time() - start
    return (transactions(server, database) - xacts) / elapsed, (cpu() - used) / elapsed


@contextmanager
def fleet(n: int, url: str, pooled: bool, interval: float) -> Iterator[list[Connection]]:
    context = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    processes = []
    try:
        for _ in range(n):
            parent, child_end = context.Pipe()
            process = context.Process(target=child, args=(url, pooled, interval, child_end))
            process.start()
            pipes.append(parent)
            processes.append(process)
        for pipe in pipes:
            if not pipe.poll(120):
                raise RuntimeError("a runtime process did not start within 120 s")
            kind, detail = pipe.recv()
            if kind != "ready":
                raise RuntimeError(f"a runtime process failed: {detail}")
        yield pipes
    finally:
        for pipe in pipes:
            with suppress(OSError):
                pipe.send("stop")
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join()


def run(
    label: str,
    n: int,
    url: str,
    pooled: bool,
    bouncer: PgBouncer | None,
    server: PostgresServer,
    database: str,
    admin: PromptStore,
    interval: float,
    idle: float,
    rounds: int,
) -> Result:
    with fleet(n, url, pooled, interval) as pipes:
        time.sleep(min(2 * interval, 2.0))  # let every process connect (and LISTEN)
        listening = 0
        for pipe in pipes:
            pipe.send("status")
            listening += bool(pipe.recv()[1])
        admin.engine.dispose()  # count the fleet's connections only
        held = connections(server, database)
        bouncer_pid = bouncer.pid if bouncer is not None and pooled else None
        statements, cpu = idle_load(server, database, idle, bouncer_pid)
        staleness: list[float] = []
        for _ in range(rounds):
            target = 3 if admin.deployment(FEATURE).active == 2 else 2
            # From the start of the write: a process may swap before activate() returns.
            committed = time.monotonic()
            admin.activate(FEATURE, target, reason="fleet bench")
            time.sleep(interval * 1.5 + 0.5)
            for pipe in pipes:
                pipe.send("report")
            for pipe in pipes:
                _kind, seen = pipe.recv()
                times = [at for version, at in seen if version == target and at >= committed]
                staleness.append(times[0] - committed if times else float("inf"))
    if bouncer is not None and pooled:  # close its server connections before the next fleet
        bouncer.admin_command(f"KILL {database}")
        bouncer.admin_command(f"RESUME {database}")
    return Result(label, n, held, listening, statements, cpu, staleness)


def fmt_ms(seconds: float) -> str:
    return "never" if seconds == float("inf") else f"{seconds * 1000:.0f} ms"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[10, 25])
    parser.add_argument("--interval", type=float, default=1.0, help="refresh_interval (s)")
    parser.add_argument("--idle", type=float, default=5.0, help="idle window (s)")
    parser.add_argument("--rounds", type=int, default=5, help="activations per fleet")
    parser.add_argument("--pool-size", type=int, default=10, help="PgBouncer server pool")
    parser.add_argument("--no-bouncer", action="store_true", help="direct connections only")
    args = parser.parse_args()

    largest = max(args.processes)
    server = PostgresServer(max_connections=largest + 30).start()
    bouncer: PgBouncer | None = None
    try:
        database = "fleet"
        direct_url = server.create_database(database)
        make_unsecured_store(direct_url)  # a store without `init`'s roles: bench plays users
        with PromptStore(direct_url, user="bench") as store:
            store.import_documents(yamlio.read_files([ROOT / "sample_prompts"]))
        if not args.no_bouncer:
            try:
                bouncer = PgBouncer(server, pool_size=args.pool_size).start()
            except Exception as exc:  # not installed: direct only
                print(f"(PgBouncer skipped: {exc})")
        admin = PromptStore(direct_url, user="bench")
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, refresh_interval "
            f"{args.interval:g} s, idle window {args.idle:g} s, {args.rounds} activations"
        )
        floor_statements, floor_cpu = idle_load(server, database, args.idle)
        print(
            f"floor, idle server with no runtime: {floor_statements:.1f} statements/s, "
            f"{floor_cpu * 1000:.1f} ms CPU/s"
        )
        one = run(
            "direct",
            1,
            direct_url,
            False,
            None,
            server,
            database,
            admin,
            args.interval,
            args.idle,
            args.rounds,
        )
        floor_stale = statistics.median(one.staleness)
        print(f"floor, staleness of one process connected directly: {fmt_ms(floor_stale)}\n")
        header = (
            f"{'fleet':<22}{'server conns':>13}{'LISTEN':>7}{'xacts/s':>9}{'per proc':>9}"
            f"{'CPU ms/s':>9}{'per proc':>9}{'stale p50':>10}{'p95':>8}{'max':>8}"
            f"{'p50/floor':>10}"
        )
        print(header)
        results = [one]
        for n in args.processes:
            ways = [("direct", direct_url, False)]
            if bouncer is not None:
                ways.append(("pgbouncer", bouncer.url(database), True))
            for label, url, pooled in ways:
                results.append(
                    run(
                        label,
                        n,
                        url,
                        pooled,
                        bouncer,
                        server,
                        database,
                        admin,
                        args.interval,
                        args.idle,
                        args.rounds,
                    )
                )
        for result in results:
            stale = result.staleness
            median = statistics.median(stale)
            cpu = (result.cpu_per_s - floor_cpu) * 1000
            statements = result.statements_per_s - floor_statements
            print(
                f"{result.processes:>4} x {result.label:<15}"
                f"{result.connections:>13}{result.listening:>7}"
                f"{statements:>9.1f}{statements / result.processes:>9.2f}"
                f"{cpu:>9.1f}{cpu / result.processes:>9.2f}"
                f"{fmt_ms(median):>10}{fmt_ms(percentile(stale, 0.95)):>8}"
                f"{fmt_ms(max(stale)):>8}{median / floor_stale:>10.1f}"
            )
        admin.close()
    finally:
        if bouncer is not None:
            bouncer.stop()
        server.destroy()


if __name__ == "__main__":
    main()
