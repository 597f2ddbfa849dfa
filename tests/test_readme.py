"""The README's examples run as written, against the demo store `make demo` builds.

Every fenced block marked ``sh`` or ``python`` runs, in README order, in a directory
holding ``sample_prompts/`` and the demo store ``.demo/demo.db`` (built by the Makefile's
own `demo` recipe), with that store as the configured one and ``maria`` as the user (the
config example's user). A line whose comment begins "refused" must be refused. Skipped,
and said so: the blocks that name a PostgreSQL URL (the init and sync examples need a
PostgreSQL server; the PgBouncer and experiments python examples open a PostgreSQL store,
the latter calls the Anthropic API too: those two are compiled only), the review
walkthrough (it needs several people and shows a refused activation), the `check` block
(it calls the model's API), a line run "in $EDITOR", the `make` lines (the Makefile is
read instead: its recipes are checked here), and opening the app (`promptdeck` with no
command).
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
# The review walkthrough needs several people (an editor's version, other reviewers) and
# shows a refused activation: the one-user demo cannot play it.
NEEDS_SEVERAL_PEOPLE = "promptdeck review request"
NEEDS_A_MODEL = "ANTHROPIC_API_KEY"  # `promptdeck check` calls the model's API


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def commented_commands(block: str) -> Iterator[tuple[list[str], str]]:
    """Each shell command of a block with its comment, continuation lines joined."""
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            comment = line.partition("  #")[2] if "  #" in line else ""
            yield words, comment


def commands(block: str) -> Iterator[list[str]]:
    """Each shell command of a block, comments dropped, continuation lines joined."""
    for words, _comment in commented_commands(block):
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


def run(words: list[str], *, refused: bool = False) -> str:
    """Run a promptdeck command line; `> FILE` at its end writes its output there."""
    assert words[0] == "promptdeck", words
    words, target = (words[:-2], words[-1]) if words[-2:-1] == [">"] else (words, None)
    result = CliRunner().invoke(main, words[1:], env=dict(os.environ))
    if refused:  # the README's comment says so
        assert result.exit_code == 1 and result.stderr, (words, result.stdout)
    else:
        assert result.exit_code == 0, (words, result.stdout, result.stderr)
    if target is not None:
        Path(target).write_text(result.stdout)
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
        if any(
            marker in block for marker in (NEEDS_POSTGRESQL, NEEDS_SEVERAL_PEOPLE, NEEDS_A_MODEL)
        ):
            skipped.append(block.splitlines()[0])
            continue
        for words, comment in commented_commands(block):
            if words[0] == "make":
                continue  # checked against the Makefile above
            if "$EDITOR" in comment:
                continue  # interactive: opens an editor
            run(words, refused=comment.lstrip().startswith("refused"))
            ran += 1
    assert ran >= 7
    # Only the PostgreSQL init and sync blocks, the review walkthrough and `check`.
    assert len(skipped) == 4, skipped
    for marker in ("init", "review request", "PROMPTDECK_REMOTE", "ANTHROPIC_API_KEY"):
        assert sum(marker in first_line for first_line in skipped) == 1, (marker, skipped)
    # What the examples did is there: the canary was promoted, the history says how.
    out = run(["promptdeck", "versions", "customer-support"])
    assert re.search(r"^v6\s+active", out, re.M)
    history = run(["promptdeck", "history", "customer-support", "--limit", "4"])
    assert "v6 → off" in history and "— → v6 10%" in history


def test_every_python_example_runs_as_written(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every python block runs in README order, in one namespace, except those naming a
    PostgreSQL store (the PgBouncer example, and the experiments example, which also calls
    the Anthropic API): those are only compiled, since they need a server this test has not."""
    ran, skipped = [], []
    namespace: dict[str, object] = {}
    for code in blocks("python"):
        compiled = compile(code, str(README), "exec")  # every block is valid Python
        if 'Prompts("postgresql' in code:  # not a comment naming one: a store it opens
            skipped.append(code)
            continue
        exec(compiled, namespace)  # the README's own code
        ran.append(code)
    assert len(ran) == 1 and 'Prompts(".demo/demo.db"' in ran[0]  # the runtime example
    assert len(skipped) == 2, skipped
    assert sorted("pgbouncer" in code for code in skipped) == [False, True]  # PgBouncer
    assert sorted("anthropic" in code for code in skipped) == [False, True]  # experiments
    prompts = namespace["prompts"]
    prompts.close()  # type: ignore[attr-defined]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("6 ('product_name', 'customer_name'")
    assert "missing" in out[1]
    system = namespace["system"]
    assert isinstance(system, str) and "Ada" in system and "{{" not in system
