"""Pilot tests: every flow of the terminal app, asserted on the widgets and on the store."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import AppFactory
from rich.console import Console
from rich.text import Text
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea
from tui_helpers import notifications, open_feature, run_async, settle, type_text

from promptdeck.store import PromptStore
from promptdeck.tui.app import NO_REMOTE, PromptDeckApp
from promptdeck.tui.screens.dialogs import (
    CanaryDialog,
    ChangeDialog,
    ConfirmDialog,
    ConflictDialog,
    NewFeatureDialog,
)
from promptdeck.tui.screens.diff import DiffScreen
from promptdeck.tui.screens.editor import EditorScreen
from promptdeck.tui.screens.help import HelpScreen
from promptdeck.tui.screens.history import HistoryScreen
from promptdeck.tui.screens.main import MainScreen
from promptdeck.tui.widgets.diff_view import DiffData, DiffView
from promptdeck.tui.widgets.feature_list import FeatureList

SIZE = (80, 24)


def preview_text(screen: MainScreen) -> str:
    content = screen.query_one("#preview", Static).content
    return content.plain if isinstance(content, Text) else str(content)


@run_async
async def test_main_screen_lists_features_versions_and_preview(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        features = screen.query_one(FeatureList)
        assert len(features.rows) == 9
        assert screen.feature == "code-reviewer"
        assert screen.query_one("#versions", DataTable).row_count == 4
        assert "senior engineer" in preview_text(screen)
        assert app.role == "admin"
        assert "production" in app.sub_title


@run_async
async def test_filter_narrows_the_list(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"summ")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        features = screen.query_one(FeatureList)
        assert [f.name for f in features.rows] == ["summarizer"]
        await pilot.press("escape")  # one escape clears it and goes back to the list
        await settle(pilot)
        assert len(features.rows) == 9
        assert screen.query_one("#filter", Input).value == ""
        assert features.has_focus
        assert screen.feature == "summarizer"  # the found feature stays selected
        await pilot.press("slash", *"xyz")
        await settle(pilot)
        assert screen.query_one("#filter", Input).value == "xyz"  # not "summxyz"


@run_async
async def test_filter_without_match_clears_the_panes(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"xyz")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.feature is None
        assert screen.query_one("#versions", DataTable).row_count == 0
        meta = screen.query_one("#meta", Static).content
        assert "No feature matches" in str(meta)
        assert screen.query_one("#preview-pane").border_subtitle == ""
        # The footer still says what the keys do while typing in the filter.
        shown = {b.binding.action for b in screen.active_bindings.values() if b.binding.show}
        assert {"submit", "screen.clear_filter"} <= shown
        await pilot.press("escape")
        await settle(pilot)
        assert screen.feature == "code-reviewer"
        assert screen.query_one(FeatureList).has_focus


@run_async
async def test_cursor_moves_load_the_versions(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.feature == "customer-support"
        assert [v.number for v in screen.versions] == [6, 5, 4, 3, 2, 1]


@run_async
async def test_versions_cursor_starts_on_the_active_version(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.selected_number == 4  # code-reviewer: v4 active
        await pilot.press("down")
        await settle(pilot)
        assert screen.selected_number == 5  # customer-support: v5 active, v6 above it
        await pilot.press("right", "down", "down")
        await settle(pilot)
        assert screen.selected_number == 3
        await pilot.press("home")
        assert screen.selected_number == 6
        await pilot.press("end")
        assert screen.selected_number == 1
        await pilot.press("left", "up")  # back to code-reviewer: not its row 5
        await settle(pilot)
        assert screen.feature == "code-reviewer"
        assert screen.selected_number == 4
        await pilot.press("down")
        await settle(pilot)
        assert screen.selected_number == 5
        await pilot.press("d")  # so d diffs what the cursor shows
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        assert app.screen.new_number == 5


@run_async
async def test_edit_and_save_requires_a_reason(make_app: AppFactory, tui_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        await type_text(pilot, "Be brief. ")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await pilot.press("enter")  # empty reason
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await type_text(pilot, "   ")
        await pilot.press("enter")  # whitespace only
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        assert app.store.version("summarizer").number == 4
        await type_text(pilot, "shorter answers")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        saved = app.store.version("summarizer")
        assert saved.number == 5
        assert saved.reason == "shorter answers"
        assert saved.parent == 4
        assert saved.system_prompt.startswith("Be brief. ")
        assert app.screen.selected_number == 5


@run_async
async def test_cancelled_reason_keeps_the_editor(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("e")
        await settle(pilot)
        await type_text(pilot, "X")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert app.screen.text.startswith("X")


@run_async
async def test_stale_base_conflict(make_app: AppFactory, tui_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("e")
        await settle(pilot)
        await type_text(pilot, "Mine. ")
        with PromptStore(tui_db, user="bob") as other:
            theirs = other.version("summarizer")
            other.save("summarizer", theirs.system_prompt + "\nTheirs.", reason="bob's change")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await type_text(pilot, "my reason")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConflictDialog)
        dialog_text = " ".join(
            str(s.content) for s in app.screen.query(Static) if s.has_class("dialog-line")
        )
        assert "bob" in dialog_text
        assert "--force" not in dialog_text  # a command-line flag means nothing here
        assert "Press f to save yours on top" in dialog_text
        assert app.screen.query_one(DiffView).data is not None
        await pilot.press("b")  # back to editing
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.text.startswith("Mine. ")
        assert app.store.version("summarizer").number == 5
        # Save again (the reason typed before is kept) and choose to save on top.
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen.query_one("#reason", Input).value == "my reason"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConflictDialog)
        dialog_text = " ".join(
            str(s.content) for s in app.screen.query(Static) if s.has_class("dialog-line")
        )
        assert "v6 will be based on v4 and will not contain v5's changes" in dialog_text
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        saved = app.store.version("summarizer")
        assert saved.number == 6
        assert saved.parent == 4
        assert saved.system_prompt.startswith("Mine. ")
        assert saved.reason == "my reason"


@run_async
async def test_diff_navigation_and_toggles(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "customer-support")
        await pilot.press("home", "d")  # v6 (latest, canary) against v5 (active)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        assert (screen.old_number, screen.new_number) == (5, 6)
        view = screen.query_one(DiffView)
        assert view.data is not None
        hunks = len(view.data.result.hunks)
        assert hunks >= 2
        await pilot.press("n")
        assert view.current == 0
        await pilot.press("right_square_bracket")
        assert view.current == 1
        await pilot.press("p")
        assert view.current == 0
        await pilot.press("left_square_bracket")
        assert view.current == 0
        await pilot.press("u")
        assert view.unified
        assert view.row_count == len(view.data.unified)
        await pilot.press("n")
        assert view.current == 1
        line = view.change_line(1)
        await pilot.press("w")
        await settle(pilot)
        assert screen.ignore_whitespace
        # w keeps the place, as u does: the same change stays current and on screen.
        assert view.current >= 0
        assert view.change_line(view.current) >= line
        assert "change " in str(screen.query_one("#diff-summary", Static).content)
        assert view.scroll_y > 0 or view.line_of(view.hunks[view.current]) < view.size.height
        summary = str(screen.query_one("#diff-summary", Static).content)
        assert "ignored" in summary
        meta = str(screen.query_one("#diff-meta", Static).content)
        assert "max_tokens 800 -> 900" in meta
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_two_marked_versions_diff(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await open_feature(pilot, "customer-support")
        await pilot.press("home", "space", "down", "down", "down", "space")
        table = main.query_one("#versions", DataTable)
        assert table.border_subtitle == "v6 and v3 marked: d diffs them"
        assert not app._notifications  # no toast to cover the diff
        await pilot.press("d")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        assert (screen.old_number, screen.new_number) == (3, 6)


@run_async
async def test_activate_with_reason(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "customer-support")
        assert screen.selected_number == 5  # already active, greyed out
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("already active" in n for n in notifications(app))
        await pilot.press("up", "a")  # v6
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangeDialog)
        lines = " ".join(str(s.content) for s in dialog.query(".dialog-line").results(Static))
        assert "v5" in lines and "v6" in lines and "max_tokens" in lines
        assert "v6 is the canary at 10%: activating it ends the canary" in lines
        await pilot.press("enter")  # no reason: refused
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await type_text(pilot, "canary looked fine")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        deployment = app.store.deployment("customer-support")
        assert deployment.active == 6
        assert deployment.canary is None
        assert app.store.history("customer-support")[0].reason == "canary looked fine"


@run_async
async def test_activate_escape_cancels(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "customer-support")
        await pilot.press("home", "a")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.store.deployment("customer-support").active == 5


@run_async
async def test_rollback_with_reason(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "customer-support")
        before = app.store.deployment("customer-support")
        assert before.previous
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        await type_text(pilot, "v5 misbehaves")
        await pilot.press("enter")
        await settle(pilot)
        after = app.store.deployment("customer-support")
        assert after.active == before.previous[-1]
        assert app.screen is screen
        event = app.store.history("customer-support")[0]
        assert (event.action, event.reason) == ("rollback", "v5 misbehaves")


@run_async
async def test_canary_set_and_stop(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("down", "c")  # v3
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CanaryDialog)
        dialog.query_one("#canary-percent", Input).value = "25"
        await type_text(pilot, "try v3 on a quarter")
        await pilot.press("enter")
        await settle(pilot)
        deployment = app.store.deployment("summarizer")
        assert (deployment.canary, deployment.canary_percent) == (3, 25)
        await pilot.press("c")
        await settle(pilot)
        await type_text(pilot, "enough")
        await pilot.click("#stop")
        await settle(pilot)
        assert app.store.deployment("summarizer").canary is None


def dialog_error(dialog: CanaryDialog) -> str:
    error = dialog.query_one("#dialog-error", Static)
    return str(error.content) if error.display else ""


@run_async
async def test_canary_dialog_proposes_a_non_active_version_and_validates(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "summarizer")
        assert screen.selected_number == 4  # the active version
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CanaryDialog)
        version = dialog.query_one("#canary-version", Input)
        assert version.value == "3"  # the latest version that is not the active one
        assert dialog.query_one("#stop").disabled  # no canary is running
        assert dialog.query_one("#promote").disabled
        version.value = "4"
        await type_text(pilot, "try it")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog  # refused in the dialog, input kept
        assert "v4 is the active version" in dialog_error(dialog)
        assert dialog.query_one("#reason", Input).value == "try it"
        version.value = "99"
        dialog.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog
        assert "There is no v99 of summarizer" in dialog_error(dialog)
        version.value = "2"
        dialog.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        deployment = app.store.deployment("summarizer")
        assert (deployment.canary, deployment.canary_percent) == (2, 10)


@run_async
async def test_canary_dialog_selected_non_active_version_is_the_default(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("down", "down", "c")  # v2
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CanaryDialog)
        assert dialog.query_one("#canary-version", Input).value == "2"


@run_async
async def test_refused_canary_write_keeps_the_input(make_app: AppFactory, tui_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CanaryDialog)
        app.screen.query_one("#canary-percent", Input).value = "30"
        # Meanwhile someone else makes v3 the active version: the store refuses.
        with PromptStore(tui_db, user="alice") as other:
            other.activate("summarizer", 3, reason="elsewhere")
        await type_text(pilot, "my careful reason")
        await pilot.press("enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CanaryDialog)  # open again, not lost
        assert dialog.query_one("#reason", Input).value == "my careful reason"
        assert dialog.query_one("#canary-version", Input).value == "3"
        assert dialog.query_one("#canary-percent", Input).value == "30"
        assert "active version" in dialog_error(dialog)
        assert app.store.deployment("summarizer").canary is None


@run_async
async def test_viewer_cannot_edit_and_is_told_why(make_app: AppFactory, tui_db: Path) -> None:
    with PromptStore(tui_db, user="alice") as admin:
        admin.set_role("alice", "admin")
        admin.set_role("victor", "viewer")
    app = make_app(user="victor")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "summarizer")
        assert app.role == "viewer"
        assert screen.check_action("edit", ()) is None
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("victor is a viewer" in n and "editor" in n for n in notifications(app))
        await pilot.press("n")
        await settle(pilot)
        assert not isinstance(app.screen, NewFeatureDialog)


@run_async
async def test_editor_cannot_activate(make_app: AppFactory, tui_db: Path) -> None:
    with PromptStore(tui_db, user="alice") as admin:
        admin.set_role("alice", "admin")
        admin.set_role("erin", "editor")
    app = make_app(user="erin")
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "customer-support")
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("erin is an editor" in n for n in notifications(app))
        await pilot.press("e")  # editing is allowed
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
    assert app.store.deployment("customer-support").active == 5


@run_async
async def test_unsaved_changes_guard_on_escape_and_quit(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("e")
        await settle(pilot)
        await type_text(pilot, "draft")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # keep editing
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert app.screen.text.startswith("draft")
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert app.is_running
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("y")  # discard
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert app.store.version("summarizer").number == 4


@run_async
async def test_editor_closes_without_asking_when_unchanged(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_editor_lists_variables_live(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "summarizer")
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        editor.query_one(TextArea).insert("{{audience}} ")
        await pilot.pause(0.3)
        assert "+ {{audience}}" in str(editor.query_one("#variables", Static).content)


@run_async
async def test_new_feature(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, NewFeatureDialog)
        await type_text(pilot, "churn-email")
        await pilot.press("enter")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        await type_text(pilot, "Write to {{name}}")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await type_text(pilot, "new feature")
        await pilot.press("enter")
        await settle(pilot)
        version = app.store.version("churn-email")
        assert version.number == 1
        assert version.system_prompt == "Write to {{name}}"
        assert app.screen.feature == "churn-email"


@run_async
async def test_history_screen(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "customer-support")
        await pilot.press("h")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert screen.query_one(DataTable).row_count == len(app.store.history("customer-support"))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_help_and_sync_without_remote(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("s")
        await settle(pilot)
        assert NO_REMOTE in notifications(app)


@run_async
async def test_command_palette_offers_the_actions(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Edit version", "Diff", "Activate version", "Roll back", "History"):
            assert title in titles


@run_async
async def test_environment_switch(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        await pilot.press("down", "enter")  # production, staging: the existing ones
        await settle(pilot)
        assert app.environment == "staging"
        assert "staging" in app.sub_title


NASTY = (
    "[bold]not bold[/] [/INST] [link=https://example.com]x[/link] \x1b[31mred\x1b[0m\n"
    "\ttabbed\tline\n"
    "漢字とかな 🎉🚀 emoji\n"
    "{{var}} [red]\n" + "A" * 200_000 + "\n"
)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
@run_async
async def test_nasty_text_shows_literally(
    make_app: AppFactory, tui_db: Path, size: tuple[int, int]
) -> None:
    with PromptStore(tui_db, user="alice") as store:
        store.create_feature("aaa-nasty", NASTY, model="m", reason="[bold]why[/]")
        # The store refuses controls in a reason now; one stored before that is shown.
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE versions SET reason = ? WHERE number = 1", ("[bold]why[/] \x1b[2J",)
            )
        store.save("aaa-nasty", NASTY.replace("red", "blue") + "[/]\n", reason="more [/INST]")
    app = make_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_feature(pilot, "aaa-nasty")
        text = preview_text(screen)
        assert "[bold]not bold[/] [/INST] [link=https://example.com]" in text
        assert "\u241b[31m" in text  # the escape character is shown, not sent
        assert "\x1b" not in text
        assert "漢字とかな 🎉🚀" in text
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        await pilot.press("n", "u", "right", "n", "w")
        await settle(pilot)
        await pilot.press("escape", "e")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert app.screen.text.startswith("[bold]not bold[/]")
        # The editor shows the escape as a picture (the terminal never receives it) ...
        shown = app.screen.query_one("#text", TextArea).text
        assert "\x1b" not in shown
        assert "\u241b[31m" in shown
        # ... and what it would save is the text as stored, escape included.
        assert "\x1b[31m" in app.screen.text
        assert not app.screen.dirty
        await pilot.press("escape", "h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)


def test_counts_and_articles_read_as_english() -> None:
    from promptdeck.permissions import article
    from promptdeck.tui.changes import summary_text
    from promptdeck.tui.text import plural

    assert plural(1, "change") == "1 change"
    assert plural(2, "version") == "2 versions"
    assert plural(0, "event") == "0 events"
    assert [article(w) for w in ("editor", "admin", "viewer")] == ["an", "an", "a"]
    one = summary_text(DiffData.compute("a\nb\n", "a\nc\n")).plain
    assert "1 change" in one and "1 changes" not in one
    assert summary_text(DiffData.compute("a\n", "a\nb\n")).plain.endswith("+1 −0 line in 1 change")


@run_async
async def test_versions_subtitle_grammar(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "onboarding-email")
        assert len(screen.versions) == 1
        assert screen.query_one("#versions", DataTable).border_subtitle == "1 version"


def dialog_lines(screen: object) -> str:
    assert isinstance(screen, ChangeDialog)
    return " ".join(str(s.content) for s in screen.query(Static) if s.has_class("dialog-line"))


async def select_version(pilot: Pilot[None], screen: MainScreen, number: int) -> None:
    await pilot.press("right")
    table = screen.query_one("#versions", DataTable)
    table.move_cursor(row=[v.number for v in screen.versions].index(number))
    await settle(pilot)
    assert screen.selected_number == number


@run_async
async def test_dialog_diff_opens_at_the_first_change(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "customer-support")
        await select_version(pilot, screen, 6)
        await pilot.press("a")
        await settle(pilot)
        view = app.screen.query_one(DiffView)
        assert view.hunks
        first = view.line_of(view.hunks[0])
        assert first >= view.size.height  # at 80x24 the change is below the first screen
        assert view.current == 0
        assert view.scroll_y <= first < view.scroll_y + view.size.height


@run_async
async def test_activating_while_a_canary_runs_says_it_keeps_its_share(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "customer-support")
        await select_version(pilot, screen, 4)
        await pilot.press("a")
        await settle(pilot)
        text = dialog_lines(app.screen)
        assert "The canary v6 keeps serving 10% of users; v4 serves the other 90%" in text
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("r")  # roll back: the canary stays too
        await settle(pilot)
        assert "The canary v6 keeps serving 10%" in dialog_lines(app.screen)


@run_async
async def test_versions_table_names_each_state_and_the_rollback_target(
    make_app: AppFactory, tui_db: Path
) -> None:
    with PromptStore(tui_db, user="alice") as store:
        # sql-assistant: v3 active; going back to v2 makes v3 (newer) the rollback target.
        store.activate("sql-assistant", 2, reason="back to v2")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_feature(pilot, "sql-assistant")
        table = screen.query_one("#versions", DataTable)
        states = {
            summary.number: table.get_cell_at(Coordinate(row, 1)).plain
            for row, summary in enumerate(screen.versions)
        }
        assert states == {5: "newer", 4: "newer", 3: "rollback", 2: "active", 1: "previous"}
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ChangeDialog)
        assert "v3" in app.screen._title  # r goes where the table says
        await pilot.press("escape")
        await settle(pilot)
        screen.query_one("#filter", Input).value = ""
        screen = await open_feature(pilot, "customer-support")
        table = screen.query_one("#versions", DataTable)
        assert table.get_cell_at(Coordinate(0, 1)).plain == "canary 10%"


@run_async
async def test_history_shows_canary_percentages(make_app: AppFactory, tui_db: Path) -> None:
    with PromptStore(tui_db, user="alice") as store:
        store.set_canary("customer-support", 6, 25, reason="more traffic")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "customer-support")
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one(DataTable)
        moves = [table.get_cell_at(Coordinate(row, 4)).plain for row in range(table.row_count)]
        assert "v6 10% → v6 25%" in moves
        event = str(app.screen.query_one("#event", Static).content)
        assert "v6 10% → v6 25%" in event  # the newest event is highlighted


@run_async
async def test_help_opens_at_the_keys_of_the_current_screen(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_feature(pilot, "customer-support")
        await pilot.press("escape", "question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.section == "Main screen"
        await pilot.press("escape", "d")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert help_screen.section == "Diff"
        console = Console(width=80, record=True, file=io.StringIO())
        console.print(help_screen.query_one("#help", Static).content)
        lines = console.export_text().splitlines()
        assert lines[0].strip() == "Diff"
        assert "next change" in lines[1]


@run_async
async def test_leaving_the_sync_view_keeps_the_selected_feature(
    tui_db: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.db"
    PromptStore(remote, user="alice").close()
    store = PromptStore(tui_db, user="alice", create=False)
    app = PromptDeckApp(store, remote_url=str(remote))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press(*["down"] * 6)  # summarizer, in the unfiltered list
            await settle(pilot)
            assert app.screen.feature == "summarizer"
            await pilot.press("s")
            await settle(pilot)
            assert not isinstance(app.screen, MainScreen)
            await pilot.press("p")  # push everything: the main screen reloads after
            await settle(pilot, rounds=6)
            await pilot.press("escape")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, MainScreen)
            assert screen.feature == "summarizer"
            highlighted = screen.query_one(FeatureList).highlighted
            assert highlighted is not None and highlighted.name == "summarizer"
    finally:
        store.close()
