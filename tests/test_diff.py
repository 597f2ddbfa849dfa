"""Tests for the pure diff engine (promptdeck.diff)."""

from __future__ import annotations

import difflib
import itertools
import random

import pytest

from promptdeck.diff import (
    DiffResult,
    DiffRow,
    Segment,
    diff_texts,
    split_lines,
    unified_text,
)

# --- helpers ----------------------------------------------------------------------------


def text_of(segments: tuple[Segment, ...]) -> str:
    return "".join(s.text for s in segments)


def changed_texts(segments: tuple[Segment, ...]) -> list[str]:
    return [s.text for s in segments if s.changed]


def check_invariants(result: DiffResult, old: str, new: str, ignore_ws: bool = False) -> None:
    """What every result must satisfy, whatever path (word level or fallback) produced it."""
    a, b = split_lines(old), split_lines(new)
    left_nos = [r.left_no for r in result.rows if r.left_no is not None]
    right_nos = [r.right_no for r in result.rows if r.right_no is not None]
    assert left_nos == list(range(1, len(a) + 1))
    assert right_nos == list(range(1, len(b) + 1))
    for row in result.rows:
        if row.left_no is None:
            assert row.kind == "insert" and row.left == ()
        else:
            assert text_of(row.left) == a[row.left_no - 1]
        if row.right_no is None:
            assert row.kind == "delete" and row.right == ()
        else:
            assert text_of(row.right) == b[row.right_no - 1]
        for segs in (row.left, row.right):
            assert all(s.text for s in segs)  # no empty segments
            assert all(x.changed != y.changed for x, y in itertools.pairwise(segs))
        if row.kind == "equal":
            assert not any(s.changed for s in row.left + row.right)
            if ignore_ws:
                assert text_of(row.left).split() == text_of(row.right).split()
            else:
                assert text_of(row.left) == text_of(row.right)
        if row.kind == "replace":
            assert row.left_no is not None and row.right_no is not None
            assert any(s.changed for s in row.left + row.right)
    assert result.removed == sum(1 for r in result.rows if r.kind != "equal" and r.left_no)
    assert result.added == sum(1 for r in result.rows if r.kind != "equal" and r.right_no)
    starts = [
        k
        for k, r in enumerate(result.rows)
        if r.kind != "equal" and (k == 0 or result.rows[k - 1].kind == "equal")
    ]
    assert list(result.hunks) == starts
    assert result.identical == (not starts)


# --- rows and segments ------------------------------------------------------------------


def test_changed_word_is_the_only_changed_segment() -> None:
    old = "You are a helpful assistant.\nAnswer politely.\n"
    new = "You are a friendly assistant.\nAnswer politely.\n"
    result = diff_texts(old, new)

    first, second = result.rows
    assert first.kind == "replace"
    assert (first.left_no, first.right_no) == (1, 1)
    assert first.left == (
        Segment("You are a ", False),
        Segment("helpful", True),
        Segment(" assistant.", False),
    )
    assert first.right == (
        Segment("You are a ", False),
        Segment("friendly", True),
        Segment(" assistant.", False),
    )
    assert second == DiffRow(
        "equal", 2, 2, (Segment("Answer politely.", False),), (Segment("Answer politely.", False),)
    )
    assert result.word_level and not result.identical


def test_word_inside_punctuation_and_partial_word_changes() -> None:
    row = diff_texts("Hello, world!", "Hello, there!").rows[0]
    assert changed_texts(row.left) == ["world"]
    assert changed_texts(row.right) == ["there"]
    # A word is highlighted whole, never half of it.
    row = diff_texts("set temperature to 0.7", "set temperatures to 0.7").rows[0]
    assert changed_texts(row.left) == ["temperature"]
    assert changed_texts(row.right) == ["temperatures"]
    row = diff_texts("max 100 tokens", "max 150 tokens").rows[0]
    assert changed_texts(row.left) == ["100"]
    assert changed_texts(row.right) == ["150"]


def test_several_changed_words_and_rewritten_phrase() -> None:
    row = diff_texts("the quick brown fox jumps", "the slow red fox leaps").rows[0]
    # The space between two changed words is part of one highlight.
    assert changed_texts(row.left) == ["quick brown", "jumps"]
    assert changed_texts(row.right) == ["slow red", "leaps"]
    assert text_of(row.left) == "the quick brown fox jumps"


