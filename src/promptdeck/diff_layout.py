"""How a diff is laid out as text, apart from any widget: pure (no Textual, no Click).

:class:`DiffData` is a computed diff with its unified form (built once, off the UI
thread). :func:`wrap_starts` breaks a line into screen lines at a width in cells,
after spaces where it can and never inside a grapheme; :class:`WrappedSide` keeps a
side of a row wrapped with its changed/unchanged pieces. The app's diff widget and the
CLI's side-by-side diff both draw from these.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from rich.cells import cell_len, split_graphemes

from promptdeck.diff import DiffResult, Segment, UnifiedLine, diff_texts
from promptdeck.display import visible

#: Tab stops every this many cells (the app's text helpers use the same).
TAB_SIZE = 4
#: Narrowest text column wrapping works with (a double-width character needs two).
MIN_WRAP = 2

# A line as drawn: pieces of visible text (tabs expanded), changed or not.
Pieces = tuple[tuple[str, bool], ...]


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


def slice_segments(segments: Sequence[Segment], start: int, count: int) -> list[tuple[str, bool]]:
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


def display_pieces(segments: Sequence[Segment]) -> Pieces:
    """A line's segments as drawn: control characters visible, tabs expanded."""
    pieces: list[tuple[str, bool]] = []
    column = 0
    for segment in segments:
        text = visible(segment.text)
        if "\t" in text:
            parts: list[str] = []
            for number, chunk in enumerate(text.split("\t")):
                if number:
                    pad = TAB_SIZE - column % TAB_SIZE
                    parts.append(" " * pad)
                    column += pad
                parts.append(chunk)
                column += len(chunk)
            text = "".join(parts)
        else:
            column += len(text)
        pieces.append((text, segment.changed))
    return tuple(pieces)


def display_text(segments: Sequence[Segment]) -> str:
    """The text of :func:`display_pieces`, joined (fast when there is nothing to change)."""
    raw = "".join(segment.text for segment in segments)
    if raw.isprintable():  # no controls, no tabs: drawn as is
        return raw
    return "".join(text for text, _changed in display_pieces(segments))


def wrap_starts(text: str, width: int) -> list[int]:
    """Where each screen line of ``text`` starts when it is wrapped at ``width`` cells.

    Breaks after the last space that fits (a line is never only spaces), else at the
    width; never inside a grapheme, so a double-width character or an emoji sequence
    moves to the next line whole. Every character is kept, spaces included.
    """
    width = max(MIN_WRAP, width)
    size = len(text)
    starts = [0]
    if text.isascii():  # visible text: one cell per character
        if size <= width:
            return starts
        start = 0
        while size - start > width:
            end = start + width
            space = text.rfind(" ", start, end)
            if space >= start and not text[start : space + 1].isspace():
                end = space + 1
            starts.append(end)
            start = end
        return starts
    spans, _total = split_graphemes(text)
    # (a stray joiner at the start can make rich count a grapheme 0 that it draws as 2)
    widths = (cell or cell_len(text[begin:end]) for begin, end, cell in spans)
    cells = list(accumulate(widths, initial=0))
    if cells[-1] <= width:
        return starts
    bounds = [span[0] for span in spans]
    bounds.append(size)
    first = 0  # grapheme index of the line's start
    while cells[-1] - cells[first] > width:
        last = max(first + 1, bisect_right(cells, cells[first] + width, lo=first) - 1)
        begin, end = bounds[first], bounds[last]
        space = text.rfind(" ", begin, end)
        if space >= begin and not text[begin : space + 1].isspace():
            last = bisect_left(bounds, space + 1, first + 1, last + 1)
        first = last
        starts.append(bounds[first])
    return starts


class WrappedSide:
    """One side of a row, wrapped: its drawn pieces and where each screen line starts."""

    __slots__ = ("ends", "pieces", "size", "starts")

    def __init__(self, segments: Sequence[Segment], width: int) -> None:
        self.pieces = display_pieces(segments)
        self.ends = tuple(accumulate(len(text) for text, _changed in self.pieces))
        text = "".join(text for text, _changed in self.pieces)
        self.size = len(text)
        self.starts = tuple(wrap_starts(text, width))

    def line(self, number: int) -> list[tuple[str, bool]]:
        """The pieces of screen line ``number`` (none past the last one)."""
        if number >= len(self.starts):
            return []
        start = self.starts[number]
        end = self.starts[number + 1] if number + 1 < len(self.starts) else self.size
        out: list[tuple[str, bool]] = []
        index = bisect_right(self.ends, start)  # the piece holding character ``start``
        position = self.ends[index - 1] if index else 0
        while index < len(self.pieces) and position < end:
            text, changed = self.pieces[index]
            out.append((text[max(0, start - position) : end - position], changed))
            position += len(text)
            index += 1
        return out


def change_ranges(result: DiffResult, context: int) -> list[tuple[int, int]]:
    """The rows to show for the changes with ``context`` unchanged rows around each, as
    ``git diff`` shows them: half-open ``(start, stop)`` row ranges, overlapping ones
    joined. The work grows with the changed rows, not with the length of the texts."""
    rows = result.rows
    context = max(0, context)
    ranges: list[tuple[int, int]] = []
    for first in result.hunks:
        stop = first
        while stop < len(rows) and rows[stop].kind != "equal":
            stop += 1
        start, stop = max(0, first - context), min(len(rows), stop + context)
        if ranges and start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], stop)
        else:
            ranges.append((start, stop))
    return ranges


def range_header(result: DiffResult, start: int, stop: int) -> str:
    """``@@ -12,7 +12,8 @@`` for rows ``start`` to ``stop``, as ``diff -u`` spells it
    (an empty side names the line before it)."""
    rows = result.rows
    left = [row.left_no for row in rows[start:stop] if row.left_no is not None]
    right = [row.right_no for row in rows[start:stop] if row.right_no is not None]
    # (walking back, not slicing: a header costs what its rows cost)
    indexes = range(start - 1, -1, -1)
    left_before = next((rows[k].left_no or 0 for k in indexes if rows[k].left_no), 0)
    right_before = next((rows[k].right_no or 0 for k in indexes if rows[k].right_no), 0)
    return f"@@ -{_range(left, left_before)} +{_range(right, right_before)} @@"


def _range(numbers: Sequence[int], before: int) -> str:
    if not numbers:
        return f"{before},0"
    if len(numbers) == 1:
        return str(numbers[0])
    return f"{numbers[0]},{len(numbers)}"
