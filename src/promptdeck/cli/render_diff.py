"""Printing a diff of two versions on the command line, side by side or unified.

Loaded by ``promptdeck diff`` only (it brings Rich and the diff engine). Like
``git diff``, both forms show the changed lines with a few lines of context, each
block under an ``@@ -a,b +c,d @@`` header; ``full`` shows every line. Side by side,
long lines wrap within their column (by cells, after spaces where possible, from
:mod:`promptdeck.diff_layout`) instead of being cut. Lines are laid out here and
written in large chunks; Rich only supplies each style's escape sequence, so the
time grows with what is printed.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import click
from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style

from promptdeck.diff import DiffResult, DiffRow, diff_texts, line_ending_note, unified_text
from promptdeck.diff_layout import (
    WrappedSide,
    change_ranges,
    display_text,
    range_header,
)
from promptdeck.display import parameter_changes, visible
from promptdeck.records import Version
from promptdeck.templates import variable_changes

#: Unchanged lines shown around each change unless asked otherwise (git's default).
CONTEXT = 3
#: Narrowest text column of a side.
MIN_COLUMN = 10
_CHUNK = 2_000  # screen lines per write

Paint = Callable[[str], str]
_SIGNS = {"equal": (" ", " "), "replace": ("-", "+"), "delete": ("-", " "), "insert": (" ", "+")}


def metadata_changes(old: Version, new: Version) -> list[str]:
    """Lines describing model, parameter and variable changes between two versions."""
    lines: list[str] = []
    if old.model != new.model:
        lines.append(f"model: {old.model} -> {new.model}")
    lines.extend(
        f"parameter {change}" for change in parameter_changes(old.parameters, new.parameters)
    )
    added, removed = variable_changes(old.system_prompt, new.system_prompt)
    if added:
        lines.append("variables added: " + ", ".join(added))
    if removed:
        lines.append("variables removed: " + ", ".join(removed))
    return lines


def print_diff(
    old: Version,
    new: Version,
    *,
    unified: bool,
    ignore_whitespace: bool,
    full: bool = False,
    context: int = CONTEXT,
) -> None:
    header = f"{old.feature}: v{old.number} -> v{new.number}"
    if unified:
        _print_unified(old, new, header, ignore_whitespace, None if full else context)
        return
    result = diff_texts(old.system_prompt, new.system_prompt, ignore_whitespace=ignore_whitespace)
    painter = _Painter()
    out = [painter.paint("header", visible(header))]
    out += [visible(line) for line in metadata_changes(old, new)]
    out.append(f"+{result.added} -{result.removed} lines")
    note = line_ending_note(old.system_prompt, new.system_prompt)
    if note:
        out.append(note)
    if result.identical:
        out.append("the lines are identical" if note else "the texts are identical")
    _write(out)
    if result.identical:
        return
    width = shutil.get_terminal_size((120, 24)).columns
    ranges = [(0, len(result.rows))] if full else change_ranges(result, context)
    _write_chunks(side_by_side(result, ranges, width, painter, headers=not full))


def _print_unified(
    old: Version, new: Version, header: str, ignore_whitespace: bool, context: int | None
) -> None:
    # Exact text for scripts; on a terminal, escape sequences are shown, not obeyed.
    shown = visible if sys.stdout.isatty() else str
    click.echo(shown(header))
    for line in metadata_changes(old, new):
        click.echo(shown(line))
    note = line_ending_note(old.system_prompt, new.system_prompt)
    if note:
        click.echo(note)
    if context is None:  # --full: every line is context
        context = old.system_prompt.count("\n") + new.system_prompt.count("\n") + 1
    click.echo(
        shown(
            unified_text(
                old.system_prompt,
                new.system_prompt,
                old_label=f"v{old.number}",
                new_label=f"v{new.number}",
                context=context,
                ignore_whitespace=ignore_whitespace,
            )
        ),
        nl=False,
        color=True,  # keep ANSI escapes that are part of the prompt text
    )


class _Painter:
    """Each style's escape sequence, as Rich renders it for this terminal (none when
    output is piped; no colours, only bold and reverse, under NO_COLOR)."""

    STYLES: ClassVar[dict[str, str]] = {
        "header": "bold",
        "hunk": "cyan",
        "number": "dim",
        "separator": "dim",
        "removed": "red",
        "added": "green",
        "removed-word": "bold red reverse",
        "added-word": "bold green reverse",
    }

    def __init__(self) -> None:
        console = Console(no_color="NO_COLOR" in os.environ or None, file=sys.stdout)
        names = {"standard": "STANDARD", "256": "EIGHT_BIT", "truecolor": "TRUECOLOR"}
        system = names.get(console.color_system or "")
        self._painters: dict[str, Paint] = {}
        for name, spec in self.STYLES.items():
            style = Style.parse(spec)
            if console.no_color:
                style = style.without_color
            self._painters[name] = str if system is None else _renderer(style, ColorSystem[system])

    def paint(self, name: str, text: str) -> str:
        return self._painters[name](text) if text else text


def _renderer(style: Style, system: ColorSystem) -> Paint:
    def paint(text: str) -> str:
        return style.render(text, color_system=system)

    return paint


def side_by_side(
    result: DiffResult,
    ranges: Sequence[tuple[int, int]],
    width: int,
    painter: _Painter,
    *,
    headers: bool = True,
) -> Iterator[str]:
    """The screen lines of ``result``'s rows in ``ranges``, each side wrapped to its
    column; a ``@@`` header above each range when ``headers``."""
    rows = result.rows
    last = max((rows[stop - 1] for _start, stop in ranges), key=_biggest_number, default=None)
    number_width = max(2, len(str(_biggest_number(last)))) if last else 2
    column = max(MIN_COLUMN, (width - 2 * (number_width + 3) - 3) // 2)
    separator = painter.paint("separator", " │ ")
    blank_number = " " * number_width
    for start, stop in ranges:
        if headers:
            yield painter.paint("hunk", range_header(result, start, stop))
        for index in range(start, stop):
            row = rows[index]
            left_sign, right_sign = _SIGNS[row.kind]
            left = _side_lines(row, "left", column, painter)
            right = left if row.right is row.left else _side_lines(row, "right", column, painter)
            for part in range(max(len(left), len(right))):
                left_cell = _gutter(row.left_no, left_sign, part, number_width, "removed", painter)
                right_cell = _gutter(row.right_no, right_sign, part, number_width, "added", painter)
                if row.left_no is None:
                    left_cell = blank_number + "   "
                if row.right_no is None:
                    right_cell = blank_number + "   "
                left_text = left[part] if part < len(left) else " " * column
                right_text = right[part] if part < len(right) else ""
                yield f"{left_cell}{left_text}{separator}{right_cell}{right_text}".rstrip()


def _biggest_number(row: DiffRow | None) -> int:
    return 0 if row is None else max(row.left_no or 0, row.right_no or 0)


def _gutter(
    number: int | None, sign: str, part: int, width: int, kind: str, painter: _Painter
) -> str:
    if part or number is None:  # a continuation: no number, no sign
        return " " * (width + 3)
    shown_sign = painter.paint(kind, sign) if sign != " " else " "
    return f"{painter.paint('number', f'{number:>{width}}')} {shown_sign} "


def _side_lines(row: DiffRow, side: str, column: int, painter: _Painter) -> list[str]:
    """One side of a row as screen lines, each padded to ``column`` cells."""
    segments = row.left if side == "left" else row.right
    changed_row = row.kind != "equal" and (row.left_no if side == "left" else row.right_no)
    kind = "removed" if side == "left" else "added"
    text = display_text(segments)
    if not changed_row and len(text) <= column and text.isascii():  # the common case
        return [text + " " * (column - len(text))]
    wrapped = WrappedSide(segments, column)
    lines: list[str] = []
    for number in range(len(wrapped.starts)):
        pieces = wrapped.line(number)
        used = sum(len(t) if t.isascii() else cell_len(t) for t, _changed in pieces)
        if changed_row:
            painted = "".join(
                painter.paint(f"{kind}-word" if changed else kind, piece)
                for piece, changed in pieces
            )
        else:
            painted = "".join(piece for piece, _changed in pieces)
        lines.append(painted + " " * (column - used))
    return lines


def _write(lines: Sequence[str]) -> None:
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


def _write_chunks(lines: Iterator[str]) -> None:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= _CHUNK:
            _write(chunk)
            chunk.clear()
    _write(chunk)
    sys.stdout.flush()
