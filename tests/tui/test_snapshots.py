"""SVG snapshots of every screen (pytest-textual-snapshot); review updated SVGs before committing.

Everything that varies is fixed: the store's write time, the app's clock, the size,
and no cursor blinks.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from textual.pilot import Pilot
from tui_helpers import settle, snapshot_steps

from promptdeck import sync
from promptdeck.store import PromptStore

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
    "new_feature_dialog": (("n", *"churn-email"), (80, 24)),
    "environment_dialog": (("E",), (80, 24)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_snapshot(case: str, make_app: AppFactory, snap_compare: Any) -> None:
    keys, size = CASES[case]
    assert snap_compare(make_app(), terminal_size=size, run_before=snapshot_steps(*keys))


def test_snapshot_conflict_dialog(make_app: AppFactory, tui_db: Path, snap_compare: Any) -> None:
    """A colleague saves while the edit is open: the save meets their newer version."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await snapshot_steps("down", "right", "e", "H", "i", "space")(pilot)
        with PromptStore(tui_db, user="li.wei") as colleague:
            latest = colleague.versions("customer-support")[0].number
            colleague.save("customer-support", "Be brief.", reason="shorter answers", base=latest)
        await snapshot_steps("ctrl+s", "w", "h", "y", "enter")(pilot)
        # The editor's footer stays under the dialog; whether it had redrawn since focus
        # left the text field (ctrl+q and f1 show only while typing) was a race.
        for screen in pilot.app.screen_stack:
            screen.refresh_bindings()
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=run_before)


def test_snapshot_viewer_footer(make_app: AppFactory, tui_db: Path, snap_compare: Any) -> None:
    """A viewer sees the keys they may not use greyed out in the footer."""
    with PromptStore(tui_db, user="alice") as admin:
        admin.set_role("alice", "admin")
        admin.set_role("victor", "viewer")
    app = make_app(user="victor")
    assert snap_compare(app, terminal_size=(100, 24), run_before=snapshot_steps("down"))


@pytest.fixture
def with_remote(
    make_app: AppFactory, tui_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The app on a local store whose remote has a version conflict (summarizer) and
    one version to pull (translator), with local work to push (meeting-notes)."""
    # Version ids are shown (their first 8 digits) in a version conflict: number them.
    numbers = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(numbers) << 96))
    monkeypatch.chdir(tmp_path)  # a relative URL: the same text on screen in every run
    url = "sqlite:///remote.db"
    with PromptStore(tui_db, user="alice") as local, PromptStore(url, create=True) as remote:
        sync.push(local, remote)
        local.save("summarizer", "Alice's summary rules.", reason="shorter")
        local.save("meeting-notes", "Notes, with owners.", reason="owners")
    with PromptStore(url, user="bob") as remote:
        remote.save("summarizer", "Bob's summary rules.", reason="tone")
        remote.save("translator", "Translate plainly.", reason="plain")
    app = make_app()
    app.remote_url = url
    return app


def test_snapshot_sync_view(with_remote: Any, snap_compare: Any) -> None:
    """The sync view: a row per feature that differs, the conflict marked, keys below."""
    assert snap_compare(with_remote, terminal_size=(100, 30), run_before=snapshot_steps("s"))


def test_snapshot_sync_choice(with_remote: Any, snap_compare: Any) -> None:
    """Choosing for the summarizer's version conflict: renumber mine on top."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await snapshot_steps("s")(pilot)
        table = pilot.app.screen.query_one("DataTable")
        rows = [str(table.get_row_at(index)[0]) for index in range(table.row_count)]
        table.move_cursor(row=rows.index("summarizer"))
        await pilot.press("c")
        await settle(pilot)

    assert snap_compare(with_remote, terminal_size=(100, 30), run_before=run_before)
