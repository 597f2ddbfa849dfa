"""Benchmark of promptdeck.diff.diff_texts: median wall time per case.

Run with ``python bench/bench_diff.py`` (``--repeat N`` to change the number of runs,
``--all`` to add adversarial cases). Inputs are generated from a fixed seed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

try:
    from promptdeck.diff import DiffResult, diff_texts
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from promptdeck.diff import DiffResult, diff_texts

_VOCABULARY = (
    "you are a helpful assistant answer the customer politely and concisely never reveal "
    "internal policy if unsure ask a clarifying question refund order shipping account "
    "password reset escalate to a human agent when the user is angry use markdown lists "
    "keep answers under two hundred words cite the knowledge base article number always "
    "respond in the language of the user do not invent facts tone friendly professional"
)
WORDS = _VOCABULARY.split()
FIXED_LINES = ("", "", "---", "## Rules", "- Be concise.", "{{ context }}", "[bold]Note[/]")


def prompt_lines(rng: random.Random, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        if rng.random() < 0.15:
            lines.append(rng.choice(FIXED_LINES))
        else:
            n = rng.randint(4, 18)
            lines.append(" ".join(rng.choice(WORDS) for _ in range(n)) + rng.choice(".:?!,"))
    return lines


def edit_line(rng: random.Random, line: str) -> str:
    words = line.split(" ")
    k = rng.randrange(len(words))
    words[k] = rng.choice(WORDS) + "x"
    return " ".join(words)


def edit_lines(rng: random.Random, lines: list[str], share: float) -> list[str]:
    out: list[str] = []
    for line in lines:
        r = rng.random()
        if r < share * 0.6:
            out.append(edit_line(rng, line))
        elif r < share * 0.8:
            continue  # deleted
        elif r < share:
            out.append(line)
            out.append(" ".join(rng.choice(WORDS) for _ in range(8)))  # inserted
        else:
            out.append(line)
    return out


def repetitive(distinct: int, count: int) -> tuple[str, str]:
    rng = random.Random(distinct * count)
    vocab = prompt_lines(rng, distinct)
    return (
        "\n".join(rng.choice(vocab) for _ in range(count)),
        "\n".join(rng.choice(vocab) for _ in range(count)),
    )


def long_lines_shuffled(count: int) -> tuple[str, str]:
    rng = random.Random(count)
    lines = [" ".join(rng.choice(WORDS) for _ in range(300)) for _ in range(count)]
    shuffled = list(lines)
    rng.shuffle(shuffled)
    return "\n".join(lines), "\n".join(edit_line(rng, line) for line in shuffled)


def cases(include_adversarial: bool) -> list[tuple[str, str, str, dict[str, bool]]]:
    rng = random.Random(20240601)
    big = prompt_lines(rng, 10_000)
    old_big = "\n".join(big) + "\n"
    one_percent = "\n".join(edit_lines(rng, big, 0.01)) + "\n"
    every_line = "\n".join(edit_line(rng, line) if line else "x" for line in big) + "\n"
    crlf = old_big.replace("\n", "\r\n")

    words: list[str] = []
    size = 0
    while size < 200_000:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    long_line = " ".join(words)
    edited = list(words)
    for pos in (len(words) // 10, len(words) // 2, len(words) * 9 // 10):
        edited[pos] = "CHANGED"
    long_edited = " ".join(edited)

    small = prompt_lines(rng, 40)
    small_old = "\n".join(small) + "\n"
    small_new = "\n".join(edit_lines(random.Random(7), small, 0.1)) + "\n"

    out: list[tuple[str, str, str, dict[str, bool]]] = [
        ("typical 40-line prompt, a few edits", small_old, small_new, {}),
        ("10,000 lines, ~1% lines changed", old_big, one_percent, {}),
        ("10,000 lines, every line changed", old_big, every_line, {}),
        ("single 200 kB line, 3 words edited", long_line, long_edited, {}),
        ("10,000 lines CRLF vs LF", crlf, old_big, {}),
    ]
    if include_adversarial:
        other = "\n".join(prompt_lines(random.Random(99), 10_000)) + "\n"
        shuffled = list(big)
        random.Random(3).shuffle(shuffled)
        out += [
            ("10,000 lines, ~1% changed, ignore ws", old_big, one_percent, {"iw": True}),
            ("10,000 lines vs unrelated 10,000", old_big, other, {}),
            ("10,000 lines vs same lines shuffled", old_big, "\n".join(shuffled), {}),
            (
                "2,000 lines 'x' vs alternating x/y",
                "x\n" * 2000,
                "x\ny\n" * 1000,
                {},
            ),
            (
                "single 200 kB line vs unrelated one",
                long_line,
                " ".join(random.Random(5).choice(WORDS) for _ in range(len(words))),
                {},
            ),
            ("200 kB word without spaces, 1 char edited", "a" * 200_000, "a" * 99_999 + "b", {}),
            ("10,000 lines from 50 distinct, random", *repetitive(50, 10_000), {}),
            ("10,000 lines from 500 distinct, random", *repetitive(500, 10_000), {}),
            ("1,000 lines from 30 distinct, random", *repetitive(30, 1_000), {}),
            ("400 lines from 20 distinct, random", *repetitive(20, 400), {}),
            ("2,000 long lines (~2 kB) shuffled", *long_lines_shuffled(2_000), {}),
        ]
    return out


def measure(fn: Callable[[], DiffResult], repeat: int) -> tuple[float, DiffResult]:
    times = []
    result = fn()
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--all", action="store_true", help="also run adversarial cases")
    args = parser.parse_args()
    print(f"{'case':45} {'median ms':>10} {'rows':>7} {'+':>6} {'-':>6}  word_level exact")
    for name, old, new, opts in cases(args.all):
        iw = opts.get("iw", False)
        repeat = args.repeat * 20 if len(old) < 10_000 else args.repeat
        ms, r = measure(partial(diff_texts, old, new, ignore_whitespace=iw), repeat)
        print(
            f"{name:45} {ms:10.2f} {len(r.rows):7d} {r.added:6d} {r.removed:6d}"
            f"  {r.word_level!s:10} {r.exact}"
        )


if __name__ == "__main__":
    main()
