"""The command line starts fast: each command loads only what it uses.

``--help``, ``--version`` and shell completion load neither SQLAlchemy nor YAML nor
Textual (nor SciPy, which ``stats`` uses); reading commands load no YAML, no Textual
and not SQLAlchemy's ORM (reads are Core queries: the ORM is half of SQLAlchemy's
import time). Checked in a fresh interpreter, through the same entry point as the
``promptdeck`` script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from promptdeck.store import PromptStore

HEAVY = {"sqlalchemy", "yaml", "textual", "scipy", "statsmodels", "numpy", "rich", "alembic"}
# What a command that only reads must not load (full module names).
NOT_FOR_READS = {
    "sqlalchemy.orm",
    "promptdeck.store.rows",
    "promptdeck.store.unit_of_work",
    "promptdeck.store.lookups",
    "promptdeck.store.tables_rest",
    "alembic",
    "yaml",
    "textual",
    "scipy",
    "statsmodels",
    "numpy",
}

RUN_AND_LIST_MODULES = """
import json, sys
from promptdeck.cli import main
sys.argv = ["promptdeck", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""


def loaded_by(args: list[str], **env: str) -> set[str]:
    """The top-level packages the command loaded."""
    return {name.split(".")[0] for name in modules_loaded_by(args, **env)}


def modules_loaded_by(args: list[str], **env: str) -> set[str]:
    """Every module the command loaded, by its full name."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, json.dumps(args)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    last = result.stdout.rstrip().rsplit("\n", 1)[-1]
    assert last.startswith("MODULES "), result.stdout + result.stderr
    return set(json.loads(last.removeprefix("MODULES ")))


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["sync", "--help"], ["show", "--help"]]
)
def test_help_and_version_load_no_database_yaml_or_app(args: list[str]) -> None:
    assert loaded_by(args) & HEAVY == set()


def test_shell_completion_loads_no_database_yaml_or_app() -> None:
    loaded = loaded_by(
        [], _PROMPTDECK_COMPLETE="bash_complete", COMP_WORDS="promptdeck sh", COMP_CWORD="1"
    )
    assert loaded & HEAVY == set()


@pytest.fixture(scope="module")
def read_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("reads") / "store.db"
    store = PromptStore(str(db), user="ada", create=True)
    store.create_feature("greeting", "Hello\n", model="m", reason="first")
    store.save("greeting", "Hello there\n", reason="warmer")
    store.activate("greeting", 1, reason="live")
    store.close()
    return db


@pytest.mark.parametrize(
    "args",
    [
        ["features"],
        ["features", "--json"],
        ["show", "greeting"],
        ["show", "greeting", "latest", "--json"],
        ["versions", "greeting"],
        ["diff", "greeting", "1", "2"],
        ["history", "greeting"],
    ],
)
def test_read_commands_load_no_orm_no_yaml_and_no_app(read_store: Path, args: list[str]) -> None:
    loaded = modules_loaded_by(["--db", str(read_store), *args])
    assert "sqlalchemy.engine" in loaded and "sqlite3" in loaded  # the store was really read
    assert loaded & NOT_FOR_READS == set(), args
    # Nor the modules of commands it does not run.
    assert {"promptdeck.cli.sync", "promptdeck.cli.stats"} & loaded == set(), args


def test_a_write_loads_the_orm_which_the_read_check_would_catch(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with PromptStore(str(db), user="ada", create=True) as store:
        store.create_feature("greeting", "Hello\n", model="m", reason="first")
    loaded = modules_loaded_by(["--db", str(db), "activate", "greeting", "1", "-m", "live"])
    assert "sqlalchemy.orm" in loaded and "promptdeck.store.unit_of_work" in loaded
    with PromptStore(str(db), create=False) as store:
        assert store.deployment("greeting").active == 1


def test_version_is_the_installed_package_version() -> None:
    output = subprocess.run(
        [sys.executable, "-m", "promptdeck.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert output.strip() == f"promptdeck, version {version('promptdeck')}"
