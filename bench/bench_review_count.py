"""The app header's "N to review" count against building the review queue.

The header reads ``governance.pending_count`` on every reload (after each write and
whenever the revision poll sees someone else's); the queue screen builds
``governance.queue`` (every waiting version loaded and diffed against what is live).
Prints both as ratios to a floor measured in the same run: ``store.revision()``, the
one indexed read the poll makes.

    .venv/bin/python bench/bench_review_count.py [--features 100] [--lines 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from promptdeck.records import Deployment, FeatureDocument, VersionSpec
from promptdeck.store import PromptStore


def prompt(feature: int, version: int, lines: int) -> str:
    return "\n".join(
        f"Rule {line} of feature {feature}: answer politely (v{version if line % 7 else 0})."
        for line in range(lines)
    )


def build(path: Path, features: int, lines: int) -> None:
    """``features`` features of three versions, v1 live; v2 and v3 asked for review,
    v2 approved (so the queue holds one version per feature)."""
    with PromptStore(path, user="alice") as store:
        store.import_documents(
            [
                FeatureDocument(
                    feature=f"feature-{f:04d}",
                    versions=tuple(
                        VersionSpec(n, prompt(f, n, lines), "m", {}, author="jonas", reason="r")
                        for n in (1, 2, 3)
                    ),
                    deployments=(Deployment(f"feature-{f:04d}", "production", active=1),),
                )
                for f in range(features)
            ]
        )
        store.set_role("alice", "admin")
        store.set_role("rita", "reviewer")
    with PromptStore(path, user="alice") as store:
        for f in range(features):
            for number in (2, 3):
                store.governance.request_review(f"feature-{f:04d}", number, "please")
    with PromptStore(path, user="rita") as reviewer:
        for f in range(features):
            reviewer.governance.approve(f"feature-{f:04d}", 2, "fine")


def timed(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--lines", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        build(path, args.features, args.lines)
        with PromptStore(path, user="rita", create=False) as store:
            governance = store.governance
            assert governance.pending_count() == len(governance.queue()) == args.features
            floor = timed(store.revision, 50)
            count = timed(governance.pending_count, 20)
            queue = timed(governance.queue, 3)
    print(f"{args.features} features waiting for review, prompts of {args.lines} lines")
    print(f"floor (store.revision):  {floor * 1000:8.2f} ms")
    print(f"pending_count (header):  {count * 1000:8.2f} ms  {count / floor:8.1f}x floor")
    print(f"queue (the queue screen): {queue * 1000:7.2f} ms  {queue / floor:8.1f}x floor")


if __name__ == "__main__":
    main()
