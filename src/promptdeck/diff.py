"""Pure diff engine: two prompt texts -> rows for a side-by-side or unified view.

Standard library only. Nothing here knows about Textual, Rich or the database; every
piece of text is returned literally (markup such as ``[bold]`` or ANSI escapes included),
so the renderer is responsible for escaping.

How it works:

* Texts are split into lines on ``\\n``, ``\\r\\n`` and ``\\r`` (``str.splitlines`` semantics
  for those three), so line endings and a missing final newline are never a change.
* Lines are aligned with :class:`difflib.SequenceMatcher` on interned line ids, after
  trimming the common head and tail. Before a region is handed to it, its worst-case cost
  is estimated (SequenceMatcher goes quadratic on huge inputs and on many repeated lines;
  ``autojunk=False`` is only used where that estimate is small). Costlier regions are
  split on lines that occur exactly once on each side (patience-style anchors kept in
  their longest common order; failing that, on unique runs of four lines) and the gaps
  between anchors are aligned the same way. What still does not fit becomes one replace
  block and :attr:`DiffResult.exact` is ``False``.
* Within a replaced block old and new lines are paired one to one; each pair gets
  word-level segments (tokens ``\\w+``, whitespace runs, single punctuation characters),
  aligned by the same bounded matcher after trimming the common prefix and suffix at
  token boundaries. When a pair is too large or the budget is spent, the pair falls back
  to coarse segments (the differing middle, or the whole line, as one changed segment)
  and :attr:`DiffResult.word_level` is ``False``.
* One work budget per diff covers both passes (line alignment first), so the time is
  bounded whatever the input: about 100 ms of matching work at most.

Results are deterministic: budgets count work units, not wall-clock time.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import repeat
from typing import Literal, TypeVar

__all__ = [
    "DiffResult",
    "DiffRow",
    "Segment",
    "UnifiedLine",
    "diff_texts",
    "split_lines",
    "unified_text",
]

Kind = Literal["equal", "replace", "delete", "insert"]
Sign = Literal[" ", "-", "+"]

_K = TypeVar("_K", bound=Hashable)

# An opcode as difflib spells it: (tag, i1, i2, j1, j2).
_Op = tuple[str, int, int, int, int]

_TOKEN_RE = re.compile(r"\w+|\s+|[^\w\s]")

# --- Work limits (units are roughly one inner-loop step of SequenceMatcher). ------------
#: Total units one diff may spend: the line alignment first, the word level pass gets
#: what is left. About 100 ns per unit on a 2020s laptop core.
_BUDGET = 1_000_000
#: Largest worst-case estimate for a single SequenceMatcher run.
_SM_CALL_CAP = 400_000
#: Fixed cost charged per SequenceMatcher run (object set-up).
_SM_BASE = 150
#: Fixed cost charged per line pair in the word-level pass.
_PAIR_BASE = 60
#: Pairs whose differing middle has more tokens than this on a side are not word-diffed.
_PAIR_TOKEN_LIMIT = 100_000
#: How deep unique-line anchoring may recurse into the gaps between anchors.
_MAX_ANCHOR_DEPTH = 8
#: Length of the runs used as anchors when no single element is unique on both sides
#: (_grams is written for 4).
_GRAM = 4


# --- Public data types ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of one line."""

    text: str
    changed: bool  # True: this part differs from the other side (highlight it)


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One aligned row of the side-by-side view.

    ``left``/``right`` are empty tuples for a filler side and for an empty line; segments
    never have empty text.
    """

    kind: Kind
    left_no: int | None  # 1-based line number in the old text, None for an insert filler
    right_no: int | None  # 1-based line number in the new text, None for a delete filler
    left: tuple[Segment, ...]
    right: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class UnifiedLine:
    """One line of the unified view."""

    sign: Sign
    old_no: int | None
    new_no: int | None
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class DiffResult:
    """The outcome of :func:`diff_texts`."""

    rows: tuple[DiffRow, ...]
    added: int  # lines only in new (inserts + new side of replaces)
    removed: int  # lines only in old (deletes + old side of replaces)
    hunks: tuple[int, ...]  # index into rows of the first row of each block of changes
    word_level: bool  # False when the bounded fallback to line-level was taken anywhere
    #: False when a region too costly to align line by line was shown as one replaced
    #: block (the alignment is then coarser than a minimal diff, but still correct).
    exact: bool = True

    @property
    def identical(self) -> bool:
        """True when there is no change at all (after the whitespace option)."""
        return self.added == 0 and self.removed == 0

    def unified(self) -> tuple[UnifiedLine, ...]:
        """Unified view: per block all ``-`` lines then all ``+`` lines, no context trimming.

        Unchanged lines carry both line numbers and the new text's segments.
        """
        return self._unified()[0]

    def unified_hunks(self) -> tuple[int, ...]:
        """Indexes into :meth:`unified` of the first line of each block of changes."""
        return self._unified()[1]

    def next_hunk(self, row: int) -> int | None:
        """Row index of the first change block starting after ``row``, or None."""
        i = bisect_right(self.hunks, row)
        return self.hunks[i] if i < len(self.hunks) else None

    def previous_hunk(self, row: int) -> int | None:
        """Row index of the last change block starting before ``row``, or None."""
        i = bisect_left(self.hunks, row)
        return self.hunks[i - 1] if i else None

    def _unified(self) -> tuple[tuple[UnifiedLine, ...], tuple[int, ...]]:
        lines: list[UnifiedLine] = []
        starts: list[int] = []
        minus: list[UnifiedLine] = []
        plus: list[UnifiedLine] = []

        def flush() -> None:
            if minus or plus:
                starts.append(len(lines))
                lines.extend(minus)
                lines.extend(plus)
                minus.clear()
                plus.clear()

        for row in self.rows:
            if row.kind == "equal":
                flush()
                lines.append(UnifiedLine(" ", row.left_no, row.right_no, row.right))
                continue
            if row.left_no is not None:
                minus.append(UnifiedLine("-", row.left_no, None, row.left))
            if row.right_no is not None:
                plus.append(UnifiedLine("+", None, row.right_no, row.right))
        flush()
        return tuple(lines), tuple(starts)


# --- Public functions -------------------------------------------------------------------


def split_lines(text: str) -> list[str]:
    """Split on ``\\n``, ``\\r\\n`` and ``\\r`` only; a final line ending adds no line.

    Same as ``str.splitlines()`` for those three endings, but other characters that
    ``splitlines`` treats as breaks (form feed, U+2028, ...) stay inside the line.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def diff_texts(old: str, new: str, *, ignore_whitespace: bool = False) -> DiffResult:
    """Compare two texts line by line, with changed words marked inside changed lines.

    With ``ignore_whitespace`` lines that differ only in whitespace (amount of spaces and
    tabs, leading or trailing whitespace) are equal rows, each side showing its own text.
    """
    a_lines = split_lines(old)
    b_lines = split_lines(new)
    a_ids, b_ids = _intern_lines(a_lines, b_lines, ignore_whitespace)
    budget = _Budget(_BUDGET)
    ops, exact = _line_ops(a_ids, b_ids, budget)

    rows: list[DiffRow] = []
    hunks: list[int] = []
    added = removed = 0
    word_level = True
    append = rows.append

    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            for k in range(i2 - i1):
                lt = a_lines[i1 + k]
                rt = b_lines[j1 + k]
                ls = (Segment(lt, False),) if lt else ()
                rs = ls if rt == lt else ((Segment(rt, False),) if rt else ())
                append(DiffRow("equal", i1 + k + 1, j1 + k + 1, ls, rs))
            continue
        hunks.append(len(rows))
        n, m = i2 - i1, j2 - j1
        removed += n
        added += m
        for k in range(min(n, m)):
            left, right, ok = _pair_segments(
                a_lines[i1 + k], b_lines[j1 + k], ignore_whitespace, budget
            )
            word_level = word_level and ok
            rows.append(DiffRow("replace", i1 + k + 1, j1 + k + 1, left, right))
        for k in range(m, n):
            rows.append(DiffRow("delete", i1 + k + 1, None, _whole(a_lines[i1 + k]), ()))
        for k in range(n, m):
            rows.append(DiffRow("insert", None, j1 + k + 1, (), _whole(b_lines[j1 + k])))

    return DiffResult(
        rows=tuple(rows),
        added=added,
        removed=removed,
        hunks=tuple(hunks),
        word_level=word_level,
        exact=exact,
    )


