"""Overriding missing checks in the app (issue 10): in an environment that requires
passing checks, an admin's activation and canary dialogs name what is missing and offer
a clearly labelled override that needs the reason; the override is an audit event.
Other blockers (approvals) are never overridden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from textual.widgets import Button, Static
from tui_helpers import (
    open_feature,
    run_async,
    select_version,
    settle,
    snapshot_steps,
    type_text,
)

from promptdeck.store import PromptStore
from promptdeck.tui.app import PromptDeckApp
from promptdeck.tui.screens.dialogs import CanaryDialog, ChangeDialog
from promptdeck.tui.screens.main import MainScreen

SIZE = (80, 24)


@pytest.fixture
def checks_required(tui_db: Path) -> Path:
    """production requires passing checks; sql-assistant (v3 live) has no suite."""
    with PromptStore(tui_db, user="alice") as admin:
        admin.checks.require("production")
    return tui_db


def dialog_text(dialog: Any) -> str:
    return "\n".join(str(line.content) for line in dialog.query(".dialog-line").results(Static))


def events(path: Path, feature: str) -> list[tuple[str, int | None, str]]:
    with PromptStore(path, user="alice") as store:
        return [(e.action, e.to_version, e.reason or "") for e in store.history(feature)]


@run_async
async def test_admin_activates_over_missing_checks_with_a_reason(
    make_app: AppFactory, checks_required: Path
) -> None:
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        await select_version(pilot, screen, 5)
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangeDialog)
        assert dialog._title == "Override checks · Activate sql-assistant v5"
        said = dialog_text(dialog)
        assert "Missing checks, overridden if you confirm" in said
        assert "production requires passing checks" in said
        assert "sql-assistant has no suite" in said
        hint = str(dialog.query_one(".dialog-hint", Static).content)
        assert "override checks and activate" in hint
        await pilot.press("enter")  # the reason is required, here too
        await settle(pilot)
        assert app.screen is dialog
        await type_text(pilot, "hotfix, suite follows")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any(
            "Activated v5 in production (checks overridden)" in n.message
            for n in app._notifications
        )
    history = events(checks_required, "sql-assistant")
    assert ("override-checks", 5, "hotfix, suite follows") in history
    assert ("activate", 5, "hotfix, suite follows") in history


@run_async
async def test_cancelling_the_override_changes_nothing(
    make_app: AppFactory, checks_required: Path
) -> None:
    before = events(checks_required, "sql-assistant")
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        await select_version(pilot, screen, 5)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await pilot.press("escape")
        await settle(pilot)
    assert events(checks_required, "sql-assistant") == before


@run_async
async def test_missing_approvals_are_not_offered_an_override(
    make_app: AppFactory, checks_required: Path
) -> None:
    with PromptStore(checks_required, user="alice") as admin:
        admin.set_role("alice", "admin")
        admin.governance.protect_environment("production", require_checks=True)
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        await select_version(pilot, screen, 5)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # refused before any dialog
        (said,) = [n for n in app._notifications if "Cannot activate" in (n.title or "")]
        assert "approval" in said.message and "requires passing checks" in said.message


@run_async
async def test_canary_and_promote_over_missing_checks(
    make_app: AppFactory, checks_required: Path
) -> None:
    app = make_app(user="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        await select_version(pilot, screen, 5)
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CanaryDialog)
        said = dialog_text(dialog)
        assert "Missing for v5: production requires passing checks" in said
        assert str(dialog.query_one("#set", Button).label) == "Set · override checks"
        await type_text(pilot, "try on a few")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert screen.deployment is not None and screen.deployment.canary == 5
        # Promoting the canary is a move into production too: the dialog says so.
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CanaryDialog)
        assert "Missing for promoting v5" in dialog_text(dialog)
        promote = dialog.query_one("#promote", Button)
        assert str(promote.label) == "Promote · override checks"
        await type_text(pilot, "looks good")
        promote.press()
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert screen.deployment is not None and screen.deployment.active == 5
    history = events(checks_required, "sql-assistant")
    assert ("override-checks", 5, "try on a few") in history
    assert ("override-checks", 5, "looks good") in history
    assert ("promote", 5, "looks good") in history


def test_snapshot_override_checks_dialog(
    make_app: AppFactory, checks_required: Path, snap_compare: Any
) -> None:
    """The activation dialog of a version whose checks are missing: what is missing, the
    override said in red and yellow, the confirm key labelled as an override."""
    app: PromptDeckApp = make_app(user="alice")
    keys = ("slash", *"sql-assistant", "enter", "home", "a")
    assert snap_compare(app, terminal_size=(100, 30), run_before=snapshot_steps(*keys))


def test_snapshot_canary_override_dialog(
    make_app: AppFactory, checks_required: Path, snap_compare: Any
) -> None:
    """The canary dialog at 80x24 for a version whose checks are missing: what is
    missing in red, and the set button labelled as an override."""
    app: PromptDeckApp = make_app(user="alice")
    keys = ("slash", *"sql-assistant", "enter", "home", "c")
    assert snap_compare(app, terminal_size=SIZE, run_before=snapshot_steps(*keys))
