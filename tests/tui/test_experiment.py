"""The experiment and monitor views: the canary's evidence, promote and stop from it,
metrics over time with the moves marked. Deterministic data and a fixed clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from experiment_data import FEATURE, add_outcomes
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot
from tui_helpers import NOW, run_async, settle, type_text

from promptdeck.store import PromptStore
from promptdeck.tui.screens.dialogs import ChangeDialog
from promptdeck.tui.screens.experiment import ExperimentScreen
from promptdeck.tui.screens.monitor import MonitorScreen

START = int(NOW.timestamp()) - 48 * 3600


@pytest.fixture
def with_metrics(tui_db: Path) -> Path:
    with PromptStore(tui_db, user="alice") as store:
        add_outcomes(store, start=START)
    return tui_db


def cells(table: DataTable[Any]) -> dict[str, list[str]]:
    rows = {}
    for index in range(table.row_count):
        row = [str(cell) for cell in table.get_row_at(index)]
        rows[row[0]] = row[1:]
    return rows


async def open_view(pilot: Pilot[None], key: str) -> None:
    await settle(pilot)
    await pilot.press("down")  # customer-support: v5 active, canary v6 at 10 %
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)


@run_async
async def test_experiment_shows_both_arms_and_a_verdict_per_metric(
    with_metrics: Path, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 34)) as pilot:
        await open_view(pilot, "x")
        assert isinstance(app.screen, ExperimentScreen)
        rows = cells(app.screen.query_one(DataTable))
        assert rows["success rate"][3] == "better"
        assert rows["mean tokens out"][3] == "worse"
        base, cand = int(rows["requests"][0]), int(rows["requests"][1])
        assert base + cand == 48 * 60 and cand < base
        note = str(app.screen.query_one("#experiment-note", Static).render())
        assert "Welch's t-test" in note and "inflates false positives" in note


@run_async
async def test_promote_from_the_experiment_with_the_evidence_in_the_dialog(
    with_metrics: Path, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "x")
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        shown = " ".join(str(line.render()) for line in app.screen.query(".dialog-line"))
        assert "success rate: 9" in shown and "better" in shown
        await type_text(pilot, "better success")
        await pilot.press("enter")
        await settle(pilot)
    with PromptStore(with_metrics, user="alice") as store:
        deployment = store.deployment(FEATURE)
    assert (deployment.active, deployment.canary) == (6, None)


@run_async
async def test_stop_the_canary_from_the_experiment(
    with_metrics: Path, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "x")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await type_text(pilot, "costly")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExperimentScreen)
        note = str(app.screen.query_one("#experiment-note", Static).render())
        assert f"{FEATURE} has no canary in production." in note
        assert "press c (Canary)" in note  # what to do here, not a CLI flag alone
        assert f"promptdeck stats {FEATURE} --versions A B" in note
        assert app.screen.check_action("promote", ()) is None  # greyed: nothing to promote
    with PromptStore(with_metrics, user="alice") as store:
        deployment = store.deployment(FEATURE)
    assert (deployment.active, deployment.canary) == (5, None)


@run_async
async def test_a_viewer_cannot_promote(with_metrics: Path, make_app: AppFactory) -> None:
    with PromptStore(with_metrics, user="alice") as admin:
        admin.set_role("alice", "admin")
        admin.set_role("victor", "viewer")
    app = make_app(user="victor")
    async with app.run_test(size=(120, 34)) as pilot:
        await open_view(pilot, "x")
        screen = app.screen
        assert isinstance(screen, ExperimentScreen) and screen.evidence is not None
        assert screen.check_action("promote", ()) is None  # greyed in the footer
        assert screen.check_action("stop", ()) is None
        await pilot.press("p")
        await settle(pilot)
        assert app.screen is screen  # no dialog opened
    with PromptStore(with_metrics, user="alice") as store:
        deployment = store.deployment(FEATURE)
    assert (deployment.active, deployment.canary) == (5, 6)


@run_async
async def test_monitor_charts_each_version_and_lists_the_moves(
    with_metrics: Path, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "m")
        assert isinstance(app.screen, MonitorScreen)
        title = str(app.screen.query_one("#monitor-title", Static).render())
        assert f"{48 * 60} requests from v5, v6" in title
        assert len(app.screen.query(PlotextPlot)) == 4
        await pilot.press("t")  # the last 30 days
        await settle(pilot)
        assert "last 30 days" in str(app.screen.query_one("#monitor-title", Static).render())


def test_snapshot_experiment(with_metrics: Path, make_app: AppFactory, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_view(pilot, "x")

    assert snap_compare(make_app(), terminal_size=(120, 34), run_before=run_before)


def test_snapshot_monitor(with_metrics: Path, make_app: AppFactory, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_view(pilot, "m")

    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=run_before)