def test_word_inserted_in_line() -> None:
    row = diff_texts("Be concise.", "Be very concise.").rows[0]
    assert row.kind == "replace"
    assert changed_texts(row.left) == []
    assert changed_texts(row.right) == ["very "]
    assert text_of(row.right) == "Be very concise."


def test_inserted_and_deleted_lines_get_fillers() -> None:
    old = "one\ntwo\nthree\n"
    new = "one\nthree\nfour\n"
    result = diff_texts(old, new)
    kinds = [(r.kind, r.left_no, r.right_no) for r in result.rows]
    assert kinds == [
        ("equal", 1, 1),
        ("delete", 2, None),
        ("equal", 3, 2),
        ("insert", None, 3),
    ]
    deleted, inserted = result.rows[1], result.rows[3]
    assert deleted.right == () and deleted.left == (Segment("two", True),)
    assert inserted.left == () and inserted.right == (Segment("four", True),)
    assert (result.added, result.removed) == (1, 1)
    check_invariants(result, old, new)


def test_replace_block_pairs_lines_one_to_one() -> None:
    old = "keep\nold a\nold b\nend\n"
    new = "keep\nnew a\nnew b\nnew c\nnew d\nend\n"
    result = diff_texts(old, new)
    assert [(r.kind, r.left_no, r.right_no) for r in result.rows] == [
        ("equal", 1, 1),
        ("replace", 2, 2),
        ("replace", 3, 3),
        ("insert", None, 4),
        ("insert", None, 5),
        ("equal", 4, 6),
    ]
    assert changed_texts(result.rows[1].left) == ["old"]
    assert changed_texts(result.rows[1].right) == ["new"]
    # added: inserts + new side of replaces; removed: old side of replaces.
    assert (result.added, result.removed) == (4, 2)
    assert result.hunks == (1,)
    check_invariants(result, old, new)


def test_empty_line_has_no_segments() -> None:
    result = diff_texts("a\n\nb\n", "a\nb\n")
    assert [(r.kind, r.left_no, r.right_no, r.left) for r in result.rows] == [
        ("equal", 1, 1, (Segment("a", False),)),
        ("delete", 2, None, ()),
        ("equal", 3, 2, (Segment("b", False),)),
    ]


def test_hunks_point_to_first_row_of_each_change_block() -> None:
    old = "\n".join(f"line {i}" for i in range(1, 21))
    new_lines = [f"line {i}" for i in range(1, 21)]
    new_lines[2] = "line three"  # block 1: one replace
    new_lines[9:11] = ["changed ten", "changed eleven", "added"]  # block 2: 2 replaces + insert
    del new_lines[-1]  # block 3: delete of line 20
    result = diff_texts(old, "\n".join(new_lines))
    assert len(result.hunks) == 3
    for h in result.hunks:
        assert result.rows[h].kind != "equal"
        assert h == 0 or result.rows[h - 1].kind == "equal"
    assert [result.rows[h].left_no for h in result.hunks] == [3, 10, 20]
    assert result.next_hunk(-1) == result.hunks[0]
    assert result.next_hunk(result.hunks[0]) == result.hunks[1]
    assert result.next_hunk(result.hunks[2]) is None
    assert result.previous_hunk(result.hunks[2]) == result.hunks[1]
    assert result.previous_hunk(result.hunks[0]) is None
    check_invariants(result, old, "\n".join(new_lines))


# --- line endings, whitespace, empty texts ----------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a\r\nb\r\nc\r\n", "a\nb\nc\n"),
        ("a\rb\rc", "a\nb\nc\n"),
        ("a\nb\nc", "a\nb\nc\n"),  # trailing newline only
        ("a\r\nb\nc\r", "a\nb\nc"),  # mixed
    ],
)
def test_line_endings_are_not_content(old: str, new: str) -> None:
    result = diff_texts(old, new)
    assert result.identical
    assert [r.kind for r in result.rows] == ["equal"] * 3
    assert [text_of(r.left) for r in result.rows] == ["a", "b", "c"]
    assert unified_text(old, new) == ""


def test_other_line_separators_stay_inside_the_line() -> None:
    # Only \n, \r\n and \r split; form feed and U+2028 are content.
    assert split_lines("a\x0cb\u2028c\n") == ["a\x0cb\u2028c"]
    result = diff_texts("a\x0cb", "a\x0cc")
    assert len(result.rows) == 1 and result.rows[0].kind == "replace"


