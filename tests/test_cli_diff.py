"""``promptdeck diff`` side by side: the changes with context as ``git diff`` shows them,
``--full`` for every line, and long lines wrapped within their column, never cut."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from promptdeck.cli import main
from promptdeck.store import PromptStore

LINES = [f"line {n} of the support prompt" for n in range(1, 3001)]
CHANGED_AT = (100, 900, 1500, 2200, 2999)  # 1-based line numbers


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "store.db"
    store = PromptStore(str(path), user="ada", create=True)
    store.create_feature("support", "\n".join(LINES) + "\n", model="m", reason="first")
    edited = list(LINES)
    for number in CHANGED_AT:
        edited[number - 1] = f"line {number} of the REWORDED prompt"
    store.save("support", "\n".join(edited) + "\n", reason="reword")
    long_line = " ".join(f"word{n}" for n in range(60)) + " the-end-of-the-line"
    store.create_feature("long", f"short\n{long_line}\nlast\n", model="m", reason="first")
    store.save("long", f"short\n{long_line.replace('word55', 'WORD55')}\nlast\n", reason="r")
    store.close()
    return str(path)


def diff(db: str, *args: str, columns: int = 120) -> Result:
    result = CliRunner().invoke(
        main, ["--db", db, "diff", *args], env={"COLUMNS": str(columns), "NO_COLOR": "1"}
    )
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def left_numbers(output: str) -> list[int]:
    return [int(match) for match in re.findall(r"^ *(\d+) ", output, flags=re.MULTILINE)]


def test_side_by_side_shows_each_change_with_three_lines_of_context(db: str) -> None:
    output = diff(db, "support", "1", "2").stdout
    headers = [line for line in output.splitlines() if line.startswith("@@ ")]
    assert headers == [
        "@@ -97,7 +97,7 @@",
        "@@ -897,7 +897,7 @@",
        "@@ -1497,7 +1497,7 @@",
        "@@ -2197,7 +2197,7 @@",
        "@@ -2996,5 +2996,5 @@",
    ]
    shown = left_numbers(output)
    expected = [n for at in CHANGED_AT for n in range(at - 3, min(at + 3, 3000) + 1)]
    assert shown == expected
    assert "- line 900 of the support prompt" in output
    assert "+ line 900 of the REWORDED prompt" in output
    assert len(output.splitlines()) < 50  # not the 3,000-line prompt


def test_context_option_and_adjacent_changes_share_one_block(db: str) -> None:
    output = diff(db, "support", "1", "2", "-U", "0").stdout
    assert left_numbers(output) == list(CHANGED_AT)
    wide = diff(db, "support", "1", "2", "--context", "400").stdout
    # Changes 600 to 800 lines apart: with 400 lines around each, the blocks join.
    headers = [line for line in wide.splitlines() if line.startswith("@@ ")]
    assert headers == ["@@ -1,3000 +1,3000 @@"]


def test_full_shows_every_line(db: str) -> None:
    output = diff(db, "support", "1", "2", "--full").stdout
    assert left_numbers(output) == list(range(1, 3001))
    assert "@@" not in output
    unified = diff(db, "support", "1", "2", "--unified", "--full").stdout
    assert sum(1 for line in unified.splitlines() if line.startswith(" line ")) == 2995


def test_long_lines_wrap_within_their_column_and_lose_nothing(db: str) -> None:
    output = diff(db, "long", "1", "2", columns=80).stdout
    lines = output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    # The change is near the end of a 400-character line: it is shown, not cut off.
    assert "WORD55" in output
    right = " ".join(line.split("│", 1)[1][5:].strip() for line in lines if "│" in line)
    assert "word54 WORD55 word56" in right
    assert right.endswith("the-end-of-the-line last")
    left = " ".join(line.split("│", 1)[0][5:].strip() for line in lines if "│" in line)
    assert "word54 word55 word56" in left
