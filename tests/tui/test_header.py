"""The header's "N unpushed": the sync view's count, kept true while the app is open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.pilot import Pilot
from tui_helpers import run_async, settle

from promptdeck import sync
from promptdeck.cli import main
from promptdeck.store import PromptStore
from promptdeck.tui.app import PromptDeckApp
from promptdeck.tui.screens import main as main_screen
from promptdeck.tui.widgets.feature_list import FeatureList

SIZE = (100, 30)


async def wait_for(pilot: Pilot[None], check: Callable[[], bool], rounds: int = 30) -> None:
    for _ in range(rounds):
        await settle(pilot)
        if check():
            return
    raise AssertionError("the app did not catch up")


@run_async
async def test_unpushed_follows_writes_made_outside_the_app(
    tui_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(main_screen, "POLL_INTERVAL", 0.1)
    remote = tmp_path / "remote.db"
    PromptStore(remote, user="alice").close()
    store = PromptStore(tui_db, user="alice", create=False)
    with sync.open_remote(store, str(remote)) as opened:
        sync.push(store, opened)
    app = PromptDeckApp(store, remote_url=str(remote))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "unpushed" not in app.sub_title
            # A save from the CLI while the app is open: the header and the list see it.
            result = CliRunner().invoke(
                main,
                ["--db", str(tui_db), "--user", "bob", "save", "summarizer", "-f", "-", "-m",
                 "from the CLI"],
                input="Summaries of three lines.",
            )  # fmt: skip
            assert result.exit_code == 0, result.stderr
            await wait_for(pilot, lambda: "1 unpushed" in app.sub_title)
            assert sync.pending_changes(store, str(remote)) == 1
            row = next(r for r in app.screen.query_one(FeatureList).rows if r.name == "summarizer")
            assert row.latest == 5
            # A push and a pull that end in sync, from outside: the count goes away.
            with sync.open_remote(store, str(remote)) as opened:
                sync.push(store, opened)
                sync.pull(store, opened)
                assert sync.status(store, opened).to_push == 0
            await wait_for(pilot, lambda: "unpushed" not in app.sub_title)
    finally:
        store.close()


@run_async
async def test_never_synced_says_so_instead_of_a_count(tui_db: Path, tmp_path: Path) -> None:
    # The remote already holds every local version (a copy), but no sync has been run:
    # the local bookkeeping cannot count what a push would send.
    remote = tmp_path / "remote.db"
    remote.write_bytes(tui_db.read_bytes())
    store = PromptStore(tui_db, user="alice", create=False)
    with sync.open_remote(store, str(remote)) as opened:
        assert sync.status(store, opened).to_push == 0
    app = PromptDeckApp(store, remote_url=str(remote))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.sub_title.endswith("· not synced yet")
            assert "unpushed" not in app.sub_title
    finally:
        store.close()
