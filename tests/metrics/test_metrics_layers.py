"""The metrics modules are pure: no database, no UI, no CLI; the recorder stays light."""

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


@pytest.mark.parametrize("module", ["outcome", "aggregate", "recorder", "stats", "series"])
def test_metrics_modules_load_no_database_ui_or_cli(module: str) -> None:
    loaded = loaded_after(f"import promptdeck.metrics.{module}")
    assert not loaded & {"sqlalchemy", "textual", "click"}


def test_the_recorder_does_not_load_scipy_or_statsmodels() -> None:
    # An application that records outcomes pays nothing for the statistics.
    loaded = loaded_after("import promptdeck.metrics.recorder")
    assert not loaded & {"scipy", "statsmodels", "numpy"}
