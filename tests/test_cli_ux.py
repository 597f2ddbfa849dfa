"""The CLI saying what the app says (states, history), carrying an edit onto a newer
version (``save --merge``), and the one rule for creating a store."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from promptdeck.cli import main
from promptdeck.display import audit_move, version_state
from promptdeck.store import PromptStore


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def refused(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def db(store_path: Path) -> list[str]:
    return ["--db", str(store_path), "--user", "alice"]


def states(db: list[str], feature: str) -> dict[str, str]:
    """VERSION -> STATE from the `versions` table."""
    lines = ok(cli(*db, "versions", feature)).stdout.splitlines()
    start = lines[0].index("STATE")
    end = lines[0].index("AUTHOR")
    return {line.split()[0]: line[start:end].strip() for line in lines[1:]}


# --- one word per state, the same as the app ----------------------------------------------


def test_versions_names_the_rollback_target_like_the_app(db: list[str], store: PromptStore) -> None:
    # customer-support: v5 active, v6 the canary at 10%, v1-v3 on the rollback stack.
    assert states(db, "customer-support") == {
        "v6": "canary 10%",
        "v5": "active",
        "v4": "",
        "v3": "rollback",
        "v2": "previous",
        "v1": "previous",
    }
    # After promoting an older canary the rollback target is NEWER than the active
    # version: it is named as the rollback target, not "newer".
    ok(cli(*db, "activate", "customer-support", "6", "-m", "six"))
    ok(cli(*db, "canary", "customer-support", "4", "--percent", "20", "-m", "try four"))
    ok(cli(*db, "promote", "customer-support", "-m", "four is fine"))
    shown = states(db, "customer-support")
    assert shown["v4"] == "active"
    assert shown["v6"] == "rollback"
    deployment = store.deployment("customer-support")
    for version, word in shown.items():
        assert word == version_state(
            int(version[1:]),
            active=deployment.active,
            canary=deployment.canary,
            canary_percent=deployment.canary_percent,
            previous=deployment.previous,
        )
    rows = {
        row["version"]: row["state"]
        for row in _json(cli(*db, "versions", "customer-support", "--json"))
    }
    assert rows[6] == "rollback" and rows[4] == "active"


def _json(result: Result) -> list[dict[str, object]]:
    import json

    data = json.loads(ok(result).stdout)
    assert isinstance(data, list)
    return data


# --- history shows canary shares ------------------------------------------------------------


def test_history_shows_canary_percentages(db: list[str]) -> None:
    ok(cli(*db, "canary", "customer-support", "6", "--percent", "25", "-m", "more"))
    ok(cli(*db, "canary", "customer-support", "--off", "-m", "stop"))
    out = ok(cli(*db, "history", "customer-support", "--limit", "2")).stdout
    lines = out.splitlines()
    assert "FROM → TO" in lines[0]
    assert "v6 → off" in lines[1]
    assert "v6 10% → v6 25%" in lines[2]


def test_history_words_are_shared_with_the_app() -> None:
    from promptdeck.tui.screens import history

    assert audit_move("canary", 6, 6, {"percent": 0, "previous_percent": 10}) == "v6 10% → v6 0%"
    assert audit_move("sync-canary", 6, 6, {"percent": 0, "sync": "pull"}) == "v6 → v6 0%"
    assert audit_move("canary", None, 6, {"percent": 10, "previous_percent": 0}) == "— → v6 10%"
    assert audit_move("create", 5, 7, {"on_top_of": 6}) == "v5 → v7 (on top of v6)"
    assert audit_move("activate", None, 5, {"canary": 6, "percent": 10}) == (
        "— → v5 (canary v6 10%)"
    )
    assert audit_move("rollback", 5, 3, {}) == "v5 → v3"
    assert history.audit_move is audit_move  # the app's history screen uses the same words
