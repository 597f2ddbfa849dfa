"""Soft wrapping in the diff view: long lines wrap by default, `l` scrolls them instead."""

from __future__ import annotations

from pathlib import Path

from conftest import AppFactory
from rich.cells import cell_len
from textual.pilot import Pilot
from textual.widgets import Static
from tui_helpers import run_async, settle

from promptdeck.diff import Segment
from promptdeck.diff_layout import display_pieces, wrap_starts
from promptdeck.store import PromptStore
from promptdeck.tui.screens.diff import DiffScreen
from promptdeck.tui.widgets.diff_view import DiffView

SIZE = (80, 24)
PREFIX = "You answer questions from customers about billing and accounts, and you always "
OLD_LINE = PREFIX + "end with the word ALPHA."
NEW_LINE = PREFIX + "end with the word OMEGA."


def pieces(text: str, width: int) -> list[str]:
    starts = wrap_starts(text, width)
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def test_wrap_breaks_after_spaces_and_keeps_every_character() -> None:
    assert pieces("short", 10) == ["short"]
    assert pieces("hello world foo bar", 11) == ["hello ", "world foo ", "bar"]
    assert pieces("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert pieces("   " + "y" * 12, 10) == ["   " + "y" * 7, "y" * 5]  # never only spaces
    assert pieces("ab  ", 2) == ["ab", "  "]


def test_wrap_counts_cells_and_never_splits_a_grapheme() -> None:
    text = "漢字とかな🎉👩‍👩‍👧e\u0301 " * 8
    for width in range(2, 20):
        parts = pieces(text, width)
        assert "".join(parts) == text
        assert all(cell_len(part) <= width for part in parts)
        assert not any(part.startswith(("\u200d", "\u0301")) for part in parts)
    assert pieces("漢字漢字", 5) == ["漢字", "漢字"]


def test_display_pieces_show_controls_and_expand_tabs_across_segments() -> None:
    shown = display_pieces((Segment("a\x1b", False), Segment("\tb", True)))
    assert shown == (("a\u241b", False), ("  b", True))


async def open_diff(pilot: Pilot[None], feature: str) -> DiffView:
    await settle(pilot)
    await pilot.press("slash", *feature, "enter")
    await settle(pilot)
    await pilot.press("d")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, DiffScreen)
    view = screen.query_one(DiffView)
    assert view.data is not None
    return view


def shown(view: DiffView) -> list[str]:
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


def summary(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one("#diff-summary", Static).content)


@run_async
async def test_change_beyond_the_column_is_visible_when_wrapped(
    make_app: AppFactory, tui_db: Path
) -> None:
    with PromptStore(tui_db, user="alice") as store:
        store.create_feature("wrap-demo", f"Intro.\n{OLD_LINE}\nOutro.\n", model="m", reason="r")
        store.save("wrap-demo", f"Intro.\n{NEW_LINE}\nOutro.\n", reason="r")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_diff(pilot, "wrap-demo")
        assert view.wrap
        assert "wrapped" in summary(pilot)
        lines = shown(view)
        text = "\n".join(lines)
        assert "ALPHA" in text and "OMEGA" in text  # beyond column 80 of the line
        assert view.line_count > view.row_count
        # The number and sign are on the first screen line of the row only.
        first = next(line for line in lines if "You answer" in line)
        left, right = first.split("│")
        assert left.split()[:2] == ["2", "-"] and right.split()[:2] == ["2", "+"]
        left, right = lines[lines.index(first) + 1].split("│")
        assert left[:5].strip() == right[:5].strip() == ""
        # Changed words stay highlighted on the wrapped piece that holds them.
        word = view.get_component_rich_style("diff-view--added-word")
        row = lines.index(next(line for line in lines if "OMEGA" in line))
        segments = list(view.render_line(row))
        assert any("OMEGA" in s.text and s.style == word for s in segments)
        # Left/right do nothing when wrapped.
        await pilot.press("right")
        assert view.shift == 0

        await pilot.press("l")
        await settle(pilot, rounds=1)
        assert not view.wrap
        assert view.line_count == view.row_count
        assert "not wrapped" in summary(pilot)
        assert "OMEGA" not in "\n".join(shown(view))
        for _ in range(len(PREFIX) // 8 + 1):
            await pilot.press("right")
        assert view.shift > 0
        assert "OMEGA" in "\n".join(shown(view))

        await pilot.press("l")  # and back: wrapped again, no sideways shift
        await settle(pilot, rounds=1)
        assert view.wrap and view.shift == 0
        assert "OMEGA" in "\n".join(shown(view))


@run_async
async def test_next_change_lands_on_the_changed_row_when_wrapped(
    make_app: AppFactory, tui_db: Path
) -> None:
    old = [f"{number:03} {PREFIX}and this is line {number}." for number in range(60)]
    new = list(old)
    new[40] = new[40].replace("always", "never")
    with PromptStore(tui_db, user="alice") as store:
        store.create_feature("wrap-nav", "\n".join(old), model="m", reason="r")
        store.save("wrap-nav", "\n".join(new), reason="r")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_diff(pilot, "wrap-nav")
        for unified in (False, True):
            if unified:
                await pilot.press("u")
                await settle(pilot, rounds=1)
            assert view.wrap
            await pilot.press("n")
            await settle(pilot, rounds=1)
            assert view.current == 0
            hunk = view.hunks[0]
            top = round(view.scroll_y)
            assert top == view.line_of(hunk) - 2
            assert top > hunk  # the rows above wrapped, so screen lines != rows
            assert view.row_at(top + 2) == (hunk, 0)
            drawn = view.render_line(2).text.split()  # the changed line's first piece
            assert drawn[0] == "41" and "-" in drawn[:3] and "040" in drawn[:4]
            # Scroll mode: the same change, one screen line per row.
            await pilot.press("l", "n")
            await settle(pilot, rounds=1)
            assert round(view.scroll_y) == view.hunks[0] - 2
            assert "040 You" in view.render_line(2).text
            await pilot.press("l")
            await settle(pilot, rounds=1)
            assert view.wrap
            assert view.row_at(round(view.scroll_y))[0] == view.hunks[0] - 2


@run_async
async def test_a_200_kb_line_wraps(make_app: AppFactory, tui_db: Path) -> None:
    old = "start " + "lorem ipsum dolor " * 11_000 + "end\n"
    new = old.replace("dolor", "DOLOR", 3)
    with PromptStore(tui_db, user="alice") as store:
        store.create_feature("wrap-huge", old, model="m", reason="r")
        store.save("wrap-huge", new, reason="r")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_diff(pilot, "wrap-huge")
        assert view.row_count == 1
        assert view.line_count > 5_000
        assert "DOLOR" in "\n".join(shown(view))
        for keys in (("n",), ("end",), ("u", "pageup"), ("l", "right")):
            await pilot.press(*keys)
            await settle(pilot, rounds=1)
            lines = shown(view)
            assert len(lines) == view.scrollable_content_region.height
        assert not view.wrap
        await pilot.press("l", "end")
        await settle(pilot, rounds=1)
        assert view.wrap
        assert "end" in "\n".join(shown(view))
