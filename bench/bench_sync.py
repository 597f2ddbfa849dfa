"""Benchmark of promptdeck.sync against PostgreSQL on loopback.

Run with ``python bench/bench_sync.py`` (``--versions N``, ``--features N``). The
remote is ``--remote URL`` (or PROMPTDECK_BENCH_REMOTE); without one, a throwaway
PostgreSQL server is started with tests/pgserver.py. Local stores are SQLite files in
a temporary directory.

Figures: push of N versions to an empty remote; push and status with nothing to do
(the O(1) path); status and push after one local change (a full comparison); pull of
everything into a fresh local store.

``--pointers F`` (issue 13): the cost of moving active versions, as ratios to a floor
measured in the same run. A store of F single-version features, each with an active
version, is pushed to an empty database with ``--versions-only`` (the floor: the same
rows, no pointer moves) and to another in full; then each is pulled into a fresh local
store (the floor: pulling the database that holds no active versions). Statements sent
are counted. Each figure is the median of ``--rounds`` rounds (fresh databases each
round, floor and full interleaved, their order alternating), since the machine is
shared. Then the same with production protected on both sides and every version
approved (the approvals travel with the run; the remote's gate reads them before the
moves: the floor sends the approvals too). Goal: full within 2x of the floor. Needs
the throwaway server (tests/pgserver.py): each round creates databases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if (ROOT / "src" / "promptdeck").is_dir():  # run from the source tree: prefer it
    sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import event, insert, select  # noqa: E402

from promptdeck import sync  # noqa: E402
from promptdeck.records import content_hash  # noqa: E402
from promptdeck.store import PromptStore  # noqa: E402
from promptdeck.store.rows import AuditEventRow, FeatureRow, ReviewRow, VersionRow  # noqa: E402

T = TypeVar("T")


def build_local(path: Path, features: int, versions: int) -> PromptStore:
    """A local store with ``versions`` versions spread over ``features`` features, each
    version with its creation event and each feature with an active version (so
    pointer moves are pushed too)."""
    store = PromptStore(path, user="bench")
    per_feature = max(1, versions // features)
    now = datetime.now(UTC)
    with store.unit_of_work() as work:
        session = work.session
        session.execute(
            insert(FeatureRow),
            [
                {"name": f"feature-{f:04d}", "created_at": now, "created_by": "bench"}
                for f in range(features)
            ],
        )
    with store.unit_of_work() as work:
        session = work.session
        ids = {name: fid for name, fid in session.execute(select(FeatureRow.name, FeatureRow.id))}
        rows: list[dict[str, Any]] = []
        for f in range(features):
            for n in range(1, per_feature + 1):
                text = (
                    f"You are the assistant for feature {f}. Version {n}.\n"
                    "Answer politely, cite the knowledge base, never invent facts.\n" * 4
                )
                rows.append(
                    {
                        "uid": str(uuid.uuid4()),
                        "feature_id": ids[f"feature-{f:04d}"],
                        "number": n,
                        "system_prompt": text,
                        "model": "gpt-4o",
                        "parameters": {"temperature": 0.2},
                        "author": "bench",
                        "reason": f"step {n}",
                        "created_at": now,
                        "parent_number": n - 1 or None,
                        "content_hash": content_hash(text, "gpt-4o", {"temperature": 0.2}),
                    }
                )
        session.execute(insert(VersionRow), rows)
        # The audit event each version has in a store made by `new` and `save`: the
        # floor (--versions-only) carries these too, as it does for a real store.
        names = {fid: name for name, fid in ids.items()}
        session.execute(
            insert(AuditEventRow),
            [
                {
                    "uid": str(uuid.uuid4()),
                    "at": now,
                    "actor": "bench",
                    "action": "create-feature" if row["number"] == 1 else "create",
                    "feature": names[row["feature_id"]],
                    "environment": None,
                    "from_version": row["parent_number"],
                    "to_version": row["number"],
                    "reason": row["reason"],
                    "details": {},
                }
                for row in rows
            ],
        )
    for f in range(features):
        store.activate(f"feature-{f:04d}", per_feature, reason="bench")
    return store


def timed(label: str, function: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = function()
    elapsed = time.perf_counter() - started
    print(f"{label:<48} {elapsed * 1000:9.1f} ms")
    return value


@contextmanager
def remote_database(option: str | None, name: str = "bench_sync") -> Iterator[str]:
    url = option or os.environ.get("PROMPTDECK_BENCH_REMOTE")
    if url:
        yield url
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import PostgresServer, make_unsecured_store

    with PostgresServer() as server:
        url = server.create_database(name)
        make_unsecured_store(url)  # sync never creates a remote; the bench plays users
        yield url


@contextmanager
def counted(store: PromptStore) -> Iterator[list[int]]:
    """Count the statements ``store``'s engine sends while the block runs."""
    count = [0]

    def one(*_args: Any) -> None:
        count[0] += 1

    event.listen(store.engine, "before_cursor_execute", one)
    try:
        yield count
    finally:
        event.remove(store.engine, "before_cursor_execute", one)


last_cpu = [0.0]  # the CPU time of the last ``measure``


def measure(label: str, store: PromptStore, function: Callable[[], T]) -> tuple[float, int, T]:
    with counted(store) as count:
        started, cpu_started = time.perf_counter(), time.process_time()
        value = function()
        elapsed = time.perf_counter() - started
        last_cpu[0] = time.process_time() - cpu_started
    print(
        f"{label:<48} {elapsed * 1000:9.1f} ms {count[0]:7d} statements "
        f"({last_cpu[0] * 1000:.0f} ms CPU here)"
    )
    return elapsed, count[0], value