def test_ignore_whitespace() -> None:
    old = "  Be   concise.\nUse\tlists.\nAnswer in English.   \n"
    new = "Be concise.\nUse lists.\nAnswer in French.\n"
    plain = diff_texts(old, new)
    assert [r.kind for r in plain.rows] == ["replace"] * 3

    result = diff_texts(old, new, ignore_whitespace=True)
    assert [r.kind for r in result.rows] == ["equal", "equal", "replace"]
    # Equal rows show each side's own text, untouched.
    assert text_of(result.rows[0].left) == "  Be   concise."
    assert text_of(result.rows[0].right) == "Be concise."
    assert text_of(result.rows[1].left) == "Use\tlists."
    # Inside the changed line only the word is highlighted, not the trailing spaces.
    assert changed_texts(result.rows[2].left) == ["English"]
    assert changed_texts(result.rows[2].right) == ["French"]
    assert (result.added, result.removed) == (1, 1)
    check_invariants(result, old, new, ignore_ws=True)

    assert diff_texts("a  b\n\t\n", "a b\n", ignore_whitespace=True).removed == 1
    assert diff_texts("a b", "ab", ignore_whitespace=True).rows[0].kind == "replace"
    assert diff_texts(" x\t", "x", ignore_whitespace=True).identical


def test_empty_texts() -> None:
    empty = diff_texts("", "")
    assert empty.rows == () and empty.hunks == () and empty.identical
    assert empty.unified() == () and empty.unified_hunks() == ()

    added = diff_texts("", "one\ntwo\n")
    assert [(r.kind, r.left_no, r.right_no) for r in added.rows] == [
        ("insert", None, 1),
        ("insert", None, 2),
    ]
    assert (added.added, added.removed, added.hunks) == (2, 0, (0,))

    removed = diff_texts("one\ntwo", "")
    assert [(r.kind, r.left_no, r.right_no) for r in removed.rows] == [
        ("delete", 1, None),
        ("delete", 2, None),
    ]
    assert (removed.added, removed.removed) == (0, 2)


def test_identical_texts() -> None:
    text = "System: you are terse.\n\n{{ question }}\n"
    result = diff_texts(text, text)
    assert result.identical and result.word_level and result.exact
    assert result.hunks == () and result.added == result.removed == 0
    assert [(r.left_no, r.right_no) for r in result.rows] == [(1, 1), (2, 2), (3, 3)]


def test_text_is_returned_literally() -> None:
    old = "[bold]Rules[/]\n\x1b[31mred\x1b[0m\tcol\n日本語のテキスト 😀\n"
    new = "[bold]Regeln[/]\n\x1b[32mred\x1b[0m\tcol\n日本語のテキスト 🎉\n"
    result = diff_texts(old, new)
    assert [text_of(r.left) for r in result.rows] == split_lines(old)
    assert [text_of(r.right) for r in result.rows] == split_lines(new)
    assert changed_texts(result.rows[0].left) == ["Rules"]
    assert changed_texts(result.rows[0].right) == ["Regeln"]
    assert changed_texts(result.rows[2].left) == ["😀"]
    assert changed_texts(result.rows[2].right) == ["🎉"]
    check_invariants(result, old, new)


# --- unified ----------------------------------------------------------------------------


def test_unified_puts_all_minus_lines_before_plus_lines() -> None:
    old = "keep\nold 1\nold 2\nkeep 2\ngone\n"
    new = "keep\nnew 1\nnew 2\nnew 3\nkeep 2\n"
    result = diff_texts(old, new)
    lines = result.unified()
    assert [(u.sign, u.old_no, u.new_no, text_of(u.segments)) for u in lines] == [
        (" ", 1, 1, "keep"),
        ("-", 2, None, "old 1"),
        ("-", 3, None, "old 2"),
        ("+", None, 2, "new 1"),
        ("+", None, 3, "new 2"),
        ("+", None, 4, "new 3"),
        (" ", 4, 5, "keep 2"),
        ("-", 5, None, "gone"),
    ]
    assert result.unified_hunks() == (1, 7)
    # Word highlights are kept in the unified view.
    assert changed_texts(lines[1].segments) == ["old"]
    assert changed_texts(lines[3].segments) == ["new"]


