"""``promptdeck diff`` on big prompts: side by side against ``--unified``, in the same run.

Run with ``python bench/bench_cli_diff.py`` (``--runs N``, ``--sizes 1,10`` in MB,
``--src`` for another source tree). A prompt of the given size gets seven edits; each
case is a fresh ``promptdeck diff`` process writing to a pipe, timed as CPU seconds
(user + system), median of interleaved runs. Each figure is printed as a ratio to
``--unified`` (changes with context) measured alongside; the goal (issue 13) is
within 3x, at every size, for both the default view and ``--full``.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
ENTRY = "import sys; from promptdeck.cli import main; sys.argv[0] = 'promptdeck'; main()"
VOCABULARY = (
    "you are a helpful assistant answer the customer politely and concisely never reveal "
    "internal policy if unsure ask a clarifying question refund order shipping account"
)
WORDS = VOCABULARY.split()


def prompt(size: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))
        lines.append(line)
        total += len(line) + 1
    return lines


def edited(lines: list[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    out = list(lines)
    for _ in range(7):
        at = rng.randrange(len(out))
        out[at] = out[at].replace(" ", " CHANGED ", 1) + " and a longer ending" * 5
    return out


def cpu_seconds(argv: list[str], env: dict[str, str]) -> float | None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        return None  # e.g. an option the measured source does not have
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1,10", help="prompt sizes in MB, comma-separated")
    parser.add_argument("--src", type=Path, default=HERE / "src")
    options = parser.parse_args()
    sys.path.insert(0, str(options.src.resolve()))
    from promptdeck.store import PromptStore

    env = dict(os.environ, COLUMNS="160", PROMPTDECK_USER="bench")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(options.src.resolve()), *filter(None, [env.get("PYTHONPATH")])]
    )
    print(f"median CPU seconds of {options.runs} interleaved runs; source {options.src}")
    print(f"{'case':34} {'CPU s':>8} {'x --unified':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        env["PROMPTDECK_CONFIG"] = str(Path(tmp) / "none.toml")
        for megabytes in (float(size) for size in options.sizes.split(",")):
            db = str(Path(tmp) / f"diff-{megabytes}.db")
            old = prompt(int(megabytes * 1_000_000), seed=1)
            store = PromptStore(db, user="bench", create=True)
            store.create_feature("big", "\n".join(old) + "\n", model="m", reason="first")
            store.save("big", "\n".join(edited(old, seed=2)) + "\n", reason="seven edits")
            store.close()
            cli = [sys.executable, "-c", ENTRY, "--db", db, "diff", "big", "1", "2"]
            cases = {
                "--unified": [*cli, "--unified"],
                "side by side (default)": cli,
                "--unified --full": [*cli, "--unified", "--full"],
                "side by side --full": [*cli, "--full"],
            }
            times: dict[str, list[float | None]] = {name: [] for name in cases}
            for _ in range(options.runs):
                for name, argv in cases.items():
                    times[name].append(cpu_seconds(argv, env))
            floor = statistics.median(t for t in times["--unified"] if t is not None)
            for name, values in times.items():
                label = f"{megabytes:g} MB {name}"
                if None in values:
                    print(f"{label:34} {'n/a':>8}")
                    continue
                value = statistics.median(v for v in values if v is not None)
                print(f"{label:34} {value:8.2f} {value / floor:12.2f}")


if __name__ == "__main__":
    main()
