"""How long the ``promptdeck`` command takes to start, as ratios to floors measured alongside.

Run with ``python bench/bench_cli.py`` (``--runs N``). Each figure is the median CPU time
(user + system) of a fresh process; runs of every case are interleaved, so a busy machine
slows floors and commands alike. Floors: ``python -c pass``, ``python -c "import click"``
and ``python -c "import sqlalchemy"``. Goals (issue 13): ``--help``, ``--version`` and
shell completion within 3x of ``import click``; a read command within 1.3x of
``import sqlalchemy``. ``import sqlalchemy.orm`` shows what loading the ORM would add
(reads do not load it; writes do). Two write commands (``activate``, alternating
between two versions) show what a write costs.

Every process runs with compiled bytecode, as an installed package does: a cache under
the temporary directory (PYTHONPYCACHEPREFIX), filled by one untimed pass over every
case, and used by floors and commands alike (without it each command would compile
promptdeck's sources on every start while SQLAlchemy's come precompiled).

The command runs from this checkout's ``src`` (prepended to PYTHONPATH) unless
``--src`` names another tree, e.g. an older commit unpacked with ``git archive``;
``--before TREE`` also runs every promptdeck case from TREE, interleaved in the same
run, for a before/after comparison (e.g. ``git archive main src | tar -x -C /tmp/main``
then ``--before /tmp/main/src``).
"""

from __future__ import annotations

import argparse
import json
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


def with_source(env: dict[str, str], src: Path) -> dict[str, str]:
    """``env`` with ``src`` first on PYTHONPATH (and the checkout's own src dropped)."""
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    rest = [p for p in rest if Path(p).resolve() != (HERE / "src").resolve()]
    return {**env, "PYTHONPATH": os.pathsep.join([str(src.resolve()), *rest])}


def prepared_store(env: dict[str, str], src: Path, store: Path, cli: list[str]) -> dict[str, str]:
    """The environment for running ``src``'s command on ``store``, which holds the
    sample prompts (imported by that same code)."""
    env = with_source(env, src)
    env.update(PROMPTDECK_DB=str(store), PROMPTDECK_USER="bench", NO_COLOR="1")
    env["PROMPTDECK_CONFIG"] = str(store.parent / "none.toml")
    subprocess.run(
        [*cli, "import", str(HERE / "sample_prompts")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--src", type=Path, default=HERE / "src")
    parser.add_argument("--before", type=Path, help="another src tree to compare with")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        python = [sys.executable, "-c"]
        cli = [*python, ENTRY]
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        env = prepared_store(base, options.src, Path(tmp) / "bench.db", cli)
        listed = json.loads(
            subprocess.run(
                [*cli, "features", "--json"], env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        feature = listed[0]["feature"]
        # Writes: activate two versions of one feature in turn (each run moves it twice).
        moved = next(f for f in listed if f["latest"] >= 2 and f["canary"] is None)
        first, second = str(moved["latest"] - 1), str(moved["latest"])
        # The other tree writes to a store of its own, prepared alike.
        before_env = (
            prepared_store(base, options.before, Path(tmp) / "before.db", cli)
            if options.before is not None
            else None
        )
        for case_env in filter(None, (env, before_env)):
            subprocess.run(
                [*cli, "activate", moved["feature"], second, "-m", "bench"],
                env=case_env,
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        complete = dict(
            env, _PROMPTDECK_COMPLETE="bash_complete", COMP_WORDS="promptdeck sh", COMP_CWORD="1"
        )
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([*python, "pass"], env),
            "import click": ([*python, "import click"], env),
            "import sqlalchemy": ([*python, "import sqlalchemy"], env),
            # what loading the ORM would add to a read (writes load it)
            "import sqlalchemy.orm": ([*python, "import sqlalchemy.orm"], env),
        }
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "import promptdeck.store": ([*python, "import promptdeck.store"], env),
            "promptdeck --help": ([*cli, "--help"], env),
            "promptdeck --version": ([*cli, "--version"], env),
            "completion (sh<TAB>)": ([*cli], complete),
            "promptdeck features": ([*cli, "features"], env),
            "promptdeck show F": ([*cli, "show", feature], env),
            "promptdeck diff F": ([*cli, "diff", feature], env),
            "activate F (write)": ([*cli, "activate", moved["feature"], first, "-m", "b"], env),
            "activate F again": ([*cli, "activate", moved["feature"], second, "-m", "b"], env),
        }
        for name, (argv, case_env) in commands.items():
            cases[name] = (argv, case_env)
            if before_env is not None:
                other = {**case_env, **{k: before_env[k] for k in ("PYTHONPATH", "PROMPTDECK_DB")}}
                cases[f"{name} (before)"] = (argv, other)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for argv, case_env in cases.values():  # untimed: fills the bytecode cache
            cpu_seconds(argv, case_env)
        for _ in range(options.runs):
            for name, (argv, case_env) in cases.items():
                times[name].append(cpu_seconds(argv, case_env))
    median = {name: statistics.median(values) for name, values in times.items()}
    floors = ("python -c pass", "import click", "import sqlalchemy")
    print(f"median CPU seconds of {options.runs} interleaved runs; source {options.src}")
    if options.before is not None:
        print(f"(before): the same command from {options.before}")
    print(f"{'case':30} {'CPU s':>7} " + " ".join(f"{'x ' + f:>18}" for f in floors))
    for name, value in median.items():
        ratios = " ".join(f"{value / median[f]:>18.2f}" for f in floors)
        print(f"{name:30} {value:>7.3f} {ratios}")


if __name__ == "__main__":
    main()
