"""The hostile-input corpus of issue 14, each input run through the real CLI.

Every case: exit code 1, exactly one line on stderr (``error: ...``), no traceback, no
raw terminal escape, and the store unchanged (every row of every table, compared by
``PromptStore.backup``). Files live in tests/hostile/; add the next one there (a YAML
file is picked up by itself) or to COMMAND_CASES.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from promptdeck.store import PromptStore

PROMPTDECK = Path(sys.executable).with_name("promptdeck")
HOSTILE = Path(__file__).resolve().parent / "hostile"
BIG = str(2**63)
ESCAPE_USER = "m\x1b]0;OWNED\x07\x1b[2J"

# (id, arguments after --db, stdin). {file} is a scratch file with a new prompt text.
COMMAND_CASES: list[tuple[str, list[str], str | None]] = [
    ("param-depth-600", ["save", "translator", "-f", "-", "-m", "x", "--param",
                         "w=" + "[" * 600 + "]" * 600], "new"),
    ("param-depth-50000", ["save", "translator", "-f", "-", "-m", "x", "--param",
                           "w=" + "[" * 50_000 + "]" * 50_000], "new"),
    ("param-4301-digits", ["save", "translator", "-f", "-", "-m", "x", "--param",
                           "w=" + "9" * 4_301], "new"),
    ("param-nan", ["save", "translator", "-f", "-", "-m", "x", "--param", "w=NaN"], "new"),
    ("param-surrogate", ["save", "translator", "-f", "-", "-m", "x", "--param",
                         "w=a\udcffb"], "new"),
    ("show-2^63", ["show", "translator", BIG], None),
    ("activate-2^63", ["activate", "translator", BIG, "-m", "x"], None),
    ("canary-2^63", ["canary", "translator", BIG, "--percent", "10", "-m", "x"], None),
    ("save-base-2^63", ["save", "translator", "--base", BIG, "-f", "-", "-m", "x"], "new"),
    ("diff-2^63", ["diff", "translator", "1", BIG], None),
    ("history-limit-2^63", ["history", "--limit", BIG], None),
    ("activate-2^31", ["activate", "translator", str(2**31), "-m", "x"], None),
    ("show-superscript", ["show", "translator", "²"], None),
    ("reason-escape", ["save", "translator", "-f", "-", "-m", "x\x1b[2J"], "new"),
    ("reason-10001", ["save", "translator", "-f", "-", "-m", "r" * 10_001], "new"),
    ("model-201", ["save", "translator", "-f", "-", "-m", "x", "--model", "m" * 201], "new"),
    ("user-escape-save", ["--user", ESCAPE_USER, "save", "translator", "-f", "-", "-m", "x"],
     "new"),
    ("user-escape-role", ["role", ESCAPE_USER, "editor"], None),
    ("user-101-role", ["role", "u" * 101, "editor"], None),
    ("canary-equals-active", ["canary", "customer-support", "5", "--percent", "10", "-m", "x"],
     None),
    ("feature-name-201", ["new", "f" * 201, "-f", "-", "-m", "x", "--model", "m"], "new"),
    ("prompt-not-utf8", ["save", "translator", "-f", "-", "-m", "x"], None),  # stdin: bytes
]  # fmt: skip


def run(args: list[str], stdin: str | bytes | None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PROMPTDECK_USER": "alice"}
    data = stdin.encode("utf-8", "surrogateescape") if isinstance(stdin, str) else stdin
    return subprocess.run(
        [str(PROMPTDECK), *args], input=data or b"", capture_output=True, env=env, timeout=120
    )


def everything(path: Path) -> dict[str, Any]:
    with PromptStore(path, user="alice", create=False) as store:
        return store.backup()


def assert_refused(result: subprocess.CompletedProcess[bytes]) -> str:
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1, (result.returncode, stderr[-2000:])
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-2000:]
    assert lines[0].startswith("error: ")
    assert "\x1b" not in stderr and "\x07" not in stderr
    assert len(lines[0]) < 1000
    return lines[0]


@pytest.fixture
def hostile_store(store_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "hostile.db"
    shutil.copy(store_path, path)
    return path


@pytest.mark.parametrize(("args", "stdin"), [c[1:] for c in COMMAND_CASES],
                         ids=[c[0] for c in COMMAND_CASES])  # fmt: skip
def test_a_hostile_command_is_refused_in_one_line(
    hostile_store: Path, args: list[str], stdin: str | None
) -> None:
    if stdin is None and args[:2] == ["save", "translator"]:
        stdin = b"\xff\xfe not UTF-8"  # type: ignore[assignment]
    before = everything(hostile_store)
    assert_refused(run(["--db", str(hostile_store), *args], stdin))
    assert everything(hostile_store) == before


@pytest.mark.parametrize("file", sorted(HOSTILE.glob("*.yaml")), ids=lambda p: p.stem)
def test_a_hostile_file_is_refused_in_one_line_naming_it(hostile_store: Path, file: Path) -> None:
    before = everything(hostile_store)
    line = assert_refused(run(["--db", str(hostile_store), "import", str(file)], None))
    assert file.name in line
    assert everything(hostile_store) == before


def test_a_file_past_the_size_limit_is_refused(hostile_store: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as stream:  # sparse: 65 MiB that takes no disk
        stream.truncate(65 * 1024 * 1024)
    before = everything(hostile_store)
    assert_refused(run(["--db", str(hostile_store), "import", str(big)], None))
    assert everything(hostile_store) == before


def test_an_empty_db_is_refused_not_the_default_store(tmp_path: Path) -> None:
    assert_refused(run(["--db", "", "features"], None))
    assert_refused(run(["--db", "", "init"], None))


def test_another_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('0001')")
        connection.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    connection.close()
    content = path.read_bytes()
    assert_refused(run(["--db", str(path), "init"], None))
    assert path.read_bytes() == content
