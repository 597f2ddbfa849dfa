"""Showing user text on a terminal: literally, never as escape sequences. Pure.

Prompts, reasons, names and models may hold ANSI escape sequences or other control
characters; a terminal would obey them. ``visible`` replaces each with its Unicode
"control picture" (ESC shows as ␛), one cell for one character, keeping newlines and
tabs. The CLI and the terminal app both use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

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


# For editing: a reversible mapping of C0 controls (but tab, newline and carriage return,
# which the editor handles itself) and DEL to their control pictures, and back.
_TO_PICTURE = {code: chr(0x2400 + code) for code in range(0x20) if code not in (9, 10, 13)}
_TO_PICTURE[0x7F] = "\u2421"
_FROM_PICTURE = {ord(picture): chr(code) for code, picture in _TO_PICTURE.items()}


def editable(text: str) -> tuple[str, bool]:
    """The text to put in an editor, and whether ``restore`` must map it back.

    Controls are shown as pictures only when the text holds no picture characters of
    its own, so that mapping back can never change what the user did not edit.
    """
    pictured = text.translate(_TO_PICTURE)
    if pictured == text or any(ord(ch) in _FROM_PICTURE for ch in text):
        return text, False
    return pictured, True


def restore(text: str) -> str:
    """Undo ``editable``: control pictures back to the control characters."""
    return text.translate(_FROM_PICTURE)


def parameter_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per changed parameter: ``temperature 0.3 -> 0.2``, ``+ top_p 0.9``."""
    lines: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            lines.append(f"- {key} {json.dumps(old[key], ensure_ascii=False)}")
        elif key not in old:
            lines.append(f"+ {key} {json.dumps(new[key], ensure_ascii=False)}")
        elif old[key] != new[key]:
            before = json.dumps(old[key], ensure_ascii=False)
            after = json.dumps(new[key], ensure_ascii=False)
            lines.append(f"~ {key} {before} -> {after}")
    return [visible(line) for line in lines]


# One word for each state of a version in a deployment, the same in the CLI and the app.
STATE_ACTIVE = "active"
STATE_CANARY = "canary"  # shown with its share: "canary 10%"
STATE_ROLLBACK = "rollback"  # where a rollback (r, `promptdeck rollback`) would go
STATE_NEWER = "newer"  # newer than the active version
STATE_PREVIOUS = "previous"  # was active before, deeper on the rollback stack


def version_state(
    number: int,
    *,
    active: int | None,
    canary: int | None,
    canary_percent: int,
    previous: Sequence[int],
) -> str:
    """The state word of version ``number`` (empty for an older, never-active version).

    The rollback target is named even when it is newer than the active version (after
    promoting an older canary, or activating an older version), since that is what a
    rollback would serve.
    """
    if number == active:
        return STATE_ACTIVE
    if number == canary:
        return f"{STATE_CANARY} {canary_percent}%"
    if previous and number == previous[-1]:
        return STATE_ROLLBACK
    if active is None or number > active:
        return STATE_NEWER
    if number in previous:
        return STATE_PREVIOUS
    return ""


def _numbered(number: int | None) -> str:
    return f"v{number}" if number is not None else "—"


def audit_move(
    action: str,
    from_version: int | None,
    to_version: int | None,
    details: Mapping[str, Any],
) -> str:
    """What an audit event moved, in the words the CLI's history and the app's share.

    ``v5 → v6``; a canary change with its shares, ``v6 10% → v6 0%`` (a sync's canary
    event records only the new share: ``v6 → v6 0%``); ``v6 → off`` for a stopped
    canary; a save on top of a newer version says so: ``v5 → v7 (on top of v6)``.
    """
    if action in ("canary", "sync-canary") and "percent" in details:
        before = _numbered(from_version)
        if from_version is not None and "previous_percent" in details:
            before += f" {details['previous_percent']}%"
        after = f"v{to_version} {details['percent']}%" if to_version is not None else "off"
        return f"{before} → {after}"
    move = f"{_numbered(from_version)} → {_numbered(to_version)}"
    if action == "canary-off":
        return f"{_numbered(from_version)} → off"
    if action == "activate" and details.get("canary") is not None:  # an import's canary
        return f"{move} (canary v{details['canary']} {details.get('percent', 0)}%)"
    if action == "activate" and details.get("canary_cleared"):
        return f"{move} (was the canary)"
    if action == "create" and details.get("on_top_of") is not None:
        return f"{move} (on top of v{details['on_top_of']})"
    return move
