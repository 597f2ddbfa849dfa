"""Pilot tests of governance in the app: the review queue, approve / reject with a
comment, review states in the versions table, activation in a protected environment
explained before a reason is typed, review requests, and the environment switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from tui_helpers import (
    notifications,
    open_feature,
    run_async,
    select_version,
    settle,
    snapshot_steps,
    type_text,
)

from promptdeck.store import PromptStore
from promptdeck.store.governance import Governance
from promptdeck.tui.screens.dialogs import (
    CanaryDialog,
    ChangeDialog,
    ConfirmDialog,
    EnvironmentDialog,
)
from promptdeck.tui.screens.diff import DiffScreen
from promptdeck.tui.screens.main import MainScreen
from promptdeck.tui.screens.review import ReviewQueueScreen

SIZE = (80, 24)


@pytest.fixture
def governed(tui_db: Path) -> Path:
    """alice admin, rita reviewer, ed editor, victor viewer; production protected;
    ed asked for review of sql-assistant v5 (written by jonas; v3 is live)."""
    with PromptStore(tui_db, user="alice") as admin:
        for user, role in (("alice", "admin"), ("rita", "reviewer"), ("ed", "editor")):
            admin.set_role(user, role)
        admin.set_role("victor", "viewer")
        admin.governance.protect_environment("production")
    with PromptStore(tui_db, user="ed") as editor:
        editor.governance.request_review("sql-assistant", 5, "tighter join rules")
    return tui_db


def cell_text(table: DataTable[Text], row: int, column: str) -> str:
    return str(table.get_cell_at(table.get_cell_coordinate(str(row), column)).plain)


async def open_queue(pilot: Pilot[None]) -> ReviewQueueScreen:
    await settle(pilot)
    await pilot.press("v")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ReviewQueueScreen)
    return screen


@run_async
async def test_reviewer_sees_the_count_and_approves_with_a_comment(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="rita")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "1 to review" in app.sub_title
        queue = await open_queue(pilot)
        assert [(e.feature, e.version, e.live) for e in queue.entries] == [("sql-assistant", 5, 3)]
        detail = queue.query_one("#review-detail", Static).content
        assert "tighter join rules" in str(detail)
        # The diff is against what is live (v3), not against v4.
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        assert (app.screen.old_number, app.screen.new_number) == (3, 5)
        await pilot.press("escape")
        await settle(pilot)
        # Approve: the comment is required.
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangeDialog)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog
        error = dialog.query_one("#dialog-error", Static)
        assert error.display and "comment is required" in str(error.content)
        await type_text(pilot, "reads well")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReviewQueueScreen)
        assert app.screen.entries == []
        assert "to review" not in app.sub_title
    with PromptStore(governed, user="alice") as store:
        state = store.governance.state("sql-assistant", 5)
        assert state.status == "approved" and state.approved_by == ("rita",)
        assert store.governance.blockers("sql-assistant", 5, "production") == []


@run_async
async def test_the_header_count_does_not_build_the_queue(
    make_app: AppFactory, governed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count is read on every reload: it must not load versions and diff them."""

    def no_queue(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the header built the review queue")

    monkeypatch.setattr(Governance, "queue", no_queue)
    app = make_app(user="rita")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "1 to review" in app.sub_title
        with PromptStore(governed, user="ed") as editor:
            editor.governance.request_review("translator", 3, "wording")
        main = app.screen
        assert isinstance(main, MainScreen)
        main.reload()  # as after a write (or when the revision poll sees one)
        await settle(pilot)
        assert "2 to review" in app.sub_title


@run_async
async def test_an_empty_queue_says_what_it_holds_and_how_to_ask_for_review(
    make_app: AppFactory,
) -> None:
    app = make_app(user="alice")  # the sample store: nobody asked for a review
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "to review" not in app.sub_title
        queue = await open_queue(pilot)
        assert not queue.query_one("#queue").display
        assert queue.query_one("#queue-empty-pane").display
        text = str(queue.query_one("#queue-empty", Static).content)
        assert "Nothing to review in production" in text
        assert "select a version and press p" in text
        assert "promptdeck review request FEATURE VERSION" in text
        assert "production is not protected" in text
        await pilot.press("a")
        await settle(pilot)
        assert app.screen is queue
        assert "Nothing to review" in notifications(app)


@run_async
async def test_the_queue_emptied_by_an_approval_says_the_environment_is_protected(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="rita")
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_queue(pilot)
        assert queue.query_one("#queue").display
        assert not queue.query_one("#queue-empty-pane").display
        await pilot.press("a")
        await settle(pilot)
        await type_text(pilot, "reads well")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is queue and queue.entries == []
        text = str(queue.query_one("#queue-empty", Static).content)
        assert "production is protected" in text and "1 approval by someone" in text


@run_async
async def test_reviewer_rejects_and_the_versions_table_says_so(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="rita")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        table = screen.query_one("#versions", DataTable)
        assert cell_text(table, 5, "review") == "requested"
        assert cell_text(table, 4, "review") == ""
        await open_queue(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await type_text(pilot, "drops the limit clause")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert cell_text(table, 5, "review") == "rejected"
    with PromptStore(governed, user="alice") as store:
        assert store.governance.state("sql-assistant", 5).status == "rejected"


@run_async
async def test_editors_and_authors_cannot_approve_and_are_told_why(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="ed")
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_queue(pilot)
        assert queue.check_action("approve", ()) is None
        await pilot.press("a")
        await settle(pilot)
        assert app.screen is queue
        assert "ed is an editor; to approve a version you must be a reviewer" in notifications(app)
    # An admin who wrote the version may not approve it either.
    with PromptStore(governed, user="alice") as admin:
        admin.save("translator", "Translate faithfully.", reason="simpler")
        admin.governance.request_review("translator", 4, "please look")
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_queue(pilot)
        assert queue.selected is not None and queue.selected.feature == "translator"
        await pilot.press("a")
        await settle(pilot)
        assert app.screen is queue
        assert any("someone else must approve it" in n for n in notifications(app))
    with PromptStore(governed, user="alice") as store:
        assert store.governance.state("translator", 4).status == "requested"


@run_async
async def test_activate_and_canary_say_what_is_missing_before_the_reason(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        await select_version(pilot, screen, 5)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # no reason dialog opened
        said = app._notifications
        assert any(
            "Cannot activate v5 in production" in (n.title or "") and "approv" in n.message
            for n in said
        )
        await pilot.press("c")
        await settle(pilot)
        assert not isinstance(app.screen, CanaryDialog)
        assert any("Cannot make v5 the canary in production" in (n.title or "") for n in said)
        # Rollback stays one key: it returns to a version that was already live.
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await pilot.press("escape")
        await settle(pilot)
    with PromptStore(governed, user="rita") as reviewer:
        reviewer.governance.approve("sql-assistant", 5, "fine")
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        await select_version(pilot, screen, 5)
        assert cell_text(screen.query_one("#versions", DataTable), 5, "review") == "approved"
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await type_text(pilot, "approved by rita")
        await pilot.press("enter")
        await settle(pilot)
    assert app.store.deployment("sql-assistant").active == 5


@run_async
async def test_editor_requests_review_with_a_reason(make_app: AppFactory, governed: Path) -> None:
    app = make_app(user="ed")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        await select_version(pilot, screen, 5)
        assert screen.why_disabled("request_review") == "v5 is already requested"
        await select_version(pilot, screen, 4)
        await pilot.press("p")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangeDialog)
        await type_text(pilot, "ready for prod")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert cell_text(screen.query_one("#versions", DataTable), 4, "review") == "requested"
        assert "2 to review" in app.sub_title
    with PromptStore(governed, user="alice") as store:
        state = store.governance.state("sql-assistant", 4)
        assert (state.status, state.requested_by, state.request_reason) == (
            "requested",
            "ed",
            "ready for prod",
        )
    viewer = make_app(user="victor")
    async with viewer.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(viewer.screen, MainScreen)
        assert "victor is a viewer; to request a review you must be an editor" in notifications(
            viewer
        )


@run_async
async def test_environment_switch_offers_the_existing_ones(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="ed")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, EnvironmentDialog)
        assert not dialog.query_one("#env-new", Input).display  # no free text by default
        # An editor may not create one, and is told why in the dialog.
        await pilot.press("ctrl+n")
        await settle(pilot)
        error = dialog.query_one("#dialog-error", Static)
        assert "to create an environment you must be an admin" in str(error.content)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.environment == "staging"
        assert "env: staging" in app.sub_title
    with PromptStore(governed, user="alice") as store:
        assert store.environments() == ["production", "staging"]


@run_async
async def test_admin_creates_an_environment_only_when_confirmed(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("E", "ctrl+n")
        await settle(pilot)
        await type_text(pilot, "stagin")
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog)
        assert "Did you mean 'staging'?" in str(confirm.query_one(".dialog-line", Static).content)
        await pilot.press("n")  # it was a typo
        await settle(pilot)
        assert app.environment == "production"
        assert app.store.environments() == ["production", "staging"]
        await pilot.press("E", "ctrl+n")
        await settle(pilot)
        await type_text(pilot, "eu-prod")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert app.environment == "eu-prod"
        assert app.store.environments() == ["production", "eu-prod", "staging"]


@run_async
async def test_palette_offers_the_review_actions(make_app: AppFactory, governed: Path) -> None:
    app = make_app(user="rita")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Review queue" in titles and "Request review" in titles
        await open_queue(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Approve" in titles and "Reject" in titles


def test_snapshot_review_queue(make_app: AppFactory, governed: Path, snap_compare: Any) -> None:
    """The queue at 80x24: sql-assistant v5 against live v3, +/− lines, who asked and
    why in the pane below, the count in the header, approve / reject in the footer."""
    app = make_app(user="rita")
    assert snap_compare(app, terminal_size=SIZE, run_before=snapshot_steps("v"))


def test_snapshot_approve_dialog(make_app: AppFactory, governed: Path, snap_compare: Any) -> None:
    """Approving: who asked and why, live v3 → v5, the diff at its first change, and
    the required comment refused while empty."""
    app = make_app(user="rita")
    assert snap_compare(app, terminal_size=SIZE, run_before=snapshot_steps("v", "a", "enter"))


def test_snapshot_empty_review_queue(make_app: AppFactory, snap_compare: Any) -> None:
    """Nothing to review at 80x24: what the queue lists, how an editor asks for a
    review (p, or the command), and that production is not protected."""
    app = make_app(user="alice")
    assert snap_compare(app, terminal_size=SIZE, run_before=snapshot_steps("v"))


def footer_actions(screen: MainScreen) -> set[str]:
    return {b.binding.action for b in screen.active_bindings.values() if b.binding.show}


@run_async
async def test_an_editor_footer_offers_ask_review_in_place_of_the_admin_keys(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="ed")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "translator")
        await select_version(pilot, screen, 3)
        shown = footer_actions(screen)
        assert "ask_review" in shown and not {"activate", "rollback"} & shown
        await pilot.press("a")  # hidden, and still says why
        await settle(pilot)
        assert "ed is an editor; to activate a version you must be an admin" in notifications(app)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await pilot.press("escape")
        await settle(pilot)
        # The live version has nothing to review: p says so instead of asking.
        await select_version(pilot, screen, 2)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert "v2 is already live in production: there is nothing to review" in (
            notifications(app)
        )


@run_async
async def test_an_admin_footer_keeps_activate_and_p_still_asks_for_review(
    make_app: AppFactory, governed: Path
) -> None:
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "translator")
        await select_version(pilot, screen, 3)
        shown = footer_actions(screen)
        assert {"activate", "rollback"} <= shown and "ask_review" not in shown
        await pilot.press("p")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangeDialog)
        assert dialog._title == "Request review of translator v3"


@run_async
async def test_a_wide_footer_shows_more_keys_and_they_work(make_app: AppFactory) -> None:
    app = make_app(user="alice")
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_feature(pilot, "customer-support")
        shown = footer_actions(screen)
        wide = {"wide('canary')", "wide('history')", "wide('experiment')", "wide('monitor')"}
        assert wide <= shown
        await pilot.press("h")
        await settle(pilot)
        assert type(app.screen).__name__ == "HistoryScreen"
    app = make_app(user="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "customer-support")
        assert not {a for a in footer_actions(screen) if a.startswith("wide")}
        await pilot.press("h")  # the key still works where the footer has no room for it
        await settle(pilot)
        assert type(app.screen).__name__ == "HistoryScreen"
