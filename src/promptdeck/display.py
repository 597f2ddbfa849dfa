"""Showing user text on a terminal: literally, never as escape sequences. Pure.

Prompts, reasons, names and models may hold ANSI escape sequences or other control
characters; a terminal would obey them. ``visible`` replaces each with its Unicode
"control picture" (ESC shows as ␛), one cell for one character, keeping newlines and
tabs. The CLI and the terminal app both use it.
"""

from __future__ import annotations

_CONTROLS: dict[int, str] = {code: chr(0x2400 + code) for code in range(0x20)}
_CONTROLS[0x09] = "\t"  # tabs are expanded by whoever lays text out, not pictured
_CONTROLS[0x0A] = "\n"
_CONTROLS[0x7F] = "\u2421"
_CONTROLS.update({code: "\ufffd" for code in range(0x80, 0xA0)})  # C1 controls
# Line separators that a terminal may treat as a line break.
_CONTROLS[0x2028] = "\u21b5"
_CONTROLS[0x2029] = "\u00b6"


def visible(text: str) -> str:
    """``text`` with control characters replaced by visible symbols (newlines kept)."""
    return text.translate(_CONTROLS)


def has_controls(text: str) -> bool:
    """Whether ``visible`` would change ``text``."""
    return text != visible(text)
