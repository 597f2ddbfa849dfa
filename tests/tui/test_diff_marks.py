"""Marks in the diff that do not depend on colour: changed words under NO_COLOR, and
lines whose change is only whitespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import AppFactory
from textual.app import App, ComposeResult
from tui_helpers import run_async, settle

from promptdeck.tui.widgets.diff_view import WHITESPACE_MARK, DiffData, DiffView
from promptdeck.tui.widgets.feature_list import FeatureList

OLD = "Greet the customer.\nBe polite.\nAnswer briefly.\n\nSign off.\n"
NEW = "Greet the customer.\nBe  polite.\nAnswer warmly.\nSign off.\n"


class DiffApp(App[None]):
    def __init__(self, data: DiffData, *, unified: bool = False) -> None:
        super().__init__()
        self.data = data
        self.unified = unified

    def compose(self) -> ComposeResult:
        yield DiffView(self.data, unified=self.unified)


def screen_lines(view: DiffView) -> list[str]:
    return [view.render_line(y).text for y in range(view.row_count)]


@run_async
async def test_whitespace_only_changes_are_marked_beside_the_gutter() -> None:
    for unified in (False, True):
        app = DiffApp(DiffData.compute(OLD, NEW), unified=unified)
        async with app.run_test(size=(80, 12)):
            view = app.query_one(DiffView)
            lines = screen_lines(view)
            marks = (f"-{WHITESPACE_MARK}", f"+{WHITESPACE_MARK}")
            marked = [line for line in lines if any(mark in line for mark in marks)]
            # "Be polite." -> "Be  polite."; not "warmly", not the removed blank line
            # (its - says all there is).
            assert any("Be  polite." in line for line in marked), (unified, lines)
            assert not any("warmly" in line for line in marked), (unified, lines)
            assert len(marked) == (1 if not unified else 2), (unified, lines)


@run_async
async def test_under_no_color_changed_words_are_underlined_or_struck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = DiffApp(DiffData.compute(OLD, NEW))
    async with app.run_test(size=(80, 12)):
        view = app.query_one(DiffView)
        assert view.get_component_rich_style("diff-view--added-word").underline
        assert view.get_component_rich_style("diff-view--removed-word").strike
        styled = {
            segment.text: segment.style
            for y in range(view.row_count)
            for segment in view.render_line(y)
            if segment.text.strip()
        }
        assert any(text == "warmly" and style and style.underline for text, style in styled.items())
        assert any(text == "briefly" and style and style.strike for text, style in styled.items())


@run_async
async def test_with_colour_changed_words_keep_their_background_only() -> None:
    app = DiffApp(DiffData.compute(OLD, NEW))
    async with app.run_test(size=(80, 12)):
        view = app.query_one(DiffView)
        assert not view.get_component_rich_style("diff-view--added-word").underline


@run_async
async def test_the_empty_store_hint_fits_80_columns(tmp_path: Path, make_app: AppFactory) -> None:
    from promptdeck.store import PromptStore
    from promptdeck.tui.app import PromptDeckApp

    store = PromptStore(tmp_path / "empty.db", user="alice")
    try:
        app = PromptDeckApp(store)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            features = app.screen.query_one(FeatureList)
            height = features.scrollable_content_region.height
            shown = " ".join(features.render_line(y).text.strip() for y in range(height))
            assert "press n to create one" in " ".join(shown.split())
    finally:
        store.close()
