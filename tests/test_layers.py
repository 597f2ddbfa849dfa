"""The layering holds: pure parts know no database or UI, the core never loads Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return {name.split(".")[0] for name in output.split()}


@pytest.mark.parametrize(
    "module",
    ["diff", "templates", "yamlio", "records", "permissions", "sync.planner", "sync.records"],
)
def test_pure_modules_load_no_database_and_no_ui(module: str) -> None:
    loaded = loaded_after(f"import promptdeck.{module}")
    assert "sqlalchemy" not in loaded
    assert "textual" not in loaded


@pytest.mark.parametrize("module", ["store", "cli", "sync", "runtime"])
def test_core_and_cli_never_load_textual(module: str) -> None:
    assert "textual" not in loaded_after(f"import promptdeck.{module}")


def test_cli_command_without_the_app_does_not_load_textual() -> None:
    loaded = loaded_after(
        "from click.testing import CliRunner; from promptdeck.cli import main; "
        "CliRunner().invoke(main, ['--help'])"
    )
    assert "textual" not in loaded


def test_the_app_calls_the_store_never_the_orm_or_sql() -> None:
    from pathlib import Path

    import promptdeck.tui

    offenders = []
    for path in Path(promptdeck.tui.__file__).parent.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")) and (
                "sqlalchemy" in stripped or "promptdeck.store.rows" in stripped
            ):
                offenders.append(f"{path.name}:{number}: {stripped}")
            if "._read(" in stripped or "._write(" in stripped or "._engine" in stripped:
                offenders.append(f"{path.name}:{number}: {stripped}")
    assert offenders == []
