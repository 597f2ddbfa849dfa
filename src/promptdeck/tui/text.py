"""Turning user text into something safe to draw: never markup, never raw escapes.

Prompts, reasons and author names are shown literally. Control characters (ANSI escape
sequences begin with one) are replaced by their visible Unicode "control picture" so
the terminal never interprets them; tabs are expanded; long texts are bounded so that
drawing a preview never does unbounded work on the UI thread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.syntax import Syntax
from rich.text import Text

from promptdeck.display import visible
from promptdeck.templates import VARIABLE_RE

TAB_SIZE = 4

PREVIEW_MAX_LINES = 2_000
PREVIEW_MAX_LINE = 4_000
_TAG_RE = re.compile(r"</?[A-Za-z][\w.-]*>")


def one_line(text: str, limit: int = 200) -> str:
    """The first line of ``text``, visible, tabs as spaces, at most ``limit`` characters."""
    first = text.strip().split("\n", 1)[0].replace("\r", "")
    if len(first) > limit:
        first = first[: limit - 1] + "…"
    return visible(first).replace("\t", " ")


def plain(text: str, style: str = "") -> Text:
    """User text as a Rich Text: literal, one line."""
    return Text(one_line(text), style=style, no_wrap=True, overflow="ellipsis")


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 change``, ``2 changes``, ``0 versions`` (``words``: an irregular plural)."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def age(when: datetime, now: datetime, *, short: bool = False) -> str:
    """A relative age: ``now``, ``5m ago``, ``3h ago``, ``12d ago``, ``Jan 2025``.

    ``short`` (for narrow columns, at most 4 characters): ``now``, ``5m``, ``3h``,
    ``12d``, ``4mo``, ``2y``.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return "soon" if seconds < -60 else "now"
    if seconds < 60:
        return "now"
    suffix = "" if short else " ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{suffix}"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{suffix}"
    days = int(seconds // 86400)
    if days < 60 or (short and days < 100):
        return f"{days}d{suffix}"
    if not short:
        return when.strftime("%b %Y")
    return f"{days // 30}mo" if days < 365 else f"{days // 365}y"


def parameters_text(parameters: Mapping[str, Any]) -> str:
    """Parameters on one line, JSON values: ``max_tokens=1024 temperature=0.3``."""
    if not parameters:
        return "(none)"
    return " ".join(
        f"{key}={json.dumps(value, ensure_ascii=False)}"
        for key, value in sorted(parameters.items())
    )


# --- highlighting -------------------------------------------------------------------


def highlight_prompt(text: str, *, highlight: bool = True) -> Text:
    """The prompt as highlighted, literal Text; bounded in lines and line length.

    Markdown structure is highlighted with pygments (through Rich); ``{{variables}}``
    and XML-like tags on top. Safe to call in a worker thread (it builds no widget).
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    notes: dict[int, str] = {}
    shown: list[str] = []
    for number, line in enumerate(lines[:PREVIEW_MAX_LINES]):
        if len(line) > PREVIEW_MAX_LINE:
            notes[number] = f" … {len(line) - PREVIEW_MAX_LINE:,} more characters on this line"
            line = line[:PREVIEW_MAX_LINE]
        shown.append(visible(line).expandtabs(TAB_SIZE))
    body = "\n".join(shown)
    result = Text(no_wrap=False, end="")
    if highlight and len(body) <= 200_000:
        # Pygments through Rich, with a theme of ANSI colours (fine in 256 colours).
        result = Syntax(body, "markdown", theme="ansi_dark").highlight(body)
        result.end = ""
        if result.plain.endswith("\n") and not body.endswith("\n"):
            result.right_crop(1)
    else:
        result.append(body)
    for match in VARIABLE_RE.finditer(result.plain):
        result.stylize("bold green", match.start(), match.end())
    for match in _TAG_RE.finditer(result.plain):
        result.stylize("magenta", match.start(), match.end())
    if notes:
        # Append notes at the end of the truncated lines (offsets computed from the end).
        rebuilt = Text(end="")
        for number, part in enumerate(result.split("\n", allow_blank=True)):
            if number:
                rebuilt.append("\n")
            rebuilt.append_text(part)
            if number in notes:
                rebuilt.append(notes[number], "dim italic")
        result = rebuilt
    if len(lines) > PREVIEW_MAX_LINES:
        result.append(
            f"\n… {len(lines) - PREVIEW_MAX_LINES:,} more lines (open the editor or a diff "
            "to see them all)",
            "dim italic",
        )
    return result
