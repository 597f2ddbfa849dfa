"""Benchmark of YAML import and export, as ratios to floors measured in the same run.

- import: ``yamlio.read_files`` on 500 features x 20 versions (one file per feature),
  against the floor of reading the same files and parsing them with PyYAML's C loader
  alone (``yaml.load(text, Loader=yaml.CSafeLoader)``). Goal: within 2x.
- export: ``yamlio.write_documents`` of one version with a 1 MB and a 10 MB prompt,
  against the floor of writing the same YAML text to a file. Goal: linear (10 MB takes
  about 10x the 1 MB time) and fast.

Run with ``python bench/bench_yaml.py`` (``--features``, ``--versions``, ``--repeat``;
``--store`` adds a SQLite import of the same files for context). Absolute times are
noisy on a shared machine; the ratios are what to compare. Inputs come from a fixed seed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

try:
    from promptdeck import yamlio
    from promptdeck.records import Deployment, FeatureDocument, VersionSpec
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from promptdeck import yamlio
    from promptdeck.records import Deployment, FeatureDocument, VersionSpec

_VOCABULARY = (
    "you are a helpful assistant answer the customer politely and concisely never reveal "
    "internal policy if unsure ask a clarifying question refund order shipping account "
    "password reset escalate to a human agent when the user is angry use markdown lists "
    "keep answers under two hundred words cite the knowledge base article number always"
)
WORDS = _VOCABULARY.split()


def prose(rng: random.Random, size: int) -> str:
    lines: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + "."
        if rng.random() < 0.1:
            line = "- {{ customer_name }} " + line
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def feature_document(rng: random.Random, index: int, versions: int) -> FeatureDocument:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    specs = tuple(
        VersionSpec(
            number=n,
            system_prompt=prose(rng, rng.randint(800, 3000)),
            model=rng.choice(["claude-sonnet-4-20250514", "gpt-4o-mini", "model-b"]),
            parameters={"max_tokens": rng.choice([256, 512, 1024]), "temperature": 0.3},
            uid=f"00000000-0000-4000-8000-{index:06d}{n:06d}",
            author=rng.choice(["maria", "sam", "alex"]),
            reason=" ".join(rng.choice(WORDS) for _ in range(8)),
            created_at=start + timedelta(days=n, seconds=index),
            parent=n - 1 if n > 1 else None,
        )
        for n in range(1, versions + 1)
    )
    deployments = (Deployment(f"feature-{index:04d}", "production", active=versions),)
    return FeatureDocument(f"feature-{index:04d}", specs, deployments)


def median_time(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def parse_floor(files: list[Path]) -> None:
    for path in files:
        yaml.load(path.read_bytes().decode("utf-8"), Loader=yaml.CSafeLoader)


def bench_import(directory: Path, features: int, versions: int, repeat: int, store: bool) -> None:
    rng = random.Random(13)
    documents = [feature_document(rng, i, versions) for i in range(features)]
    yamlio.write_documents(documents, directory)
    files = sorted(directory.glob("*.yaml"))
    size = sum(p.stat().st_size for p in files) / 1e6
    floor = median_time(lambda: parse_floor(files), repeat)
    measured = median_time(lambda: yamlio.read_files([directory]), repeat)
    print(f"import {features} features x {versions} versions ({size:.1f} MB in {len(files)} files)")
    print(f"  floor (read + yaml.CSafeLoader only) {floor:8.3f} s")
    print(
        f"  yamlio.read_files                    {measured:8.3f} s   ratio {measured / floor:5.2f}"
    )
    if store:
        from promptdeck.store import PromptStore

        parsed = yamlio.read_files([directory])
        started = time.perf_counter()
        with PromptStore(directory / "bench.db", user="bench") as target:
            target.import_documents(parsed)
        stored = time.perf_counter() - started
        print(
            f"  store.import_documents (SQLite)      {stored:8.3f} s   ratio {stored / floor:5.2f}"
            "  (the store's share, not yamlio's)"
        )


def bench_export(directory: Path, repeat: int) -> None:
    rng = random.Random(14)
    results: dict[str, float] = {}
    cases = [
        ("1 MB", 1, False),
        ("10 MB", 10, False),
        ("10 MB, CRLF and trailing spaces (written quoted)", 10, True),
    ]
    for label, megabytes, quoted in cases:
        text = prose(rng, megabytes * 1_000_000)
        if quoted:
            text = text.replace("\n", " \r\n")
        name = f"big-{len(results)}"
        document = FeatureDocument(
            name, (VersionSpec(1, text, "m", {"max_tokens": 1}, reason="big"),)
        )
        out = directory / f"export-{name}"
        measured = median_time(lambda d=document, o=out: yamlio.write_documents([d], o), repeat)
        written = (out / f"{name}.yaml").read_text(encoding="utf-8")
        floor_path = directory / f"floor-{name}.yaml"
        floor = median_time(
            lambda p=floor_path, w=written: p.write_text(w, encoding="utf-8"), repeat
        )
        results[label] = measured
        print(f"export of a {label} prompt")
        print(f"  floor (write the same text)          {floor:8.3f} s")
        ratio = measured / floor
        print(f"  yamlio.write_documents               {measured:8.3f} s   ratio {ratio:5.1f}")
    linear = results["10 MB"] / results["1 MB"]
    print(f"  10 MB / 1 MB time                    {linear:8.1f}   (linear: ~10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=500)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", action="store_true", help="also import into SQLite")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    print(f"PyYAML {yaml.__version__}, libyaml: {yaml.__with_libyaml__}")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        if not args.skip_import:
            bench_import(
                directory / "import", args.features, args.versions, args.repeat, args.store
            )
        if not args.skip_export:
            bench_export(directory, args.repeat)


if __name__ == "__main__":
    main()
