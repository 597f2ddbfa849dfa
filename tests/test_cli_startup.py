"""The command line starts fast: each command loads only what it uses.

``--help``, ``--version`` and shell completion load neither SQLAlchemy nor YAML nor
Textual; reading commands load no YAML and no Textual. Checked in a fresh interpreter,
through the same entry point as the ``promptdeck`` script.
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

HEAVY = {"sqlalchemy", "yaml", "textual"}

RUN_AND_LIST_MODULES = """
import json, sys
from promptdeck.cli import main
sys.argv = ["promptdeck", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print("\\nMODULES " + json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_by(args: list[str], **env: str) -> set[str]:
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


def test_read_commands_load_no_yaml_and_no_app(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = PromptStore(str(db), user="ada", create=True)
    store.create_feature("greeting", "Hello\n", model="m", reason="first")
    store.save("greeting", "Hello there\n", reason="warmer")
    store.close()
    for args in (["features"], ["show", "greeting", "latest"], ["diff", "greeting", "1", "2"]):
        loaded = loaded_by(["--db", str(db), *args])
        assert "sqlalchemy" in loaded  # the store was really read
        assert loaded & {"yaml", "textual"} == set(), args


def test_version_is_the_installed_package_version() -> None:
    output = subprocess.run(
        [sys.executable, "-m", "promptdeck.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert output.strip() == f"promptdeck, version {version('promptdeck')}"
