"""Benchmark of promptdeck.sync against PostgreSQL on loopback.

Run with ``python bench/bench_sync.py`` (``--versions N``, ``--features N``). The
remote is ``--remote URL`` (or PROMPTDECK_BENCH_REMOTE); without one, a throwaway
PostgreSQL server is started with tests/pgserver.py. Local stores are SQLite files in
a temporary directory.

Figures: push of N versions to an empty remote; push and status with nothing to do
(the O(1) path); status and push after one local change (a full comparison); pull of
everything into a fresh local store.

``--pointers`` (issue 13): the cost of moving active versions, as ratios to a floor
measured in the same run. A store of F single-version features, each with an active
version, is pushed to one empty database with ``--versions-only`` (the floor: the
same rows, no pointer moves) and to another in full; then each is pulled into a
fresh local store (the floor: pulling the database that holds no active versions).
Statements sent to PostgreSQL are counted for each. Goal: full within 2x of the floor.
"""

from __future__ import annotations

import argparse
import os
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
from promptdeck.store.rows import FeatureRow, VersionRow  # noqa: E402

T = TypeVar("T")


def build_local(path: Path, features: int, versions: int) -> PromptStore:
    """A local store with ``versions`` versions spread over ``features`` features,
    each feature with an active version (so pointer moves are pushed too)."""
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
    for f in range(features):
        store.activate(f"feature-{f:04d}", per_feature, reason="bench")
    return store


def timed(label: str, function: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = function()
    elapsed = time.perf_counter() - started
    print(f"{label:<48} {elapsed * 1000:9.1f} ms")
    return value


def make_store(url: str) -> None:
    """An empty promptdeck store at ``url`` without `init`'s database roles (the bench
    plays users): the library creates a shared store only through `init`."""
    from promptdeck.store import create_store_engine
    from promptdeck.store.schema import migrate

    engine = create_store_engine(url)
    try:
        migrate(engine, url)
    finally:
        engine.dispose()


@contextmanager
def remote_database(option: str | None, name: str = "bench_sync") -> Iterator[str]:
    url = option or os.environ.get("PROMPTDECK_BENCH_REMOTE")
    if url:
        yield url
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import PostgresServer

    with PostgresServer() as server:
        for extra in ("bench_floor", "bench_full"):
            server.create_database(extra)
        url = server.create_database(name)
        make_store(url)  # sync never creates a remote
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


def measure(label: str, store: PromptStore, function: Callable[[], T]) -> tuple[float, int, T]:
    with counted(store) as count:
        started = time.perf_counter()
        value = function()
        elapsed = time.perf_counter() - started
    print(f"{label:<48} {elapsed * 1000:9.1f} ms {count[0]:7d} statements")
    return elapsed, count[0], value


def pointers(tmp: Path, base_url: str, features: int) -> None:
    """Full push and pull of F single-version active features vs the versions-only floor."""
    from sqlalchemy.engine import make_url

    local = build_local(tmp / "pointers.db", features, features)
    floor_url = make_url(base_url).set(database="bench_floor").render_as_string(hide_password=False)
    full_url = make_url(base_url).set(database="bench_full").render_as_string(hide_password=False)
    for url in (floor_url, full_url):  # make each an empty promptdeck store
        make_store(url)
    floor_remote = sync.open_remote(local, floor_url)
    full_remote = sync.open_remote(local, full_url)
    floor, floor_statements, _ = measure(
        f"push --versions-only, {features} features (floor)",
        floor_remote,
        lambda: sync.push(local, floor_remote, versions_only=True),
    )
    full, full_statements, result = measure(
        f"push with active versions, {features} features", full_remote,
        lambda: sync.push(local, full_remote),
    )  # fmt: skip
    print(f"  -> {result.summary()}")
    print(
        f"push ratio to floor: {full / floor:.2f}x time, "
        f"{full_statements} vs {floor_statements} statements"
    )
    fresh_floor = PromptStore(tmp / "pull-floor.db", user="bench")
    fresh_full = PromptStore(tmp / "pull-full.db", user="bench")
    pull_floor, pull_floor_statements, _ = measure(
        "pull of the versions-only remote (floor)", fresh_floor,
        lambda: sync.pull(fresh_floor, floor_remote),
    )  # fmt: skip
    pull_full, pull_full_statements, pulled = measure(
        "pull with active versions", fresh_full, lambda: sync.pull(fresh_full, full_remote)
    )
    print(f"  -> {pulled.summary()}")
    print(
        f"pull ratio to floor: {pull_full / pull_floor:.2f}x time, "
        f"{pull_full_statements} vs {pull_floor_statements} local statements"
    )
    for store in (fresh_floor, fresh_full, floor_remote, full_remote, local):
        store.close()


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
        "(needs the throwaway server, or bench_floor and bench_full next to --remote)",
    )
    args = parser.parse_args()
    if args.pointers:
        with tempfile.TemporaryDirectory() as tmp, remote_database(args.remote) as url:
            pointers(Path(tmp), url, args.pointers)
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
