"""A diff viewer that draws only the rows on screen (Line API), whatever the diff's size.

It renders a :class:`promptdeck.diff.DiffResult` side by side (line numbers on both
sides) or unified. Every row carries a ``+``/``-``/``~`` gutter so it reads without
colour; changed words are highlighted within changed lines. User text is drawn as
plain segments (never markup), with control characters made visible.

Long lines wrap by default (``wrap``): a row then takes as many screen lines as its
longer side needs at the current width, breaking after spaces where it can, by cells
(double-width characters and emoji count two). The line number and sign are drawn on
a row's first screen line only. A table of each row's first screen line is built when
the diff, the mode or the width changes (one pass over the rows); drawing a line looks
its row up by bisection and wraps only that row (cached). With ``wrap`` off, long
lines are cut at the edge and scroll sideways (left/right).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment as RichSegment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from promptdeck.diff import Segment
from promptdeck.diff_layout import (
    TAB_SIZE,
    DiffData,
    WrappedSide,
    display_text,
    slice_segments,
    wrap_starts,
)
from promptdeck.display import visible

# DiffData is drawn here but built elsewhere; screens import it from this module too.
__all__ = ["DiffData", "DiffView"]

SHIFT_STEP = 8
#: Rows whose wrapped form is kept for drawing (they are re-wrapped when evicted).
WRAP_CACHE = 512

#: Drawn after the +/- sign of a line whose change is only whitespace (invisible else).
WHITESPACE_MARK = "·"


def whitespace_only(segments: Sequence[Segment], other: Sequence[Segment] | None) -> bool:
    """True when a changed line differs from ``other`` (its counterpart) only in
    whitespace; without ``other``, when every changed word is whitespace. A line only
    added or removed is not marked: its +/- already says all there is."""
    if other is None:
        changed = [segment.text for segment in segments if segment.changed]
        return bool(changed) and all(not piece.strip() for piece in changed)
    text = "".join(segment.text for segment in segments)
    return "".join(text.split()) == "".join("".join(s.text for s in other).split())


class DiffView(ScrollView, can_focus=True):
    """Side-by-side or unified diff, rendered lazily; long lines wrap or scroll sideways."""

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
        scrollbar-gutter: stable;
        & > .diff-view--lineno { color: $text-muted; }
        & > .diff-view--current { color: $text; background: $accent 40%; text-style: bold; }
        & > .diff-view--added { background: $success 15%; }
        & > .diff-view--removed { background: $error 15%; }
        & > .diff-view--added-word { background: $success 45%; text-style: bold; }
        & > .diff-view--removed-word { background: $error 45%; text-style: bold; }
        & > .diff-view--filler { background: $panel; }
        & > .diff-view--separator { color: $text-muted; }
        & > .diff-view--note { color: $text-muted; text-style: italic; }
        /* Without colour a background says nothing: changed words are underlined
           (added) or struck through (removed) as well as bold. */
        &.-no-color > .diff-view--added-word { text-style: bold underline; }
        &.-no-color > .diff-view--removed-word { text-style: bold strike; }
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
    wrap: reactive[bool] = reactive(True)
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
        wrap: bool = True,
        open_at_first_change: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._data = data
        self._current_span = (-1, -1)
        # Wrapped layout: first screen line of each row, then the total (None: one each).
        self._offsets: list[int] | None = None
        self._layout_width = -1
        self._wrapped: dict[tuple[int, int], WrappedSide] = {}
        self._whitespace_rows: dict[int, bool] = {}
        self.set_reactive(DiffView.unified, unified)
        self.set_reactive(DiffView.wrap, wrap)
        self._open_at_first_change = open_at_first_change
        self._scroll_pending = False

    def on_mount(self) -> None:
        self.set_class(self.app.no_color, "-no-color")
        if self._open_at_first_change and self.hunks:
            # Current at once (drawn from the first paint); the scroll waits for the
            # first size, since it needs the wrapped heights.
            self.current = 0
            self._scroll_pending = True
            self.call_after_refresh(self._scroll_to_first)

    def _scroll_to_first(self) -> None:
        if self._scroll_pending and self.scrollable_content_region.width > 0:
            self._scroll_pending = False
            self._update_size()
            self._scroll_to_current()

    # -- data ------------------------------------------------------------------------

    @property
    def data(self) -> DiffData | None:
        return self._data

    def set_data(self, data: DiffData | None) -> None:
        """Show a new diff (keeps the mode; goes back to the top)."""
        self._data = data
        self._whitespace_rows.clear()
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
        """Rows of the diff (in wrap mode a row may take several screen lines)."""
        if self._data is None:
            return 0
        return len(self._data.unified) if self.unified else len(self._data.result.rows)

    @property
    def line_count(self) -> int:
        """Screen lines the diff takes at the current width."""
        return self._offsets[-1] if self._offsets is not None else self.row_count

    def line_of(self, row: int) -> int:
        """The first screen line of ``row``."""
        if self._offsets is None:
            return row
        return self._offsets[max(0, min(row, len(self._offsets) - 1))]

    def row_at(self, line: int) -> tuple[int, int]:
        """The row drawn on screen line ``line``, and which of its screen lines it is."""
        if self._offsets is None:
            return (line, 0)
        row = max(0, bisect_right(self._offsets, line) - 1)
        return (row, line - self._offsets[row])

    def _update_size(self) -> None:
        self._layout()
        self.virtual_size = Size(0, max(1, self.line_count))

    # -- wrapping --------------------------------------------------------------------

    def _widths(self, width: int) -> tuple[int, int]:
        """Text columns of the left and right sides (unified: both the one column)."""
        assert self._data is not None
        number_width = self._data.number_width
        if self.unified:
            text = width - 2 * number_width - 4
            return (text, text)
        half = max(8, (width - 1) // 2)
        return (half - number_width - 3, width - half - 1 - number_width - 3)

    def _layout(self) -> None:
        """Build the row -> first screen line table for the current mode and width."""
        self._wrapped.clear()
        width = self.scrollable_content_region.width
        self._layout_width = width
        if not self.wrap or self._data is None or width <= 0:
            self._offsets = None
            return
        left_width, right_width = self._widths(width)
        offsets = [0]
        append = offsets.append
        total = 0
        if self.unified:
            for line in self._data.unified:
                total += len(wrap_starts(display_text(line.segments), left_width))
                append(total)
        else:
            for row in self._data.result.rows:
                left = 1
                if row.left:
                    left = len(wrap_starts(display_text(row.left), left_width))
                if row.right is row.left and right_width == left_width:
                    right = left
                elif row.right:
                    right = len(wrap_starts(display_text(row.right), right_width))
                else:
                    right = 1
                total += max(left, right)
                append(total)
        self._offsets = offsets

    def _wrap(self, row: int, side: int, segments: Sequence[Segment], width: int) -> WrappedSide:
        key = (row, side)
        wrapped = self._wrapped.get(key)
        if wrapped is None:
            if len(self._wrapped) >= WRAP_CACHE:
                self._wrapped.clear()
            wrapped = WrappedSide(segments, width)
            self._wrapped[key] = wrapped
        return wrapped

    def _relayout(self) -> None:
        """Lay out again, keeping the row at the top of the view at the top."""
        top, _part = self.row_at(round(self.scroll_y))
        self._update_size()
        self.scroll_to(y=self.line_of(top), animate=False)
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        if self.scrollable_content_region.width != self._layout_width:
            self._relayout()
        self._scroll_to_first()

    # -- navigation ------------------------------------------------------------------

    def action_next_change(self) -> None:
        self._go(self.current + 1)

    def action_previous_change(self) -> None:
        self._go(self.current - 1 if self.current >= 0 else 0)

    def go_to_change(self, index: int) -> None:
        """Make change ``index`` current and scroll to it."""
        self._go(index)

    def change_line(self, index: int) -> int:
        """The line number (new side, else old side) where change ``index`` starts."""
        if self._data is None or not 0 <= index < len(self.hunks):
            return 0
        row = self.hunks[index]
        if self.unified:
            line = self._data.unified[row]
            return line.new_no or line.old_no or 0
        diff_row = self._data.result.rows[row]
        return diff_row.right_no or diff_row.left_no or 0

    def action_shift(self, direction: int) -> None:
        if not self.wrap:  # wrapped lines need no sideways scrolling
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
        self._scroll_to_current()

    def _scroll_to_current(self) -> None:
        """Show the current change with two lines of context above it."""
        if 0 <= self.current < len(self.hunks):
            line = self.line_of(self.hunks[self.current])
            self.scroll_to(y=max(0, line - 2), animate=False)

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
        self._scroll_to_current()
        self.refresh()

    def watch_wrap(self) -> None:
        self.shift = 0
        self._relayout()

    def watch_shift(self) -> None:
        self.refresh()

    # -- drawing ---------------------------------------------------------------------

    def _whitespace_row(self, index: int) -> bool:
        """Whether side-by-side row ``index`` changes only whitespace (cached)."""
        assert self._data is not None
        cached = self._whitespace_rows.get(index)
        if cached is None:
            row = self._data.result.rows[index]
            cached = row.kind == "replace" and whitespace_only(row.left, row.right)
            self._whitespace_rows[index] = cached
        return cached

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"diff-view--{name}")

    def render_line(self, y: int) -> Strip:
        _scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self._data is None:
            return Strip.blank(width, base)
        if self.wrap and width != self._layout_width:
            # A new width is drawn before the resize event arrives: lay out now.
            self._relayout()
            scroll_y = self.scroll_offset.y
        index, part = self.row_at(scroll_y + y)
        if index >= self.row_count:
            if index == 0:
                return Strip([RichSegment("No differences", self._style("note"))]).crop_extend(
                    0, width, base
                )
            return Strip.blank(width, base)
        current = self._current_span[0] <= index < self._current_span[1]
        if self.unified:
            return self._unified_line(index, part, width, current)
        row = self._data.result.rows[index]
        half = max(8, (width - 1) // 2)
        left_kind = "removed" if row.kind in ("replace", "delete") else ""
        right_kind = "added" if row.kind in ("replace", "insert") else ""
        left_sign = {"replace": "-", "delete": "-"}.get(row.kind, " ")
        right_sign = {"replace": "+", "insert": "+"}.get(row.kind, " ")
        if row.kind != "equal" and self._whitespace_row(index):
            left_sign += WHITESPACE_MARK if left_sign != " " else " "
            right_sign += WHITESPACE_MARK if right_sign != " " else " "
        left_width, right_width = self._widths(width)
        left_text = right_text = None
        if self.wrap:
            left_text = self._wrap(index, 0, row.left, left_width).line(part)
            if row.right is row.left and right_width == left_width:
                right_text = left_text
            else:
                right_text = self._wrap(index, 1, row.right, right_width).line(part)
        left = self._half(
            row.left_no, left_sign, row.left, left_kind, half, current, left_text, part
        )
        right = self._half(
            row.right_no,
            right_sign,
            row.right,
            right_kind,
            width - half - 1,
            current,
            right_text,
            part,
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
        wrapped: list[tuple[str, bool]] | None = None,
        part: int = 0,
    ) -> Strip:
        """One side of a row; ``wrapped``: the text of its screen line ``part``."""
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
        line_style = self._style(kind) if kind else self.rich_style
        if part:  # a continuation: no number, no sign
            pieces = [
                RichSegment(" " * number_width, lineno_style),
                RichSegment("   ", line_style),
            ]
        else:
            pieces = [
                RichSegment(f"{number:>{number_width}}", lineno_style),
                RichSegment(f" {sign} "[:3], line_style),  # sign may carry the · mark
            ]
        if wrapped is None:
            pieces.extend(self._text(segments, kind, width - number_width - 3))
        else:
            pieces.extend(self._pieces(wrapped, kind))
        return Strip(pieces).crop_extend(0, width, line_style)

    def _pieces(self, wrapped: Sequence[tuple[str, bool]], kind: str) -> list[RichSegment]:
        line_style = self._style(kind) if kind else self.rich_style
        word_style = self._style(f"{kind}-word") if kind else self.rich_style
        return [
            RichSegment(text, word_style if changed and kind else line_style)
            for text, changed in wrapped
        ]

    def _text(self, segments: Sequence[Segment], kind: str, width: int) -> list[RichSegment]:
        if width <= 0:
            return []
        line_style = self._style(kind) if kind else self.rich_style
        word_style = self._style(f"{kind}-word") if kind else self.rich_style
        out: list[RichSegment] = []
        for text, changed in slice_segments(segments, self.shift, width + TAB_SIZE):
            shown = visible(text).expandtabs(TAB_SIZE)
            out.append(RichSegment(shown, word_style if changed and kind else line_style))
        return out

    def _unified_line(self, index: int, part: int, width: int, current: bool) -> Strip:
        assert self._data is not None
        line = self._data.unified[index]
        number_width = self._data.number_width
        kind = {"+": "added", "-": "removed"}.get(line.sign, "")
        lineno_style = self._style("current" if current else "lineno")
        line_style = self._style(kind) if kind else self.rich_style
        if part:
            pieces = [
                RichSegment(" " * (2 * number_width + 1), lineno_style),
                RichSegment("   ", line_style),
            ]
        else:
            old = f"{line.old_no:>{number_width}}" if line.old_no else " " * number_width
            new = f"{line.new_no:>{number_width}}" if line.new_no else " " * number_width
            sign: str = line.sign
            if sign != " " and whitespace_only(line.segments, None):
                sign += WHITESPACE_MARK
            pieces = [
                RichSegment(f"{old} {new}", lineno_style),
                RichSegment(f" {sign} "[:3], line_style),  # sign may carry the · mark
            ]
        text_width = width - 2 * number_width - 4
        if self.wrap:
            wrapped = self._wrap(index, 0, line.segments, text_width).line(part)
            pieces.extend(self._pieces(wrapped, kind))
        else:
            pieces.extend(self._text(line.segments, kind, text_width))
        return Strip(pieces).crop_extend(0, width, line_style)