def unified_text(
    old: str,
    new: str,
    *,
    old_label: str = "a",
    new_label: str = "b",
    context: int = 3,
    ignore_whitespace: bool = False,
) -> str:
    """Plain ``diff -u`` style text (with ---/+++ and @@ headers) for the CLI.

    Returns an empty string when the texts are identical (like ``diff``). Every line ends
    with ``\\n``; context lines are taken from the old text.
    """
    a_lines = split_lines(old)
    b_lines = split_lines(new)
    a_ids, b_ids = _intern_lines(a_lines, b_lines, ignore_whitespace)
    ops, _exact = _line_ops(a_ids, b_ids, _Budget(_BUDGET))
    if all(op[0] == "equal" for op in ops):
        return ""
    out = [f"--- {old_label}\n", f"+++ {new_label}\n"]
    for group in _grouped(ops, max(context, 0)):
        first, last = group[0], group[-1]
        old_range = _format_range(first[1], last[2])
        new_range = _format_range(first[3], last[4])
        out.append(f"@@ -{old_range} +{new_range} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(f" {line}\n" for line in a_lines[i1:i2])
                continue
            out.extend(f"-{line}\n" for line in a_lines[i1:i2])
            out.extend(f"+{line}\n" for line in b_lines[j1:j2])
    return "".join(out)


# --- Line level -------------------------------------------------------------------------


def _normalize_ws(line: str) -> str:
    return " ".join(line.split())


def _intern(a_keys: list[str], b_keys: list[str]) -> tuple[list[int], list[int]]:
    """Map equal keys to equal small ints (cheap to hash, compare and combine)."""
    ids = {k: n for n, k in enumerate(set(a_keys).union(b_keys))}
    return list(map(ids.__getitem__, a_keys)), list(map(ids.__getitem__, b_keys))


def _intern_lines(
    a_lines: list[str], b_lines: list[str], ignore_whitespace: bool
) -> tuple[list[int], list[int]]:
    """Map lines (or their whitespace-normalised form) to small ints."""
    if ignore_whitespace:
        return _intern(list(map(_normalize_ws, a_lines)), list(map(_normalize_ws, b_lines)))
    return _intern(a_lines, b_lines)


def _line_ops(a: list[int], b: list[int], budget: _Budget) -> tuple[list[_Op], bool]:
    """Aligned, merged opcodes; replace blocks never pair two equal lines."""
    if a == b:
        return ([("equal", 0, len(a), 0, len(b))] if a else []), True
    ops, exact = _align(a, b, budget)
    return _split_equal_pairs(ops, a, b), exact


def _split_equal_pairs(ops: list[_Op], a: Sequence[int], b: Sequence[int]) -> list[_Op]:
    """Split replace blocks where the one-to-one pairing meets two equal lines.

    Only after a coarse fallback or autojunk; the positional pairing stays the same.
    """
    out: list[_Op] = []
    for op in ops:
        tag, i1, i2, j1, j2 = op
        if tag != "replace":
            out.append(op)
            continue
        start = 0
        k = 0
        n = min(i2 - i1, j2 - j1)
        while k < n:
            if a[i1 + k] != b[j1 + k]:
                k += 1
                continue
            if k > start:
                out.append(("replace", i1 + start, i1 + k, j1 + start, j1 + k))
            eq = k
            while k < n and a[i1 + k] == b[j1 + k]:
                k += 1
            out.append(("equal", i1 + eq, i1 + k, j1 + eq, j1 + k))
            start = k
        if start == 0:
            out.append(op)
        else:
            ri, rj = i1 + start, j1 + start
            if ri < i2 or rj < j2:
                out.append((_tag_for(i2 - ri, j2 - rj), ri, i2, rj, j2))
    return _merge_ops(out)


def _grouped(ops: list[_Op], n: int) -> Iterator[list[_Op]]:
    """Change blocks with up to ``n`` lines of context (as difflib groups them)."""
    codes = list(ops)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    group: list[_Op] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * n:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _format_range(start: int, stop: int) -> str:
    """``start,length`` as diff -u prints it (1-based; an empty range names the line before)."""
    length = stop - start
    first = start + 1
    if length == 1:
        return f"{first}"
    if length == 0:
        first -= 1
    return f"{first},{length}"


# --- The bounded aligner (shared by lines and words) -----------------------------------


class _Budget:
    __slots__ = ("left",)

    def __init__(self, units: int) -> None:
        self.left = units


def _tag_for(n: int, m: int) -> str:
    if n and m:
        return "replace"
    return "delete" if n else "insert"


def _align(a: Sequence[int], b: Sequence[int], budget: _Budget) -> tuple[list[_Op], bool]:
    """Opcodes turning ``a`` into ``b`` at bounded cost.

    Returns the merged opcodes and whether the alignment is exact (no region was given up
    and shown as a single replace block for lack of budget).
    """
    ops: list[_Op] = []
    exact = True
    todo: list[tuple[int, int, int, int, int]] = [(0, len(a), 0, len(b), 0)]
    while todo:
        alo, ahi, blo, bhi, depth = todo.pop()
        # Common prefix and suffix are free matches.
        i, j = alo, blo
        while i < ahi and j < bhi and a[i] == b[j]:
            i += 1
            j += 1
        if i > alo:
            ops.append(("equal", alo, i, blo, j))
            alo, blo = i, j
        i, j = ahi, bhi
        while i > alo and j > blo and a[i - 1] == b[j - 1]:
            i -= 1
            j -= 1
        if i < ahi:
            ops.append(("equal", i, ahi, j, bhi))
            ahi, bhi = i, j
        n, m = ahi - alo, bhi - blo
        if not n or not m:
            if n or m:
                ops.append((_tag_for(n, m), alo, ahi, blo, bhi))
            continue

        ra, rb = a[alo:ahi], b[blo:bhi]
        budget.left -= n + m
        b_counts = Counter(rb)
        get = b_counts.get
        pairs = sum(map(get, ra, repeat(0)))
        if not pairs:  # nothing in common: a plain replace, and an exact one
            ops.append(("replace", alo, ahi, blo, bhi))
            continue

        # SequenceMatcher does at most 2k+1 longest-match searches (k = matching blocks),
        # each costing at most n + pairs steps.
        span = 2 * min(n, m) + 1
        if budget.left > 0 and (n + pairs) * span <= _SM_CALL_CAP:
            _run_matcher(ra, rb, alo, blo, n + pairs, False, budget, ops)
            continue

        if depth < _MAX_ANCHOR_DEPTH:
            # Anchor on elements unique on both sides; failing that, on unique runs of
            # _GRAM consecutive elements (prose with a small vocabulary, repeated lines).
            anchors = _unique_anchors(ra, rb, b_counts)
            if not anchors and min(n, m) >= 2 * _GRAM:
                budget.left -= _GRAM * (n + m)
                anchors = _unique_anchors(_grams(ra), _grams(rb), None, _GRAM)
            if anchors:
                budget.left -= n + m
                pi = pj = 0
                for x, y, size in anchors:
                    if x > pi or y > pj:
                        todo.append((alo + pi, alo + x, blo + pj, blo + y, depth + 1))
                    ops.append(("equal", alo + x, alo + x + size, blo + y, blo + y + size))
                    pi, pj = x + size, y + size
                if pi < n or pj < m:
                    todo.append((alo + pi, ahi, blo + pj, bhi, depth + 1))
                continue

        if budget.left > 0 and m >= 200:
            # With autojunk, elements in more than 1% of b are never used as match seeds.
            popular = m // 100 + 1
            seeds = sum(c for x in ra if (c := get(x, 0)) <= popular)
            if (n + seeds) * span <= _SM_CALL_CAP:
                _run_matcher(ra, rb, alo, blo, n + seeds, True, budget, ops)
                continue

        ops.append(("replace", alo, ahi, blo, bhi))
        exact = False
    ops.sort(key=lambda op: (op[1], op[3]))
    return _merge_ops(ops), exact


def _run_matcher(
    ra: Sequence[int],
    rb: Sequence[int],
    alo: int,
    blo: int,
    step_cost: int,
    autojunk: bool,
    budget: _Budget,
    ops: list[_Op],
) -> None:
    sm = SequenceMatcher(None, ra, rb, autojunk=autojunk)
    blocks = sm.get_matching_blocks()
    budget.left -= _SM_BASE + step_cost * (2 * len(blocks) - 1)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        ops.append((tag, alo + i1, alo + i2, blo + j1, blo + j2))


def _grams(seq: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """Every run of 4 consecutive elements, by start position."""
    return list(zip(seq, seq[1:], seq[2:], seq[3:], strict=False))


def _unique_anchors(
    ra: Sequence[_K],
    rb: Sequence[_K],
    b_counts: Counter[_K] | None,
    size: int = 1,
) -> list[tuple[int, int, int]]:
    """Equal blocks ``(i, j, length)`` seeded by keys that occur once on each side.

    The seeds are kept in their longest common order (longest increasing subsequence of
    the b positions, as in patience diff); seeds of ``size`` elements that overlap are
    joined when on the same diagonal and dropped otherwise.
    """
    if b_counts is None:
        b_counts = Counter(rb)
    a_counts = Counter(ra)
    common = {x for x, c in a_counts.items() if c == 1}
    common &= {x for x, c in b_counts.items() if c == 1}
    if not common:
        return []
    b_pos = {x: j for j, x in enumerate(rb) if x in common}
    seq = [(i, b_pos[x]) for i, x in enumerate(ra) if x in common]
    tails: list[int] = []
    tail_idx: list[int] = []
    prev = [-1] * len(seq)
    for k, (_i, j) in enumerate(seq):
        pos = bisect_left(tails, j)
        if pos:
            prev[k] = tail_idx[pos - 1]
        if pos == len(tails):
            tails.append(j)
            tail_idx.append(k)
        else:
            tails[pos] = j
            tail_idx[pos] = k
    chain: list[tuple[int, int]] = []
    k = tail_idx[-1]
    while k >= 0:
        chain.append(seq[k])
        k = prev[k]
    chain.reverse()
    blocks: list[tuple[int, int, int]] = []
    for i, j in chain:
        if blocks:
            bi, bj, bs = blocks[-1]
            if i - bi == j - bj and i <= bi + bs:
                blocks[-1] = (bi, bj, i + size - bi)
                continue
            if i < bi + bs or j < bj + bs:
                continue
        blocks.append((i, j, size))
    return blocks


def _merge_ops(ops: list[_Op]) -> list[_Op]:
    """Join adjacent equal ops and adjacent change ops (sorted input)."""
    out: list[_Op] = []
    for op in ops:
        tag, i1, i2, j1, j2 = op
        if i1 == i2 and j1 == j2:
            continue
        if out:
            ptag, pi1, _, pj1, _ = out[-1]
            if (tag == "equal") == (ptag == "equal"):
                merged = tag if tag == "equal" else _tag_for(i2 - pi1, j2 - pj1)
                out[-1] = (merged, pi1, i2, pj1, j2)
                continue
        out.append(op)
    return out


# --- Word level -------------------------------------------------------------------------


def _whole(text: str) -> tuple[Segment, ...]:
    return (Segment(text, True),) if text else ()


# Two characters that belong to one token: both word characters or both whitespace.
_JOINED = re.compile(r"\w\w|\s\s")


def _common_prefix(x: str, y: str) -> int:
    lo, hi = 0, min(len(x), len(y))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x.startswith(y[lo:mid], lo):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(x: str, y: str, limit: int) -> int:
    lx, ly = len(x), len(y)
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x.endswith(y[ly - mid : ly - lo], 0, lx - lo):
            lo = mid
        else:
            hi = mid - 1
    return lo


_RUN = re.compile(r"\w+|\s+")


def _run_start(text: str, end: int) -> int:
    """Start of the word or whitespace run that ends at ``end`` (``text[end - 1]`` in it)."""
    window = 64
    while True:
        lo = max(0, end - window)
        m = _RUN.match(text[lo:end][::-1])
        run = m.end() if m else 1
        if run < end - lo or lo == 0:
            return end - run
        window *= 16


def _trim_to_tokens(old: str, new: str) -> tuple[int, int]:
    """Lengths of the common prefix and suffix, cut back to token boundaries on both sides."""
    lo, ln = len(old), len(new)
    joined = _JOINED.match
    p = _common_prefix(old, new)
    if p and (joined(old, p - 1) or joined(new, p - 1)):
        p = _run_start(old, p)  # old[:p] == new[:p], so this is a boundary in both
    s = _common_suffix(old, new, min(lo, ln) - p)
    if s and ((lo - s > p and joined(old, lo - s - 1)) or (ln - s > p and joined(new, ln - s - 1))):
        m = _RUN.match(old, lo - s)  # old[lo - s:] == new[ln - s:]
        s -= m.end() - (lo - s) if m else 1
    return p, s


def _pair_segments(
    old: str, new: str, ignore_ws: bool, budget: _Budget
) -> tuple[tuple[Segment, ...], tuple[Segment, ...], bool]:
    """Word-level segments for a replaced pair; the flag is False if it fell back."""
    budget.left -= _PAIR_BASE
    if budget.left <= 0:
        return _whole(old), _whole(new), False
    p, s = _trim_to_tokens(old, new)
    prefix, suffix = old[:p], old[len(old) - s :]
    mid_old, mid_new = old[p : len(old) - s], new[p : len(new) - s]
    if not mid_old or not mid_new:  # pure insertion or deletion inside the line
        return (
            _build(prefix, [(mid_old, True)], suffix, ignore_ws),
            _build(prefix, [(mid_new, True)], suffix, ignore_ws),
            True,
        )
    budget.left -= (len(mid_old) + len(mid_new)) // 4
    ta = _TOKEN_RE.findall(mid_old)
    tb = _TOKEN_RE.findall(mid_new)
    if budget.left <= 0 or max(len(ta), len(tb)) > _PAIR_TOKEN_LIMIT:
        return (
            _build(prefix, [(mid_old, True)], suffix, ignore_ws),
            _build(prefix, [(mid_new, True)], suffix, ignore_ws),
            False,
        )
    if ignore_ws:
        sa = [" " if t.isspace() else t for t in ta]
        sb = [" " if t.isspace() else t for t in tb]
    else:
        sa, sb = ta, tb
    if set(sa).isdisjoint(sb):  # no token in common: the whole middle changed
        return (
            _build(prefix, [(mid_old, True)], suffix, ignore_ws),
            _build(prefix, [(mid_new, True)], suffix, ignore_ws),
            True,
        )
    ops, exact = _align(*_intern(sa, sb), budget)
    left: list[tuple[str, bool]] = []
    right: list[tuple[str, bool]] = []
    for tag, i1, i2, j1, j2 in ops:
        changed = tag != "equal"
        if i1 < i2:
            left.append(("".join(ta[i1:i2]), changed))
        if j1 < j2:
            right.append(("".join(tb[j1:j2]), changed))
    return (
        _build(prefix, left, suffix, ignore_ws),
        _build(prefix, right, suffix, ignore_ws),
        exact,
    )


def _build(
    prefix: str, middle: list[tuple[str, bool]], suffix: str, ignore_ws: bool
) -> tuple[Segment, ...]:
    """Merge into segments: adjacent parts with the same flag are joined, unchanged
    whitespace between two changed parts becomes changed (one highlight for a rewritten
    phrase), and with ``ignore_ws`` whitespace at the edges of a changed part is not
    highlighted."""
    if not ignore_ws and len(middle) == 1:  # the common case: one changed stretch
        text, changed = middle[0]
        if changed and text:
            mid = Segment(text, True)
            head = (Segment(prefix, False), mid) if prefix else (mid,)
            return (*head, Segment(suffix, False)) if suffix else head
    parts: list[tuple[str, bool]] = [(prefix, False)]
    if ignore_ws:
        for text, changed in middle:
            core = text.strip() if changed else ""
            if not core:
                parts.append((text, False))
                continue
            lead = len(text) - len(text.lstrip())
            end = lead + len(core)
            parts += ((text[:lead], False), (core, True), (text[end:], False))
    else:
        parts += middle
    parts.append((suffix, False))
    texts: list[str] = []
    flags: list[bool] = []
    for text, changed in parts:
        if not text:
            continue
        if flags and flags[-1] == changed:
            texts[-1] += text
        else:
            texts.append(text)
            flags.append(changed)
    merge = False
    for k in range(1, len(texts) - 1):
        if not flags[k] and flags[k - 1] and flags[k + 1] and texts[k].isspace():
            flags[k] = merge = True
    if not merge:
        return tuple(map(Segment, texts, flags))
    out: list[Segment] = []
    for text, changed in zip(texts, flags, strict=True):
        if out and out[-1].changed == changed:
            out[-1] = Segment(out[-1].text + text, changed)
        else:
            out.append(Segment(text, changed))
    return tuple(out)


def _line_ending(text: str) -> str:
    if "\r\n" in text:
        return "CRLF"
    if "\r" in text:
        return "CR"
    return "LF"


def line_ending_note(old: str, new: str) -> str | None:
    """What differs besides the lines, which the row diff does not show: line endings
    and the final newline. None when nothing of the kind differs."""
    notes: list[str] = []
    old_ending, new_ending = _line_ending(old), _line_ending(new)
    if old_ending != new_ending and "\n" in old + new:
        notes.append(f"line endings {old_ending} -> {new_ending}")
    if old.endswith(("\n", "\r")) != new.endswith(("\n", "\r")):
        notes.append("final newline " + ("removed" if old.endswith(("\n", "\r")) else "added"))
    return ", ".join(notes) or None
