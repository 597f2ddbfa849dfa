"""Three-way merge of an edit onto a newer version (pure: no database, no UI).

An edit started from ``base``; meanwhile someone saved ``theirs``. Carrying the edit
(``mine``) onto ``theirs`` keeps both changes: lines only one side changed are taken
from that side; where both sides changed the same lines differently, both are kept
between labelled conflict markers for the user to resolve. The line merge is the
maintained ``merge3`` package (the algorithm of bzr and breezy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from merge3 import Merge3

START_MARKER = "<<<<<<<"
MIDDLE_MARKER = "======="
END_MARKER = ">>>>>>>"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TextMerge:
    """The merged text and how many places both sides changed (marked in the text)."""

    text: str
    conflicts: int


def _lines(text: str) -> list[str]:
    """Lines with their endings; the last one always ends in a newline, so that a
    conflict marker never lands on the end of a text line."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    return lines


def _ends_with_newline(base: str, mine: str, theirs: str) -> bool:
    ends = [text.endswith(("\n", "\r")) for text in (base, mine, theirs)]
    value, _ = merge_value(ends[0], ends[1], ends[2])
    return value


def merge_texts(
    base: str, mine: str, theirs: str, *, mine_label: str, theirs_label: str
) -> TextMerge:
    """Merge the changes base -> mine and base -> theirs.

    Where both changed the same lines differently, the result holds::

        <<<<<<< {mine_label}
        (mine)
        =======
        (theirs)
        >>>>>>> {theirs_label}
    """
    merger = Merge3(_lines(base), _lines(mine), _lines(theirs))
    out: list[str] = []
    conflicts = 0
    for group in merger.merge_groups():
        if group[0] == "conflict":
            _, _base_lines, mine_lines, their_lines = group
            conflicts += 1
            out.append(f"{START_MARKER} {mine_label}\n")
            out.extend(mine_lines)
            out.append(f"{MIDDLE_MARKER}\n")
            out.extend(their_lines)
            out.append(f"{END_MARKER} {theirs_label}\n")
        else:
            out.extend(group[1])
    text = "".join(out)
    if text and conflicts == 0 and not _ends_with_newline(base, mine, theirs):
        text = text.removesuffix("\n")
    return TextMerge(text, conflicts)


# The labels of the two sides, the same in the app's editor and `promptdeck save --merge`.
MINE_LABEL = "yours (your edit of v{base})"
THEIRS_LABEL = "v{theirs} by {author} (theirs)"


def conflict_labels(base: int, theirs: int, author: str) -> tuple[str, str]:
    """(mine_label, theirs_label) for carrying an edit of ``base`` onto ``theirs``."""
    return MINE_LABEL.format(base=base), THEIRS_LABEL.format(theirs=theirs, author=author)


def count_merge_marks(text: str) -> int:
    """How many conflict blocks promptdeck itself marked (labelled ``yours (your edit
    of vN)``) are still in ``text``: a prompt may quote other conflict markers."""
    mine = f"{START_MARKER} {MINE_LABEL.split('{', 1)[0]}"
    return sum(1 for line in text.splitlines() if line.startswith(mine))


def count_conflict_markers(text: str) -> int:
    """How many conflict blocks (start markers) are still in ``text``."""
    return sum(
        1
        for line in text.splitlines()
        if line == START_MARKER or line.startswith(START_MARKER + " ")
    )


def merge_value(base: T, mine: T, theirs: T) -> tuple[T, bool]:
    """One value changed on either side: (merged value, True if both changed it
    differently, in which case ``mine`` is kept)."""
    if mine == theirs or theirs == base:
        return mine, False
    if mine == base:
        return theirs, False
    return mine, True


def merge_parameters(
    base: Mapping[str, Any], mine: Mapping[str, Any], theirs: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Merge parameters key by key: (merged, keys both sides changed differently,
    where ``mine`` is kept). A removed key is a change like any other."""
    missing = object()
    merged: dict[str, Any] = {}
    conflicts: list[str] = []
    for key in [
        *mine,
        *(k for k in theirs if k not in mine),
        *(k for k in base if k not in mine and k not in theirs),
    ]:
        value, conflicted = merge_value(
            base.get(key, missing), mine.get(key, missing), theirs.get(key, missing)
        )
        if conflicted:
            conflicts.append(key)
        if value is not missing:
            merged[key] = value
    return merged, conflicts
