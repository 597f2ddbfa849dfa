"""Find and replace in a TextArea: a one- or two-line bar under the text.

Matching is "smart case": a search in lower case ignores case, one with a capital
letter matches case exactly. Every replacement is one edit of the text area, so
ctrl+z undoes it (replace all is one undo step).
"""

from __future__ import annotations

import re
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static, TextArea
from textual.widgets.text_area import Selection


def find_all(text: str, query: str) -> list[tuple[int, int]]:
    """(start, end) offsets of every match of ``query`` in ``text`` (smart case)."""
    if not query:
        return []
    flags = 0 if any(char.isupper() for char in query) else re.IGNORECASE
    return [(m.start(), m.end()) for m in re.finditer(re.escape(query), text, flags)]


def index_of(text: str, location: tuple[int, int]) -> int:
    """The offset in ``text`` of a (row, column) location of a TextArea."""
    row, column = location
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[:row]) + column


def location_of(text: str, index: int) -> tuple[int, int]:
    """The (row, column) of offset ``index`` in ``text``."""
    before = text[:index]
    row = before.count("\n")
    return (row, index - (before.rfind("\n") + 1))


class _BarInput(Input):
    """A field of the find bar; its keys act on the bar."""

    @property
    def bar(self) -> FindBar:
        return next(node for node in self.ancestors if isinstance(node, FindBar))

    def action_find(self, step: int) -> None:
        self.bar.find(step)

    def action_close_find(self) -> None:
        self.bar.close()


class FindInput(_BarInput):
    """The search field: enter or down finds the next match, up the previous one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,down", "find(1)", "Next", id="find.next"),
        Binding("up", "find(-1)", "Prev", id="find.previous"),
        Binding("escape", "close_find", "Back to text", id="find.close"),
    ]


class ReplaceInput(_BarInput):
    """The replacement: enter replaces this match and selects the next one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "replace", "Replace", id="replace.one"),
        Binding("ctrl+a", "replace_all", "All", id="replace.all"),
        Binding("down", "find(1)", "Next", id="replace.next"),
        Binding("up", "find(-1)", "Prev", id="replace.previous"),
        Binding("escape", "close_find", "Back to text", id="replace.close"),
    ]

    def action_replace(self) -> None:
        self.bar.replace_current()

    def action_replace_all(self) -> None:
        self.bar.replace_all()


class FindBar(Vertical):
    """Find (and replace) in the TextArea given by ``target``."""

    DEFAULT_CSS = """
    FindBar {
        height: auto;
        display: none;
        &.-open { display: block; }
        Horizontal { height: 1; }
        Label { width: 9; padding: 0 1; color: $text-muted; }
        Input {
            width: 1fr;
            height: 1;
            border: none;
            padding: 0 1;
            background: $surface;
        }
        Input:focus { border: none; background: $boost; }
        #find-count { width: auto; min-width: 12; padding: 0 1; }
        #replace-row { display: none; }
        &.-replace #replace-row { display: block; }
    }
    """

    def __init__(self, target: TextArea, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._target = target
        self.matches: list[tuple[int, int]] = []
        self.current = -1

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("find")
            yield FindInput(placeholder="text to find", id="find-text", select_on_focus=True)
            yield Static("", id="find-count")
        with Horizontal(id="replace-row"):
            yield Label("replace")
            yield ReplaceInput(placeholder="replace with", id="replace-text")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False

    @property
    def query_text(self) -> str:
        return self.query_one("#find-text", Input).value

    def open(self, *, replace: bool) -> None:
        """Show the bar; the text selected in the editor becomes the search."""
        area = self._target
        selected = area.selected_text
        field = self.query_one("#find-text", Input)
        if selected and "\n" not in selected:
            field.value = selected
        self.add_class("-open")
        self.set_class(replace, "-replace")
        if replace and field.value:
            self.query_one("#replace-text", Input).focus()
        else:
            field.focus()
        self._refresh_matches(keep_position=True)

    def close(self) -> None:
        self.remove_class("-open")
        self._target.focus()

    # -- matching --------------------------------------------------------------------

    @on(Input.Changed, "#find-text")
    def _query_changed(self) -> None:
        self._refresh_matches(keep_position=True)
        if self.matches:
            self._select(self.current)

    def _refresh_matches(self, *, keep_position: bool) -> None:
        area = self._target
        self.matches = find_all(area.text, self.query_text)
        if not self.matches:
            self.current = -1
        elif keep_position:
            # The first match at or after the cursor.
            cursor = index_of(area.text, area.selection.start)
            self.current = next(
                (i for i, (start, _end) in enumerate(self.matches) if start >= cursor), 0
            )
        self._show_count()

    def _show_count(self) -> None:
        count = self.query_one("#find-count", Static)
        if not self.query_text:
            count.update("")
        elif not self.matches:
            count.update(Text("no match", style="bold red"))
        elif self.current >= 0:
            count.update(Text(f"{self.current + 1}/{len(self.matches)}"))
        else:
            count.update(Text(f"{len(self.matches)} found"))

    def _select(self, index: int) -> None:
        area = self._target
        start, end = self.matches[index]
        text = area.text
        area.selection = Selection(location_of(text, start), location_of(text, end))
        area.scroll_cursor_visible(center=True)
        self._show_count()

    def find(self, step: int) -> None:
        """Select the next (step 1) or previous (step -1) match, wrapping around."""
        self._refresh_matches(keep_position=False)
        if not self.matches:
            return
        area = self._target
        selected = (
            index_of(area.text, area.selection.start),
            index_of(area.text, area.selection.end),
        )
        if selected in self.matches:
            self.current = (self.matches.index(selected) + step) % len(self.matches)
        else:
            cursor = selected[0]
            after = [i for i, (start, _end) in enumerate(self.matches) if start >= cursor]
            if step > 0:
                self.current = after[0] if after else 0
            else:
                self.current = (after[0] if after else 0) - 1
            self.current %= len(self.matches)
        self._select(self.current)

    # -- replacing -------------------------------------------------------------------

    @property
    def replacement(self) -> str:
        return self.query_one("#replace-text", Input).value

    def replace_current(self) -> None:
        """Replace the selected match (selecting the next one first if none is)."""
        area = self._target
        self._refresh_matches(keep_position=False)
        selected = (
            index_of(area.text, area.selection.start),
            index_of(area.text, area.selection.end),
        )
        if selected not in self.matches:
            self.find(1)
            return
        area.replace(self.replacement, area.selection.start, area.selection.end)
        # The text moved: look again from just after the replacement.
        self._refresh_matches(keep_position=True)
        if self.matches:
            self._select(self.current)

    def replace_all(self) -> None:
        area = self._target
        matches = find_all(area.text, self.query_text)
        if not matches:
            self._show_count()
            return
        text = area.text
        pieces: list[str] = []
        last = 0
        for start, end in matches:
            pieces.append(text[last:start])
            pieces.append(self.replacement)
            last = end
        pieces.append(text[last:])
        # One edit of the whole text: one undo step.
        area.replace("".join(pieces), (0, 0), area.document.end)
        self._refresh_matches(keep_position=False)
        count = self.query_one("#find-count", Static)
        count.update(Text(f"{len(matches)} replaced", style="bold"))
        self.app.notify(f"Replaced {len(matches)} × “{self.query_text}”", markup=False, timeout=3)
