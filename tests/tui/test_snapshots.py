"""SVG snapshots of every screen (pytest-textual-snapshot); review updated SVGs before committing.

Everything that varies is fixed: the store's write time, the app's clock, the size,
and no cursor blinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import AppFactory
from textual.pilot import Pilot
from tui_helpers import settle

Steps = tuple[str, ...]

CASES: dict[str, tuple[Steps, tuple[int, int]]] = {
    "main": ((), (80, 24)),
    "main_wide": (("down",), (200, 50)),
    # customer-support opens on its active v5; home goes to v6 (the canary).
    "diff_side_by_side": (("down", "right", "home", "d", "n"), (100, 30)),
    "diff_unified": (("down", "right", "home", "d", "u", "n"), (100, 30)),
    "editor": (("down", "right", "home", "e"), (100, 30)),
    "reason_dialog": (("down", "right", "home", "e", "H", "i", "space", "ctrl+s"), (100, 30)),
    "activation_dialog": (("down", "right", "home", "a"), (100, 30)),
    "canary_dialog": (("down", "c"), (80, 24)),
    "filter_no_match": (("slash", "x", "y", "z"), (80, 24)),
    "history": (("down", "h"), (100, 30)),
    "help": (("question_mark",), (100, 36)),
}


def steps(keys: Steps) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, rounds=1)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("case", list(CASES))
def test_snapshot(case: str, make_app: AppFactory, snap_compare: Any) -> None:
    keys, size = CASES[case]
    assert snap_compare(make_app(), terminal_size=size, run_before=steps(keys))
