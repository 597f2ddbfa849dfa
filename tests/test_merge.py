"""The three-way merge that carries an edit onto a newer version."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from promptdeck.merge import (
    END_MARKER,
    MIDDLE_MARKER,
    START_MARKER,
    count_conflict_markers,
    merge_parameters,
    merge_texts,
    merge_value,
)

LABELS = {"mine_label": "yours (from v5)", "theirs_label": "v6 by bob"}

# Lines unique by construction, so that a change to one line cannot be mistaken for
# a change to another.
BASE = [f"line {i}" for i in range(12)]


def text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def test_both_changes_are_kept_when_they_touch_different_lines() -> None:
    base = "intro\nbe polite\n\nreply in English\n"
    mine = "intro\nbe warm and polite\n\nreply in English\n"
    theirs = "intro\nbe polite\n\nreply in English\n## Language\nAnswer in the user's language.\n"
    merged = merge_texts(base, mine, theirs, **LABELS)
    assert merged.conflicts == 0
    assert merged.text == (
        "intro\nbe warm and polite\n\nreply in English\n## Language\n"
        "Answer in the user's language.\n"
    )


def test_same_lines_changed_by_both_are_marked_with_labels() -> None:
    merged = merge_texts("a\nb\nc\n", "a\nB mine\nc\n", "a\nB theirs\nc\n", **LABELS)
    assert merged.conflicts == 1
    assert merged.text == (
        "a\n"
        f"{START_MARKER} yours (from v5)\nB mine\n{MIDDLE_MARKER}\nB theirs\n"
        f"{END_MARKER} v6 by bob\n"
        "c\n"
    )
    assert count_conflict_markers(merged.text) == 1


def test_a_last_line_without_newline_never_touches_a_marker() -> None:
    merged = merge_texts("a\nb", "a\nmine", "a\ntheirs", **LABELS)
    assert f"mine\n{MIDDLE_MARKER}\ntheirs\n{END_MARKER}" in merged.text
    clean = merge_texts("a\nx\nb", "A\nx\nb", "a\nx\nB", **LABELS)
    assert clean.text == "A\nx\nB"


@st.composite
def disjoint_edits(draw: st.DrawFn) -> tuple[list[str], list[str], list[str], list[str]]:
    """Base, mine, theirs and the expected merge, where mine and theirs change lines
    at least two apart (so that their changes never touch)."""
    mine_at = draw(st.sets(st.integers(0, 11), max_size=4))
    theirs_at = draw(
        st.sets(
            st.integers(0, 11).filter(lambda i: all(abs(i - j) > 1 for j in mine_at)),
            max_size=4,
        )
    )
    mine = [f"{line} mine" if i in mine_at else line for i, line in enumerate(BASE)]
    theirs = [f"{line} theirs" if i in theirs_at else line for i, line in enumerate(BASE)]
    expected = [
        f"{line} mine" if i in mine_at else f"{line} theirs" if i in theirs_at else line
        for i, line in enumerate(BASE)
    ]
    return BASE, mine, theirs, expected


@given(disjoint_edits())
def test_changes_to_different_lines_merge_cleanly(
    case: tuple[list[str], list[str], list[str], list[str]],
) -> None:
    base, mine, theirs, expected = case
    merged = merge_texts(text(base), text(mine), text(theirs), **LABELS)
    assert merged.conflicts == 0
    assert merged.text == text(expected)


@given(st.lists(st.text(alphabet="abc \n", max_size=12), max_size=6), st.data())
def test_identical_changes_merge_to_that_change(base_lines: list[str], data: st.DataObject) -> None:
    base = "".join(base_lines)
    changed = data.draw(st.text(alphabet="abcd \n", max_size=60))
    merged = merge_texts(base, changed, changed, **LABELS)
    assert merged == merge_texts(base, changed, changed, **LABELS)
    assert merged.conflicts == 0
    assert merged.text == changed


@given(st.text(alphabet="abc \n", max_size=60), st.text(alphabet="abc \n", max_size=60))
def test_one_sided_changes_are_taken_as_they_are(base: str, changed: str) -> None:
    assert merge_texts(base, changed, base, **LABELS).text == changed
    assert merge_texts(base, base, changed, **LABELS).text == changed


@given(st.integers(0, 11), st.data())
def test_overlapping_changes_are_marked_and_keep_both_sides(at: int, data: st.DataObject) -> None:
    mine = [f"{line} mine" if i == at else line for i, line in enumerate(BASE)]
    theirs = [f"{line} theirs" if i == at else line for i, line in enumerate(BASE)]
    merged = merge_texts(text(BASE), text(mine), text(theirs), **LABELS)
    assert merged.conflicts == 1
    lines = merged.text.splitlines()
    start = lines.index(f"{START_MARKER} yours (from v5)")
    assert lines[start + 1 : start + 5] == [
        f"line {at} mine",
        MIDDLE_MARKER,
        f"line {at} theirs",
        f"{END_MARKER} v6 by bob",
    ]
    # Everything around the conflict is the untouched base.
    assert lines[:start] + lines[start + 5 :] == [line for i, line in enumerate(BASE) if i != at]


def test_values_and_parameters_merge_like_lines() -> None:
    assert merge_value("m1", "m2", "m1") == ("m2", False)
    assert merge_value("m1", "m1", "m3") == ("m3", False)
    assert merge_value("m1", "m2", "m3") == ("m2", True)
    merged, conflicts = merge_parameters(
        {"temperature": 0.2, "max_tokens": 800, "top_p": 1},
        {"temperature": 0.5, "max_tokens": 800, "top_p": 1},
        {"temperature": 0.2, "max_tokens": 1200, "stop": ["##"]},
    )
    assert merged == {"temperature": 0.5, "max_tokens": 1200, "stop": ["##"]}
    assert conflicts == []
    merged, conflicts = merge_parameters({"t": 1}, {"t": 2}, {"t": 3})
    assert (merged, conflicts) == ({"t": 2}, ["t"])


def test_merge_is_pure() -> None:
    code = "import sys, promptdeck.merge; print(' '.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    roots = {name.split(".")[0] for name in loaded}
    assert "sqlalchemy" not in roots
    assert "textual" not in roots
