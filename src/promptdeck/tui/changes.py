"""What a change does, in a few plain lines: text, model, parameters, variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text

from promptdeck.diff import line_ending_note
from promptdeck.display import parameter_changes, visible
from promptdeck.records import Version
from promptdeck.templates import variable_changes
from promptdeck.tui.text import plural
from promptdeck.tui.widgets.diff_view import DiffData


def summary_text(data: DiffData) -> Text:
    """``text: +4 −2 lines`` (or ``text unchanged``), with a note when word level was cut."""
    result = data.result
    if result.identical:
        return Text("text: unchanged", style="dim")
    line = Text.assemble(
        "text: ",
        (f"+{result.added}", "bold green"),
        " ",
        (f"−{result.removed}", "bold red"),
        f" {'line' if result.added + result.removed == 1 else 'lines'} in "
        f"{plural(len(result.hunks), 'change')}",
    )
    if not result.word_level:
        line.append(" (line level only: too large for word level)", "dim")
    return line


def describe_change(
    old_text: str,
    old_model: str,
    old_parameters: Mapping[str, Any],
    new_text: str,
    new_model: str,
    new_parameters: Mapping[str, Any],
    data: DiffData,
) -> list[Text]:
    """Lines describing going from old to new (model and parameters first)."""
    lines = [summary_text(data)]
    if old_model != new_model:
        lines.append(Text(f"model: {visible(old_model)} -> {visible(new_model)}", style="bold"))
    for change in parameter_changes(old_parameters, new_parameters):
        lines.append(Text(f"parameter {change}", style="bold"))
    note = line_ending_note(old_text, new_text)
    if note:  # the rows cannot show it: lines compare equal whatever their endings
        lines.append(Text(note, style="bold"))
    added, removed = variable_changes(old_text, new_text)
    if added or removed:
        line = Text("variables: ")
        for name in added:
            line.append(f"+{{{{{name}}}}} ", "green")
        for name in removed:
            line.append(f"−{{{{{name}}}}} ", "red")
        lines.append(line)
    return lines


def describe_versions(old: Version | None, new: Version, data: DiffData) -> list[Text]:
    """``describe_change`` from one stored version to another; no ``old`` (nothing live
    yet): from an empty prompt with ``new``'s model and no parameters."""
    return describe_change(
        old.system_prompt if old else "",
        old.model if old else new.model,
        old.parameters if old else {},
        new.system_prompt,
        new.model,
        new.parameters,
        data,
    )