def test_unified_text_looks_like_diff_u() -> None:
    old = "".join(f"line {i}\n" for i in range(1, 21))
    new = old.replace("line 5\n", "line five\n").replace("line 18\n", "")
    text = unified_text(old, new, old_label="v1", new_label="v2")
    assert text == (
        "--- v1\n"
        "+++ v2\n"
        "@@ -2,7 +2,7 @@\n"
        " line 2\n"
        " line 3\n"
        " line 4\n"
        "-line 5\n"
        "+line five\n"
        " line 6\n"
        " line 7\n"
        " line 8\n"
        "@@ -15,6 +15,5 @@\n"
        " line 15\n"
        " line 16\n"
        " line 17\n"
        "-line 18\n"
        " line 19\n"
        " line 20\n"
    )
    # Same output as difflib for an unambiguous change, for several context sizes.
    a, b = old.splitlines(), new.splitlines()
    for context in (0, 1, 3, 10):
        expected = "".join(
            line + "\n" for line in difflib.unified_diff(a, b, "v1", "v2", n=context, lineterm="")
        )
        assert unified_text(old, new, old_label="v1", new_label="v2", context=context) == expected


def test_unified_text_edges() -> None:
    assert unified_text("same\n", "same") == ""
    assert unified_text("", "x\n") == "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n"
    assert unified_text("x\ny\n", "") == "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n"
    assert unified_text("a  b\n", "a b\n", ignore_whitespace=True) == ""


# --- bounded work: big inputs (correctness here; timing is in bench/bench_diff.py) -------

_VOCABULARY = (
    "you are a helpful assistant answer the customer politely and concisely never reveal "
    "internal policy if unsure ask a clarifying question refund order shipping account"
)
WORDS = _VOCABULARY.split()


def prompt(rng: random.Random, count: int) -> list[str]:
    return [f"{i}: " + " ".join(rng.choice(WORDS) for _ in range(8)) for i in range(count)]


def test_ten_thousand_lines_one_percent_changed() -> None:
    rng = random.Random(1)
    old_lines = prompt(rng, 10_000)
    new_lines = list(old_lines)
    changed = sorted(rng.sample(range(10_000), 100))
    for i in changed:
        new_lines[i] = old_lines[i] + " EDITED"
    result = diff_texts("\n".join(old_lines), "\n".join(new_lines))
    assert result.word_level and result.exact
    assert (result.added, result.removed) == (100, 100)
    replaced = [r for r in result.rows if r.kind == "replace"]
    assert [r.left_no for r in replaced] == [i + 1 for i in changed]
    assert all(changed_texts(r.right) == [" EDITED"] for r in replaced)
    assert len(result.rows) == 10_000
    check_invariants(result, "\n".join(old_lines), "\n".join(new_lines))


def test_ten_thousand_lines_every_line_changed() -> None:
    rng = random.Random(2)
    old_lines = prompt(rng, 10_000)
    new_lines = [line.replace(":", " ->", 1) for line in old_lines]
    old, new = "\n".join(old_lines), "\n".join(new_lines)
    result = diff_texts(old, new)
    assert (result.added, result.removed) == (10_000, 10_000)
    assert result.hunks == (0,)
    assert [(r.kind, r.left_no, r.right_no) for r in result.rows] == [
        ("replace", i, i) for i in range(1, 10_001)
    ]
    check_invariants(result, old, new)


def test_word_budget_fallback_marks_whole_lines() -> None:
    # Every line rewritten with shared vocabulary: word level for all of them would be
    # too much work, so later rows fall back to one whole-line changed segment.
    rng = random.Random(3)
    old_lines = prompt(rng, 10_000)
    new_lines = [" ".join(rng.sample(line.split(), 9)) for line in old_lines]
    old, new = "\n".join(old_lines), "\n".join(new_lines)
    result = diff_texts(old, new)
    assert not result.word_level
    assert (result.added, result.removed) == (10_000, 10_000)
    last = result.rows[-1]
    assert last.kind == "replace" and (last.left_no, last.right_no) == (10_000, 10_000)
    assert last.left == (Segment(old_lines[-1], True),)
    assert last.right == (Segment(new_lines[-1], True),)
    check_invariants(result, old, new)


def test_single_huge_line_slightly_edited() -> None:
    rng = random.Random(4)
    words = [rng.choice(WORDS) + str(rng.randrange(10**6)) for _ in range(25_000)]
    old = " ".join(words)
    assert len(old) > 200_000
    edited = list(words)
    for pos in (2_000, 12_000, 23_000):
        edited[pos] = "CHANGED"
    new = " ".join(edited)
    result = diff_texts(old, new)
    (row,) = result.rows
    assert (row.kind, row.left_no, row.right_no) == ("replace", 1, 1)
    assert changed_texts(row.left) == [words[2_000], words[12_000], words[23_000]]
    assert changed_texts(row.right) == ["CHANGED"] * 3
    check_invariants(result, old, new)


