"""The editor: saving while newer versions exist, carrying an edit onto them (a
three-way merge), find and replace, a footer that tells the truth, fields at 80x24."""

from __future__ import annotations

from pathlib import Path

from conftest import AppFactory
from test_app import SIZE
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static, TextArea
from tui_helpers import notifications, open_feature, run_async, settle, type_text

from promptdeck.merge import START_MARKER
from promptdeck.store import PromptStore
from promptdeck.tui.parameters import parse_parameters
from promptdeck.tui.screens.dialogs import ChangeDialog, ConflictDialog
from promptdeck.tui.screens.editor import EditorScreen
from promptdeck.tui.screens.main import MainScreen


def dialog_text(screen: Screen[object]) -> str:
    return " ".join(str(s.content) for s in screen.query(Static) if s.has_class("dialog-line"))


def footer_keys(screen: Screen[object]) -> dict[str, str]:
    """The keys the footer shows: shown bindings whose action is not hidden."""
    return {
        active.binding.key: active.binding.description
        for active in screen.active_bindings.values()
        if active.binding.show and active.enabled
    }


async def open_editor(pilot: Pilot[None], feature: str) -> EditorScreen:
    await open_feature(pilot, feature)
    await pilot.press("e")
    await settle(pilot)
    editor = pilot.app.screen
    assert isinstance(editor, EditorScreen)
    return editor


