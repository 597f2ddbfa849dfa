"""Printing a diff of two versions on the command line (side by side or unified).

Loaded by ``promptdeck diff`` only: it brings Rich and the diff engine."""

from __future__ import annotations

import os
import shutil
import sys

import click
from rich.console import Console
from rich.text import Text

from promptdeck.diff import DiffResult, Segment, diff_texts, line_ending_note, unified_text
from promptdeck.display import parameter_changes, visible
from promptdeck.records import Version
from promptdeck.templates import variable_changes


def _safe(text: str) -> str:
    """Tabs to spaces and control characters made visible: one cell per character."""
    return visible(text).replace("\t", "    ")


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


def print_diff(old: Version, new: Version, *, unified: bool, ignore_whitespace: bool) -> None:
    header = f"{old.feature}: v{old.number} -> v{new.number}"
    if unified:
        # Exact text for scripts; on a terminal, escape sequences are shown, not obeyed.
        shown = visible if sys.stdout.isatty() else str
        click.echo(shown(header))
        for line in metadata_changes(old, new):
            click.echo(shown(line))
        note = line_ending_note(old.system_prompt, new.system_prompt)
        if note:
            click.echo(note)
        click.echo(
            shown(
                unified_text(
                    old.system_prompt,
                    new.system_prompt,
                    old_label=f"v{old.number}",
                    new_label=f"v{new.number}",
                )
            ),
            nl=False,
            color=True,  # keep ANSI escapes that are part of the prompt text
        )
        return
    result = diff_texts(old.system_prompt, new.system_prompt, ignore_whitespace=ignore_whitespace)
    console = Console(
        highlight=False,
        soft_wrap=False,
        width=shutil.get_terminal_size((120, 24)).columns,
        no_color="NO_COLOR" in os.environ or None,
        file=sys.stdout,
    )
    console.print(Text(header, style="bold"))
    for line in metadata_changes(old, new):
        console.print(Text(_safe(line)))
    console.print(Text(f"+{result.added} -{result.removed} lines"))
    note = line_ending_note(old.system_prompt, new.system_prompt)
    if note:
        console.print(Text(note))
    if result.identical:
        console.print(Text("the lines are identical" if note else "the texts are identical"))
        return
    _print_side_by_side(console, result)


def _print_side_by_side(console: Console, result: DiffResult) -> None:
    width = console.width
    number_width = max(3, len(str(max((r.left_no or 0, r.right_no or 0) for r in result.rows)[0])))
    column = max(10, (width - 2 * (number_width + 3) - 3) // 2)
    signs = {"equal": (" ", " "), "replace": ("-", "+"), "delete": ("-", " "), "insert": (" ", "+")}
    for row in result.rows:
        left_sign, right_sign = signs[row.kind]
        line = Text()
        _cell(
            line,
            row.left_no,
            left_sign if row.left_no else " ",
            row.left,
            column,
            number_width,
            "red",
        )
        line.append(" │ ", style="dim")
        _cell(
            line,
            row.right_no,
            right_sign if row.right_no else " ",
            row.right,
            column,
            number_width,
            "green",
        )
        console.print(line, crop=True, overflow="crop", no_wrap=True)


def _cell(
    line: Text,
    number: int | None,
    sign: str,
    segments: tuple[Segment, ...],
    column: int,
    number_width: int,
    colour: str,
) -> None:
    line.append(f"{number if number else '':>{number_width}} ", style="dim")
    line.append(f"{sign} ", style=colour if sign.strip() else "")
    used = 0
    for segment in segments:
        if used >= column:
            break
        piece = _safe(segment.text)[: column - used]
        used += len(piece)
        style = (
            f"bold {colour} reverse"
            if segment.changed and sign.strip()
            else (colour if sign.strip() else "")
        )
        line.append(piece, style=style)
    if used < column:
        line.append(" " * (column - used))
