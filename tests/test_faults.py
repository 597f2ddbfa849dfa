"""kill -9 at random points of save, import, export, push and pull (fixed seed, few runs).

More iterations: ``bench/bench_faults.py`` (PROMPTDECK_FAULT_ITERATIONS).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faults import OPERATIONS, make_pristine, run_iterations

ITERATIONS = int(os.environ.get("PROMPTDECK_FAULT_ITERATIONS", "3"))
SEED = 14


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_kill_at_a_random_point_leaves_all_or_nothing(
    operation: str, tmp_path: Path, samples: Path
) -> None:
    pristine = tmp_path / "pristine"
    make_pristine(pristine, samples)
    outcomes = run_iterations(pristine, tmp_path / "scratch", operation, SEED, ITERATIONS)
    assert len(outcomes) == ITERATIONS
    assert any(o.killed for o in outcomes), outcomes  # the kill points fell inside the work
