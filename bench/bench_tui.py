"""Terminal app benchmark: a store of 10,000 features x 20 versions.

Prints: time to the first interactive screen (features listed, versions and preview of
the first feature shown), keypress latency in the features list, diff compute and
render times for large inputs, and peak memory. The store is built once and cached
under /tmp (delete it to rebuild).

    .venv/bin/python bench/bench_tui.py [--features 10000] [--versions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from promptdeck.records import Deployment, FeatureDocument, VersionSpec
from promptdeck.store import PromptStore

WORDS = [
    "answer",
    "customer",
    "politely",
    "concise",
    "support",
    "product",
    "billing",
    "account",
    "refund",
    "escalate",
    "summary",
    "language",
    "tone",
    "policy",
    "ticket",
    "agent",
    "human",
    "handoff",
    "steps",
    "list",
    "reply",
]


def build_store(path: Path, features: int, versions: int) -> None:
    rng = random.Random(7)
    with PromptStore(path, user="bench") as store:
        chunk: list[FeatureDocument] = []
        for f in range(features):
            specs = []
            text = (
                "\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(12))
                + "\nYou help {{customer_name}} with {{product_name}}.\n"
            )
            for n in range(1, versions + 1):
                lines = text.split("\n")
                lines[rng.randrange(len(lines))] = " ".join(rng.choice(WORDS) for _ in range(9))
                text = "\n".join(lines)
                specs.append(
                    VersionSpec(
                        number=n,
                        system_prompt=text,
                        model="claude-sonnet-4",
                        parameters={"temperature": 0.2, "max_tokens": 800},
                        author=f"user{n % 7}",
                        reason=f"change {n}: {' '.join(rng.choice(WORDS) for _ in range(6))}",
                        parent=n - 1 or None,
                    )
                )
            chunk.append(
                FeatureDocument(
                    feature=f"feature-{f:05d}",
                    versions=tuple(specs),
                    deployments=(
                        Deployment(f"feature-{f:05d}", "production", active=versions - 2),
                    ),
                )
            )
            if len(chunk) == 250:
                store.import_documents(chunk)
                chunk = []
                print(f"  built {f + 1:,} features", end="\r", file=sys.stderr)
        if chunk:
            store.import_documents(chunk)
    print(file=sys.stderr)


async def bench_app(path: Path) -> None:
    from textual.widgets import DataTable, Static

    from promptdeck.tui.app import PromptDeckApp
    from promptdeck.tui.screens.main import MainScreen
    from promptdeck.tui.widgets.feature_list import FeatureList

    store = PromptStore(path, user="bench", create=False)
    started = time.perf_counter()
    app = PromptDeckApp(store)
    async with app.run_test(size=(120, 36)) as pilot:
        while True:
            screen = app.screen
            if isinstance(screen, MainScreen):
                table = screen.query_one("#versions", DataTable)
                preview = screen.query_one("#preview", Static)
                if table.row_count and str(preview.content):
                    break
            await asyncio.sleep(0.005)
        first = time.perf_counter() - started
        print(f"first interactive screen:      {first * 1000:8.0f} ms")
        features = screen.query_one(FeatureList)
        print(f"features listed:               {len(features.rows):8,}")
        # The pilot's own cost per key (it waits for the screen to settle): an unbound key.
        baseline = []
        for _ in range(50):
            t0 = time.perf_counter()
            await pilot.press("f12")
            baseline.append(time.perf_counter() - t0)
        latencies = []
        for _ in range(50):
            t0 = time.perf_counter()
            await pilot.press("down")
            latencies.append(time.perf_counter() - t0)
        base = statistics.median(baseline)
        print(
            f"cursor down latency:           {statistics.median(latencies) * 1000:8.1f} ms median"
            f" ({max(latencies) * 1000:.1f} ms max, 50 presses)"
        )
        print(
            f"  of which the pilot's own cost: {base * 1000:6.1f} ms (an unbound key);"
            f" the app's: {(statistics.median(latencies) - base) * 1000:.1f} ms"
        )
        await pilot.press("end")
        t0 = time.perf_counter()
        await pilot.press("home")
        print(f"jump end -> home:              {(time.perf_counter() - t0) * 1000:8.1f} ms")
        t0 = time.perf_counter()
        await pilot.press("slash", *"99")
        print(f"filter (3 keys, 10k names):    {(time.perf_counter() - t0) * 1000:8.1f} ms")
        await app.workers.wait_for_complete()
    store.close()


async def bench_diffs() -> None:
    from textual.app import App, ComposeResult

    from promptdeck.diff_layout import DiffData
    from promptdeck.tui.widgets.diff_view import DiffView

    rng = random.Random(3)
    base = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(10_000)]
    similar = list(base)
    for index in rng.sample(range(len(similar)), 300):
        similar[index] = similar[index].replace(rng.choice(WORDS), "CHANGED", 1)
    different = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(10_000)]
    long_a = " ".join(rng.choice(WORDS) for _ in range(30_000))[:200_000]
    long_b = long_a[:100_000] + " inserted words " + long_a[100_000:]
    cases = {
        "10k lines, 300 changed": ("\n".join(base), "\n".join(similar)),
        "10k lines, all different": ("\n".join(base), "\n".join(different)),
        "one 200 kB line": (long_a, long_b),
        "10k lines CRLF vs LF": ("\r\n".join(base), "\n".join(base)),
    }

    class Viewer(App[None]):
        def compose(self) -> ComposeResult:
            yield DiffView(id="view")

    for label, (old, new) in cases.items():
        t0 = time.perf_counter()
        data = DiffData.compute(old, new)
        compute = time.perf_counter() - t0
        app = Viewer()
        async with app.run_test(size=(200, 60)) as pilot:
            view = app.query_one(DiffView)
            t0 = time.perf_counter()
            view.set_data(data)
            await pilot.pause()
            view.action_next_change()
            view.unified = True
            await pilot.pause()
            render = time.perf_counter() - t0
        print(
            f"diff {label:<26} compute {compute * 1000:7.0f} ms   render {render * 1000:6.0f} ms"
            f"   ({len(data.result.rows):,} rows, word level: {data.result.word_level})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=20)
    args = parser.parse_args()
    path = Path(f"/tmp/promptdeck-bench-{args.features}x{args.versions}.db")
    if not path.exists():
        print(f"building {path} (once) ...", file=sys.stderr)
        t0 = time.perf_counter()
        partial = path.with_suffix(".partial")
        for stale in path.parent.glob(partial.name + "*"):
            stale.unlink()
        build_store(partial, args.features, args.versions)
        partial.rename(path)
        print(f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(f"store: {args.features:,} features x {args.versions} versions ({path})")
    asyncio.run(bench_app(path))
    asyncio.run(bench_diffs())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS:                      {peak:8.0f} MB")


if __name__ == "__main__":
    main()
