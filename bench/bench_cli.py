"""How long the ``promptdeck`` command takes to start, as ratios to floors measured alongside.

Run with ``python bench/bench_cli.py`` (``--runs N``). Each figure is the median CPU time
(user + system) of a fresh process; runs of every case are interleaved, so a busy machine
slows floors and commands alike. Floors: ``python -c pass``, ``python -c "import click"``
and ``python -c "import sqlalchemy"``. Goals (issue 13): ``--help``, ``--version`` and
shell completion within 3x of ``import click``; a read command near ``import sqlalchemy``.
``import sqlalchemy.orm`` and ``import promptdeck.store`` show what the ORM adds to that.

The command runs from this checkout's ``src`` (prepended to PYTHONPATH) unless
``--src`` names another tree, e.g. an older commit unpacked with ``git archive``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
ENTRY = "import sys; from promptdeck.cli import main; sys.argv[0] = 'promptdeck'; main()"


def cpu_seconds(argv: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--src", type=Path, default=HERE / "src")
    options = parser.parse_args()

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(options.src.resolve()), *filter(None, [env.get("PYTHONPATH")])]
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "bench.db")
        env.update(PROMPTDECK_DB=store, PROMPTDECK_USER="bench", NO_COLOR="1")
        env["PROMPTDECK_CONFIG"] = str(Path(tmp) / "none.toml")
        python = [sys.executable, "-c"]
        cli = [*python, ENTRY]
        subprocess.run(
            [*cli, "import", str(HERE / "sample_prompts")],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        feature = (
            subprocess.run(
                [*cli, "features", "--json"], env=env, check=True, capture_output=True, text=True
            )
            .stdout.split('"feature": "')[1]
            .split('"')[0]
        )
        complete = dict(
            env, _PROMPTDECK_COMPLETE="bash_complete", COMP_WORDS="promptdeck sh", COMP_CWORD="1"
        )
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([*python, "pass"], env),
            "import click": ([*python, "import click"], env),
            "import sqlalchemy": ([*python, "import sqlalchemy"], env),
            # what a read command pays today: the ORM, then the store and its models
            "import sqlalchemy.orm": ([*python, "import sqlalchemy.orm"], env),
            "import promptdeck.store": ([*python, "import promptdeck.store"], env),
            "promptdeck --help": ([*cli, "--help"], env),
            "promptdeck --version": ([*cli, "--version"], env),
            "completion (sh<TAB>)": ([*cli], complete),
            "promptdeck features": ([*cli, "features"], env),
            "promptdeck show F": ([*cli, "show", feature], env),
            "promptdeck diff F": ([*cli, "diff", feature], env),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(options.runs):
            for name, (argv, case_env) in cases.items():
                times[name].append(cpu_seconds(argv, case_env))
    median = {name: statistics.median(values) for name, values in times.items()}
    floors = ("python -c pass", "import click", "import sqlalchemy")
    print(f"median CPU seconds of {options.runs} interleaved runs; source {options.src}")
    print(f"{'case':24} {'CPU s':>7} " + " ".join(f"{'x ' + f:>18}" for f in floors))
    for name, value in median.items():
        ratios = " ".join(f"{value / median[f]:>18.2f}" for f in floors)
        print(f"{name:24} {value:>7.3f} {ratios}")


if __name__ == "__main__":
    main()
