"""More kill -9 points than CI runs: PROMPTDECK_FAULT_ITERATIONS per operation (default 25).

    PYTHONPATH=$PWD/src:$PWD/tests python bench/bench_faults.py [SEED]

Prints, per operation, how many runs were killed inside the work and how many finished;
every run is checked for integrity, all-or-nothing and audit replay (tests/faults.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from faults import OPERATIONS, make_pristine, run_iterations

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"


def main() -> None:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else int(time.time())
    count = int(os.environ.get("PROMPTDECK_FAULT_ITERATIONS", "25"))
    print(f"seed {seed}, {count} kill points per operation")
    with tempfile.TemporaryDirectory() as scratch:
        pristine = Path(scratch) / "pristine"
        make_pristine(pristine, SAMPLES)
        for operation in OPERATIONS:
            started = time.perf_counter()
            outcomes = run_iterations(pristine, Path(scratch) / operation, operation, seed, count)
            killed = sum(o.killed for o in outcomes)
            print(
                f"{operation:7} killed {killed:3} finished {count - killed:3} "
                f"(of {outcomes[0].calls} calls) in {time.perf_counter() - started:.1f}s: all ok"
            )


if __name__ == "__main__":
    main()
