"""A diff viewer that draws only the rows on screen (Line API), whatever the diff's size.

It renders a :class:`promptdeck.diff.DiffResult` side by side (line numbers on both
sides) or unified. Every row carries a ``+``/``-``/``~`` gutter so it reads without
colour; changed words are highlighted within changed lines. User text is drawn as
plain segments (never markup), with control characters made visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment as RichSegment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from promptdeck.diff import DiffResult, Segment, UnifiedLine, diff_texts
from promptdeck.tui.text import TAB_SIZE, visible

SHIFT_STEP = 8


@dataclass(frozen=True, slots=True)
class DiffData:
    """A computed diff with its unified form: build it in a worker, draw it in the UI."""

    result: DiffResult
    unified: tuple[UnifiedLine, ...]
    unified_hunks: tuple[int, ...]
    number_width: int

    @classmethod
    def compute(cls, old: str, new: str, *, ignore_whitespace: bool = False) -> DiffData:
        result = diff_texts(old, new, ignore_whitespace=ignore_whitespace)
        unified = result.unified()
        biggest = max(
            (max(row.left_no or 0, row.right_no or 0) for row in result.rows[-1:]), default=0
        )
        return cls(
            result=result,
            unified=unified,
            unified_hunks=result.unified_hunks(),
            number_width=max(2, len(str(biggest))),
        )


def _slice(segments: Sequence[Segment], start: int, count: int) -> list[tuple[str, bool]]:
    """The characters ``start`` to ``start + count`` of a line given as segments."""
    out: list[tuple[str, bool]] = []
    position = 0
    end = start + count
    for segment in segments:
        size = len(segment.text)
        if position + size > start and position < end:
            piece = segment.text[max(0, start - position) : end - position]
            out.append((piece, segment.changed))
        position += size
        if position >= end:
            break
    return out


class DiffView(ScrollView, can_focus=True):
    """Side-by-side or unified diff, rendered lazily."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "diff-view--lineno",
        "diff-view--current",
        "diff-view--added",
        "diff-view--removed",
        "diff-view--added-word",
        "diff-view--removed-word",
        "diff-view--filler",
        "diff-view--separator",
        "diff-view--note",
    }

    DEFAULT_CSS = """
    DiffView {
        background: $surface;
        overflow-x: hidden;
        & > .diff-view--lineno { color: $text-muted; }
        & > .diff-view--current { color: $text; background: $accent 40%; text-style: bold; }
        & > .diff-view--added { background: $success 15%; }
        & > .diff-view--removed { background: $error 15%; }
        & > .diff-view--added-word { background: $success 45%; text-style: bold; }
        & > .diff-view--removed-word { background: $error 45%; text-style: bold; }
        & > .diff-view--filler { background: $panel; }
        & > .diff-view--separator { color: $text-muted; }
        & > .diff-view--note { color: $text-muted; text-style: italic; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "Up", show=False, id="diff.up"),
        Binding("down", "scroll_down", "Down", show=False, id="diff.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="diff.page-up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="diff.page-down"),
        Binding("home", "scroll_home", "Top", show=False, id="diff.top"),
        Binding("end", "scroll_end", "Bottom", show=False, id="diff.bottom"),
        Binding("left", "shift(-1)", "Left", show=False, id="diff.left"),
        Binding("right", "shift(1)", "Right", show=False, id="diff.right"),
    ]

    unified: reactive[bool] = reactive(False)
    shift: reactive[int] = reactive(0)
    current: reactive[int] = reactive(-1)

    class Moved(Message):
        """The current change moved (``index`` -1: none yet)."""

        def __init__(self, index: int, total: int) -> None:
            super().__init__()
            self.index = index
            self.total = total

    def __init__(
        self,
        data: DiffData | None = None,
        *,
        unified: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._data = data
        self._current_span = (-1, -1)
        self.set_reactive(DiffView.unified, unified)

    # -- data ------------------------------------------------------------------------

    @property
    def data(self) -> DiffData | None:
        return self._data

    def set_data(self, data: DiffData | None) -> None:
        """Show a new diff (keeps the mode; goes back to the top)."""
        self._data = data
        self.current = -1
        self.shift = 0
        self._update_size()
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    @property
    def hunks(self) -> tuple[int, ...]:
        if self._data is None:
            return ()
        return self._data.unified_hunks if self.unified else self._data.result.hunks

    @property
    def row_count(self) -> int:
        if self._data is None:
            return 0
        return len(self._data.unified) if self.unified else len(self._data.result.rows)

    def _update_size(self) -> None:
        self.virtual_size = Size(0, max(1, self.row_count))

    # -- navigation ------------------------------------------------------------------

    def action_next_change(self) -> None:
        self._go(self.current + 1)

    def action_previous_change(self) -> None:
        self._go(self.current - 1 if self.current >= 0 else 0)

    def action_shift(self, direction: int) -> None:
        self.shift = max(0, self.shift + direction * SHIFT_STEP)

    def _go(self, index: int) -> None:
        hunks = self.hunks
        if not hunks:
            self.notify("No changes", markup=False)
            return
        if index >= len(hunks):
            self.notify("Last change reached", markup=False, timeout=2)
            index = len(hunks) - 1
        index = max(0, index)
        self.current = index
        self.scroll_to(y=max(0, hunks[index] - 2), animate=False)

    def watch_current(self) -> None:
        self._current_span = self._span(self.current)
        self.refresh()
        self.post_message(self.Moved(self.current, len(self.hunks)))

    def _span(self, index: int) -> tuple[int, int]:
        hunks = self.hunks
        if not 0 <= index < len(hunks) or self._data is None:
            return (-1, -1)
        start = end = hunks[index]
        if self.unified:
            lines = self._data.unified
            while end < len(lines) and lines[end].sign != " ":
                end += 1
        else:
            rows = self._data.result.rows
            while end < len(rows) and rows[end].kind != "equal":
                end += 1
        return (start, end)

    def watch_unified(self) -> None:
        self._update_size()
        self._current_span = self._span(self.current)
        if self.current >= 0:
            self.scroll_to(y=max(0, self.hunks[self.current] - 2), animate=False)
        self.refresh()

    def watch_shift(self) -> None:
        self.refresh()

    # -- drawing ---------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"diff-view--{name}")

    def render_line(self, y: int) -> Strip:
        _scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self._data is None:
            return Strip.blank(width, base)
        if index >= self.row_count:
            if index == 0:
                return Strip([RichSegment("No differences", self._style("note"))]).crop_extend(
                    0, width, base
                )
            return Strip.blank(width, base)
        current = self._current_span[0] <= index < self._current_span[1]
        if self.unified:
            return self._unified_line(self._data.unified[index], width, current)
        row = self._data.result.rows[index]
        half = max(8, (width - 1) // 2)
        left_kind = "removed" if row.kind in ("replace", "delete") else ""
        right_kind = "added" if row.kind in ("replace", "insert") else ""
        left_sign = {"replace": "-", "delete": "-"}.get(row.kind, " ")
        right_sign = {"replace": "+", "insert": "+"}.get(row.kind, " ")
        left = self._half(row.left_no, left_sign, row.left, left_kind, half, current)
        right = self._half(
            row.right_no, right_sign, row.right, right_kind, width - half - 1, current
        )
        separator = Strip([RichSegment("│", self._style("separator"))])
        return Strip.join([left, separator, right]).crop_extend(0, width, base)

    def _half(
        self,
        number: int | None,
        sign: str,
        segments: Sequence[Segment],
        kind: str,
        width: int,
        current: bool,
    ) -> Strip:
        assert self._data is not None
        number_width = self._data.number_width
        lineno_style = self._style("current" if current else "lineno")
        if number is None:
            filler = self._style("filler")
            return Strip(
                [
                    RichSegment(" " * number_width, lineno_style),
                    RichSegment(" " * max(0, width - number_width), filler),
                ]
            ).crop_extend(0, width, filler)
        pieces = [
            RichSegment(f"{number:>{number_width}}", lineno_style),
            RichSegment(f" {sign} ", self._style(kind) if kind else self.rich_style),
        ]
        pieces.extend(self._text(segments, kind, width - number_width - 3))
        line_style = self._style(kind) if kind else self.rich_style
        return Strip(pieces).crop_extend(0, width, line_style)

    def _text(self, segments: Sequence[Segment], kind: str, width: int) -> list[RichSegment]:
        if width <= 0:
            return []
        line_style = self._style(kind) if kind else self.rich_style
        word_style = self._style(f"{kind}-word") if kind else self.rich_style
        out: list[RichSegment] = []
        for text, changed in _slice(segments, self.shift, width + TAB_SIZE):
            shown = visible(text).expandtabs(TAB_SIZE)
            out.append(RichSegment(shown, word_style if changed and kind else line_style))
        return out

    def _unified_line(self, line: UnifiedLine, width: int, current: bool) -> Strip:
        assert self._data is not None
        number_width = self._data.number_width
        kind = {"+": "added", "-": "removed"}.get(line.sign, "")
        lineno_style = self._style("current" if current else "lineno")
        line_style = self._style(kind) if kind else self.rich_style
        old = f"{line.old_no:>{number_width}}" if line.old_no else " " * number_width
        new = f"{line.new_no:>{number_width}}" if line.new_no else " " * number_width
        pieces = [
            RichSegment(f"{old} {new}", lineno_style),
            RichSegment(f" {line.sign} ", line_style),
        ]
        pieces.extend(self._text(line.segments, kind, width - 2 * number_width - 4))
        return Strip(pieces).crop_extend(0, width, line_style)