def approve_all(store: PromptStore) -> None:
    """Every version approved by a reviewer, then production protected: what a team
    with a protected production pushes."""
    now = datetime.now(UTC)
    with store.unit_of_work() as work:
        ids = list(work.session.scalars(select(VersionRow.id)))
        work.session.execute(
            insert(ReviewRow),
            [
                {
                    "uid": str(uuid.uuid4()),
                    "version_id": version_id,
                    "kind": "approve",
                    "actor": "reviewer",
                    "comment": "fine",
                    "created_at": now,
                }
                for version_id in ids
            ],
        )
    store.governance.protect_environment("production")


def pointers(tmp: Path, server: Any, features: int, rounds: int) -> None:
    """Full push and pull of F single-version active features vs the versions-only floor,
    without and with a protected production."""
    from pgserver import make_unsecured_store  # tests/ is on the path (main)

    for protected in (False, True):
        local = build_local(tmp / f"pointers-{protected}.db", features, features)
        if protected:
            approve_all(local)
        label = "protected production" if protected else "unprotected"
        times: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}  # this process's CPU time: the load cannot inflate it
        statements: dict[str, int] = {}
        for round_number in range(rounds):
            order = ("floor", "full") if round_number % 2 == 0 else ("full", "floor")
            remotes: dict[str, PromptStore] = {}
            for kind in order:
                url = server.create_database(f"bench_{kind}_{int(protected)}_{round_number}")
                make_unsecured_store(url)  # sync never creates a remote
                with PromptStore(url, user="bench") as empty:
                    if protected:
                        empty.governance.protect_environment("production")
                remote = remotes[kind] = sync.open_remote(local, url)
                elapsed, count, result = measure(
                    f"  round {round_number + 1}: push {kind}",
                    remote,
                    lambda s=local, r=remote, k=kind: sync.push(s, r, versions_only=k == "floor"),
                )
                if kind == "full":
                    assert len(result.moves) == features, result.summary()
                times.setdefault(f"push {kind}", []).append(elapsed)
                cpu.setdefault(f"push {kind}", []).append(last_cpu[0])
                statements[f"push {kind}"] = count
            for kind in order:
                fresh = PromptStore(tmp / f"pull-{kind}-{protected}-{round_number}.db", user="b")
                elapsed, count, result = measure(
                    f"  round {round_number + 1}: pull {kind}",
                    fresh,
                    lambda f=fresh, r=remotes[kind]: sync.pull(f, r),
                )
                times.setdefault(f"pull {kind}", []).append(elapsed)
                cpu.setdefault(f"pull {kind}", []).append(last_cpu[0])
                statements[f"pull {kind}"] = count
                fresh.close()
            for remote in remotes.values():
                remote.close()
        local.close()
        for direction in ("push", "pull"):
            floors, fulls = times[f"{direction} floor"], times[f"{direction} full"]
            ratios = sorted(full / floor for full, floor in zip(fulls, floors, strict=True))
            print(
                f"{direction}, {features} features, {label}: full / floor (--versions-only) "
                f"{statistics.median(ratios):.2f}x, median of {rounds} paired rounds "
                f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}; medians "
                f"{statistics.median(fulls) * 1000:.0f} / {statistics.median(floors) * 1000:.0f}"
                f" ms; {statements[f'{direction} full']} vs "
                f"{statements[f'{direction} floor']} statements)"
            )
            cpu_ratios = sorted(
                full / floor
                for full, floor in zip(
                    cpu[f"{direction} full"], cpu[f"{direction} floor"], strict=True
                )
            )
            print(
                f"  client CPU, full / floor: {statistics.median(cpu_ratios):.2f}x "
                f"(range {cpu_ratios[0]:.2f}-{cpu_ratios[-1]:.2f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--remote", help="an empty PostgreSQL database URL")
    parser.add_argument(
        "--pointers",
        type=int,
        metavar="F",
        help="only the pointer figures: F single-version active features vs --versions-only "
        "(uses the throwaway server)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --pointers")
    args = parser.parse_args()
    if args.pointers:
        sys.path.insert(0, str(ROOT / "tests"))
        from pgserver import PostgresServer

        with tempfile.TemporaryDirectory() as tmp, PostgresServer() as server:
            pointers(Path(tmp), server, args.pointers, args.rounds)
        return
    with tempfile.TemporaryDirectory() as tmp, remote_database(args.remote) as url:
        local = timed(
            f"build local store ({args.versions} versions)",
            lambda: build_local(Path(tmp) / "local.db", args.features, args.versions),
        )
        remote = sync.open_remote(local, url)
        print(f"remote: {remote.display_url}")
        result = timed(
            f"push {args.versions} versions to an empty remote", lambda: sync.push(local, remote)
        )
        print(f"  -> {result.summary()}")
        timed("push with nothing to do", lambda: sync.push(local, remote))
        timed("status with nothing to do", lambda: sync.status(local, remote))
        timed("pending_changes (local only)", lambda: sync.pending_changes(local, remote.url))
        local.save("feature-0000", "One more change.", reason="bench")
        status = timed(
            "status after one local change (full compare)", lambda: sync.status(local, remote)
        )
        assert status.ahead == 1
        timed("push of that one change", lambda: sync.push(local, remote))
        timed("push with nothing to do (again)", lambda: sync.push(local, remote))
        fresh = PromptStore(Path(tmp) / "fresh.db", user="bench")
        pulled = timed("pull everything into a fresh local store", lambda: sync.pull(fresh, remote))
        print(f"  -> {pulled.summary()}")
        timed("pull with nothing to do", lambda: sync.pull(fresh, remote))
        for store in (fresh, remote, local):
            store.close()


if __name__ == "__main__":
    main()