def test_single_huge_line_rewritten_falls_back() -> None:
    rng = random.Random(5)
    old = " ".join(rng.choice(WORDS) for _ in range(40_000))
    new = " ".join(rng.choice(WORDS) for _ in range(40_000))
    result = diff_texts(old, new)
    assert not result.word_level
    (row,) = result.rows
    assert (row.kind, row.left_no, row.right_no, result.added, result.removed) == (
        "replace",
        1,
        1,
        1,
        1,
    )
    check_invariants(result, old, new)


def test_ten_thousand_lines_crlf_vs_lf() -> None:
    rng = random.Random(6)
    lines = prompt(rng, 10_000)
    result = diff_texts("\r\n".join(lines) + "\r\n", "\n".join(lines))
    assert result.identical and len(result.rows) == 10_000
    assert result.rows[-1] == DiffRow(
        "equal", 10_000, 10_000, (Segment(lines[-1], False),), (Segment(lines[-1], False),)
    )


def test_repetitive_lines_stay_correct() -> None:
    # Few distinct lines on both sides: SequenceMatcher would go quadratic here.
    rng = random.Random(7)
    vocab = ["", "---", "- Be concise.", "{{ context }}", "[bold]Note[/]"]
    old = "\n".join(rng.choice(vocab) for _ in range(10_000))
    new = "\n".join(rng.choice(vocab) for _ in range(10_000))
    result = diff_texts(old, new)
    check_invariants(result, old, new)
    shuffled = "x\n" * 3000, "x\ny\n" * 1500
    result = diff_texts(*shuffled)
    check_invariants(result, *shuffled)


def test_big_diff_with_moves_and_ignore_whitespace() -> None:
    rng = random.Random(8)
    old_lines = prompt(rng, 5_000)
    # Lines 1000-1500 shuffled in place, and a block of 200 lines moved up (shuffling
    # the slice itself would shuffle a copy and move nothing).
    block = old_lines[1000:1500]
    rng.shuffle(block)
    moved = old_lines[3000:3200]
    new_lines = old_lines[:200] + moved + old_lines[200:1000] + block
    new_lines += old_lines[1500:3000] + old_lines[3200:]
    assert sorted(new_lines) == sorted(old_lines) and new_lines != old_lines
    new_lines = [("  " + x + "\t") if i % 7 == 0 else x for i, x in enumerate(new_lines)]
    old, new = "\n".join(old_lines), "\n".join(new_lines)
    check_invariants(diff_texts(old, new), old, new)
    result = diff_texts(old, new, ignore_whitespace=True)
    check_invariants(result, old, new, ignore_ws=True)
    assert result.rows[0].kind == "equal" and result.rows[-1].kind == "equal"
    # Only moves are left once whitespace is ignored: every line leaves one place and
    # arrives at another, the moved block at least.
    assert result.added == result.removed >= 200


# --- randomized invariants --------------------------------------------------------------


def test_random_small_diffs_keep_invariants() -> None:
    rng = random.Random(9)
    pieces = ["a", "b", "ab", " ", "  ", "\t", ".", ",", "é", "日本", "😀", "\x1b[1m", "[/]", "_"]

    def line() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 7)))

    for _ in range(2_000):
        a = [line() for _ in range(rng.randint(0, 7))]
        b = [x if rng.random() < 0.6 else line() for x in a]
        if rng.random() < 0.5:
            b.insert(rng.randint(0, len(b)), line())
        ignore_ws = rng.random() < 0.3
        old = "\n".join(a) + ("\n" if rng.random() < 0.5 else "")
        new = ("\r\n" if rng.random() < 0.3 else "\n").join(b)
        result = diff_texts(old, new, ignore_whitespace=ignore_ws)
        check_invariants(result, old, new, ignore_ws=ignore_ws)
        unified = result.unified()
        assert [u.old_no for u in unified if u.old_no] == list(range(1, len(split_lines(old)) + 1))
        assert [u.new_no for u in unified if u.new_no] == list(range(1, len(split_lines(new)) + 1))
        assert len(result.unified_hunks()) == len(result.hunks)


def test_a_change_of_line_endings_alone_is_reported() -> None:
    from promptdeck.diff import line_ending_note

    assert line_ending_note("a\r\nb\r\n", "a\nb\n") == "line endings CRLF -> LF"
    assert line_ending_note("a\nb", "a\nb\n") == "final newline added"
    assert line_ending_note("a\nb\n", "a\nb\n") is None
    assert line_ending_note("same", "same") is None
