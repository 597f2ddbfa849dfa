"""The checks keep their layers: pure parts load no database, UI or SDK; the SDKs load late."""

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
    ["checks.suite", "checks.static", "checks.assertions", "checks.model_call", "pricing"],
)
def test_pure_check_modules_load_no_database_ui_or_sdk(module: str) -> None:
    loaded = loaded_after(f"import promptdeck.{module}")
    assert not loaded & {"sqlalchemy", "textual", "click", "anthropic", "openai", "httpx2"}


def test_the_runner_loads_no_sdk_until_a_call_is_made() -> None:
    loaded = loaded_after("import promptdeck.checks.runner, promptdeck.checks.providers")
    assert not loaded & {"textual", "anthropic", "openai"}
