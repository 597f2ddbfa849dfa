"""The diff's pure layout: which rows a git-style view shows, and its @@ headers."""

from __future__ import annotations

from promptdeck.diff import diff_texts, unified_text
from promptdeck.diff_layout import TAB_SIZE, change_ranges, range_header


def numbered(count: int) -> list[str]:
    return [f"line {n}" for n in range(1, count + 1)]


def test_ranges_take_context_around_each_change_and_join_when_they_meet() -> None:
    old = numbered(40)
    new = list(old)
    new[4] = "changed 5"
    new[12] = "changed 13"  # 8 lines after the first: 3 + 3 context lines meet with 1 gap
    new[30] = "changed 31"
    result = diff_texts("\n".join(old), "\n".join(new))
    assert change_ranges(result, 3) == [(1, 8), (9, 16), (27, 34)]
    assert change_ranges(result, 4) == [(0, 17), (26, 35)]
    assert change_ranges(result, 0) == [(4, 5), (12, 13), (30, 31)]
    assert change_ranges(diff_texts("a\nb", "a\nb"), 3) == []


def test_headers_match_diff_u_for_inserts_deletes_and_edges() -> None:
    old = numbered(20)
    cases = [
        [*old[:5], "new", *old[5:]],  # an insert
        old[:9] + old[10:],  # a delete
        ["first", *old],  # at the very top
        [*old, "last"],  # at the very end
    ]
    for new in cases:
        a, b = "\n".join(old) + "\n", "\n".join(new) + "\n"
        for context in (0, 1, 3):
            result = diff_texts(a, b)
            ours = [range_header(result, *r) for r in change_ranges(result, context)]
            theirs = [
                line
                for line in unified_text(a, b, context=context).splitlines()
                if line.startswith("@@")
            ]
            assert ours == theirs, (new, context)


def test_tab_stops_match_the_app() -> None:
    from promptdeck.tui.text import TAB_SIZE as APP_TAB_SIZE

    assert TAB_SIZE == APP_TAB_SIZE


def test_the_layout_is_pure() -> None:
    import subprocess
    import sys

    code = "import sys, promptdeck.diff_layout; print(' '.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert {name.split(".")[0] for name in loaded} & {"textual", "sqlalchemy", "click"} == set()
