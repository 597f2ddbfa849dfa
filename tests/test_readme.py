"""The README's examples run as written, against the demo store `make demo` builds.

Every fenced block marked ``sh`` or ``python`` runs, in README order, in a directory
holding ``sample_prompts/`` and the demo store ``.demo/demo.db`` (built by the Makefile's
own `demo` recipe), with that store as the configured one and ``maria`` as the user (the
config example's user). Skipped, and said so: the blocks that name a PostgreSQL URL (the
sync example needs a PostgreSQL remote), the `make` lines (the Makefile is read instead:
its recipes are checked here), and opening the app (`promptdeck` with no command).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptdeck.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
NEEDS_POSTGRESQL = "postgresql"


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def commands(block: str) -> Iterator[list[str]]:
    """Each shell command of a block, comments dropped, continuation lines joined."""
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            yield words


def make_recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile target."""
    lines = MAKEFILE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def demo_commands() -> list[list[str]]:
    """`make demo`'s promptdeck commands, with the Makefile's variables filled in."""
    variables = dict(re.findall(r"^(\w+) \?= (.+)$", MAKEFILE.read_text(), re.M))
    found = []
    for line in make_recipe("demo"):
        line = line.replace("$(DEMO_DB)", variables["DEMO_DB"])
        words = shlex.split(line)
        assert words[0] == "$(BIN)/promptdeck", line
        found.append(words[1:])
    return found


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh checkout's working directory after `make demo` built its store."""
    (tmp_path / "sample_prompts").symlink_to(ROOT / "sample_prompts")
    monkeypatch.chdir(tmp_path)
    build, app = demo_commands()
    assert app == ["--db", ".demo/demo.db"]  # then opens the app on it: not run here
    result = CliRunner().invoke(main, build)
    assert result.exit_code == 0, result.stderr
    store = tmp_path / ".demo" / "demo.db"
    assert store.exists()
    monkeypatch.setenv("PROMPTDECK_DB", str(store))
    monkeypatch.setenv("PROMPTDECK_USER", "maria")
    return store


def run(words: list[str]) -> str:
    assert words[0] == "promptdeck", words
    result = CliRunner().invoke(main, words[1:], env=dict(os.environ))
    assert result.exit_code == 0, (words, result.stdout, result.stderr)
    return result.stdout


def test_make_demo_and_make_test_do_what_the_readme_says() -> None:
    readme_make = [
        words for block in blocks("sh") for words in commands(block) if words[0] == "make"
    ]
    assert readme_make == [["make", "demo"], ["make", "test"]]
    assert "pip install --quiet -e '.[dev]'" in MAKEFILE.read_text()  # the venv has pytest
    assert make_recipe("test") == ["$(BIN)/pytest -n 2 --dist loadfile"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci  # CI runs the README's test command


def test_every_shell_example_runs_as_written(demo: Path) -> None:
    ran, skipped = 0, []
    for block in blocks("sh"):
        if NEEDS_POSTGRESQL in block:
            skipped.append(block.splitlines()[0])
            continue
        for words in commands(block):
            if words[0] == "make":
                continue  # checked against the Makefile above
            run(words)
            ran += 1
    assert ran >= 7
    assert len(skipped) == 1 and "PROMPTDECK_REMOTE" in skipped[0]  # only the sync block
    # What the examples did is there: the canary was promoted, the history says how.
    out = run(["promptdeck", "versions", "customer-support"])
    assert re.search(r"^v6\s+active", out, re.M)
    history = run(["promptdeck", "history", "customer-support", "--limit", "4"])
    assert "v6 → off" in history and "— → v6 10%" in history


def test_every_python_example_runs_as_written(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (code,) = blocks("python")
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)  # the README's own code
    prompts = namespace["prompts"]
    prompts.close()  # type: ignore[attr-defined]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("6 ('product_name', 'customer_name'")
    assert "missing" in out[1]
    system = namespace["system"]
    assert isinstance(system, str) and "Ada" in system and "{{" not in system