@run_async
async def test_saving_from_the_active_version_while_an_older_newer_one_exists(
    make_app: AppFactory,
) -> None:
    """customer-support: v5 active, v6 (a canary) saved long before the edit began."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        editor = await open_editor(pilot, "customer-support")
        assert editor.base is not None and editor.base.number == 5
        assert "v6 is newer" in str(editor.query_one("#editor-title", Static).content)
        await type_text(pilot, "Warm. ")
        await pilot.press("ctrl+s")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangeDialog)
        text = dialog_text(dialog)
        assert "v7 will be based on v5 and will not contain v6's changes" in text
        assert "ctrl+o carries your edit onto v6" in text
        await type_text(pilot, "warmer tone")
        await pilot.press("enter")
        await settle(pilot)
        # Not a conflict: v6 existed when the edit began.
        assert isinstance(app.screen, MainScreen)
        saved = app.store.version("customer-support")
        assert (saved.number, saved.parent) == (7, 5)
        assert saved.system_prompt.startswith("Warm. ")


@run_async
async def test_carrying_an_edit_onto_the_newer_version_keeps_both_changes(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        theirs = app.store.version("customer-support", 6).system_prompt
        mine_base = app.store.version("customer-support", 5).system_prompt
        assert theirs != mine_base
        await open_editor(pilot, "customer-support")
        await type_text(pilot, "Warm. ")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await type_text(pilot, "warmer tone")
        await pilot.press("ctrl+o")  # carry onto v6 instead
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.base is not None and editor.base.number == 6
        assert editor.text == "Warm. " + theirs
        status = str(editor.query_one("#editor-status", Static).content)
        assert "both changes kept" in status
        await pilot.press("ctrl+s")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangeDialog)
        assert "will not contain" not in dialog_text(dialog)
        assert dialog.query_one("#reason", Input).value == "warmer tone"
        await pilot.press("enter")
        await settle(pilot)
        saved = app.store.version("customer-support")
        assert (saved.number, saved.parent) == (7, 6)
        assert saved.system_prompt == "Warm. " + theirs


@run_async
async def test_a_save_made_after_the_edit_began_is_merged_with_conflicts_marked(
    make_app: AppFactory, tui_db: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        editor = await open_editor(pilot, "summarizer")
        original = editor.text
        first, rest = original.split("\n", 1)
        await type_text(pilot, "Mine. ")
        with PromptStore(tui_db, user="bob") as other:
            other.save("summarizer", "Theirs. " + first + "\n" + rest, reason="bob's opening")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await type_text(pilot, "my opening")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConflictDialog)
        await pilot.press("m")  # carry onto v5
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert editor.base is not None and editor.base.number == 5
        assert editor.text == (
            f"{START_MARKER} yours (your edit of v4)\n"
            f"Mine. {first}\n"
            "=======\n"
            f"Theirs. {first}\n"
            ">>>>>>> v5 by bob (theirs)\n" + rest
        )
        # The cursor is on the first marker, and saving waits until it is resolved.
        assert editor.query_one("#text", TextArea).cursor_location == (0, 0)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert "1 place still marked" in str(editor.query_one("#editor-status", Static).content)
        editor.query_one("#text", TextArea).text = f"Mine. Theirs. {first}\n{rest}"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("enter")  # the reason typed before is kept
        await settle(pilot)
        saved = app.store.version("summarizer")
        assert (saved.number, saved.parent, saved.reason) == (6, 5, "my opening")
        assert saved.system_prompt.startswith("Mine. Theirs. You summarise")


@run_async
async def test_find_and_replace(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        editor = await open_editor(pilot, "summarizer")
        area = editor.query_one("#text", TextArea)
        total = editor.text.lower().count("agent")
        assert total >= 2
        await pilot.press("ctrl+f")
        await type_text(pilot, "agent")
        await settle(pilot)
        count = editor.query_one("#find-count", Static)
        assert str(count.content) == f"1/{total}"
        assert area.selected_text.lower() == "agent"
        first = area.selection
        await pilot.press("down")
        assert str(count.content) == f"2/{total}"
        assert area.selection != first
        await pilot.press("up")
        assert str(count.content) == f"1/{total}"
        assert area.selection == first
        await pilot.press("ctrl+r")
        await type_text(pilot, "colleague")
        await pilot.press("enter")  # replace one
        assert editor.text.lower().count("agent") == total - 1
        assert editor.text.lower().count("colleague") == 1
        await pilot.press("ctrl+a")  # replace all
        await settle(pilot)
        assert "agent" not in editor.text.lower()
        await pilot.press("escape")  # closes the bar, not the editor
        assert isinstance(app.screen, EditorScreen)
        assert area.has_focus
        await pilot.press("ctrl+z")  # replace all was one edit
        assert editor.text.lower().count("agent") == total - 1


@run_async
async def test_editor_footer_shows_the_keys_that_work(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main_keys = footer_keys(await open_feature(pilot, "summarizer"))
        assert "q" in main_keys and "question_mark" in main_keys
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        keys = footer_keys(editor)
        assert keys["ctrl+f"] == "Find"
        assert keys["ctrl+r"] == "Replace"
        assert keys["ctrl+w"] == "Del word"
        assert keys["ctrl+q"] == "Quit"
        assert keys["f1"] == "Help"
        assert "q" not in keys and "question_mark" not in keys
        assert "ctrl+o" not in keys  # nothing newer than v4
        await type_text(pilot, "q? extra")
        assert editor.text.startswith("q? extraYou")
        await pilot.press("ctrl+w")
        assert editor.text.startswith("q? You")


@run_async
async def test_model_and_parameters_show_what_is_typed_at_80x24(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        editor = await open_editor(pilot, "customer-support")
        for field_id in ("#model", "#parameters"):
            field = editor.query_one(field_id, Input)
            assert field.content_region.width >= len(field.value) + 1, field_id
    async with make_app().run_test(size=(200, 50)) as pilot:
        editor = await open_editor(pilot, "customer-support")
        model = editor.query_one("#model", Input)
        parameters = editor.query_one("#parameters", Input)
        assert model.region.y == parameters.region.y  # one row when there is room


@run_async
async def test_parameter_errors_say_what_is_wrong(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        editor = await open_editor(pilot, "summarizer")
        editor.query_one("#parameters", Input).value = '{"temperature": 0.2}}'
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = notifications(app)[-1]
        assert "(char" not in message and "Extra data" not in message
        assert "follows the closing }" in message
        assert editor.query_one("#parameters", Input).has_focus


def test_parameter_messages_in_plain_words() -> None:
    cases = {
        "{}x": "follows the closing }",
        "{'temperature': 0.2}": "double quotes",
        '{"temperature": 0.2,}': "remove the comma",
        '{"temperature" 0.2}': "colon is missing",
        '{"temperature": 0.2 "top_p": 1}': "comma is missing",
        '{"temperature": 0.2': "comma is missing",
        '{"stop": "##}': "never closed",
        '{"temperature": hot}': "is not a value",
        "[1, 2]": "JSON object in braces",
        '{"temperature": ': "ends too early",
    }
    for value, expected in cases.items():
        try:
            parse_parameters(value)
        except ValueError as exc:
            assert expected in str(exc), (value, str(exc))
            assert "line 1 column" not in str(exc)
        else:
            raise AssertionError(f"{value!r} was accepted")
    assert parse_parameters("") == {}


@run_async
async def test_editor_actions_are_in_the_command_palette(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        editor = await open_editor(pilot, "customer-support")
        titles = [command.title for command in app.get_system_commands(editor)]
        assert {"Save", "Find", "Replace", "Carry onto v6"} <= set(titles)
