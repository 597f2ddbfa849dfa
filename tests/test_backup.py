"""A backup restores everything, history included: the round trip is exact."""

from __future__ import annotations

import sqlite3
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from promptdeck.cli import main
from promptdeck.store import PromptStore
from promptdeck.store.clock import now
from promptdeck.store.rows import CheckRunRow, EnvironmentRow, ReviewRow, SuiteRow, VersionRow


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _rich_store(path: Path) -> None:
    """A store with something in every kind of history."""
    with PromptStore(path, user="alice", create=False) as store:
        store.set_role("alice", "admin")
        store.set_role("bob", "editor")
        store.save("translator", "v4 text", reason="four")
        store.activate("translator", 4, reason="go")
        store.activate("translator", 2, reason="back to two")
        store.rollback("translator", reason="undo")
        store.set_canary("translator", 2, 25, reason="try two")
        store.activate("translator", 3, reason="staging", environment="staging")
        with store.unit_of_work() as work:
            session = work.session
            version = session.query(VersionRow).filter_by(number=4).first()
            assert version is not None
            session.add(
                EnvironmentRow(
                    name="eu",
                    protected=True,
                    required_approvals=2,
                    require_checks=True,
                    created_at=now(),
                    created_by="alice",
                )
            )
            session.add(
                ReviewRow(
                    uid=str(uuid.uuid4()),
                    version_id=version.id,
                    kind="approve",
                    actor="bob",
                    comment="fine ✓",
                    created_at=now(),
                )
            )
            session.add(
                SuiteRow(
                    uid=str(uuid.uuid4()),
                    feature_id=version.feature_id,
                    number=1,
                    body={"cases": [{"input": "hi", "expect": {"contains": "hallo"}}]},
                    content_hash="0" * 64,
                    author="alice",
                    reason="first suite",
                    created_at=now(),
                )
            )
            session.add(
                CheckRunRow(
                    uid=str(uuid.uuid4()),
                    version_id=version.id,
                    suite_uid=None,
                    model="m",
                    status="passed",
                    runner="alice",
                    started_at=now(),
                    finished_at=now(),
                    summary={"passed": 1},
                    results={"cases": [1.5, None, True]},
                )
            )


def _everything(location: str | Path) -> dict[str, Any]:
    with PromptStore(location, user="alice", create=False) as store:
        return store.backup()


def test_backup_and_restore_round_trip_exactly(store_path: Path, tmp_path: Path) -> None:
    _rich_store(store_path)
    before = _everything(store_path)
    assert all(before["tables"][t]["rows"] for t in (
        "audit_events", "rollback_stack", "roles", "environments", "reviews", "suites",
        "check_runs", "deployments", "versions",
    ))  # fmt: skip
    file = tmp_path / "store.backup"
    result = cli("--db", str(store_path), "backup", str(file))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    restored = tmp_path / "restored.db"
    result = cli("--db", str(restored), "--user", "alice", "restore", str(file))
    assert result.exit_code == 0, result.stderr
    assert _everything(restored) == before
    # The restored store works on: numbering, stacks and the audit log continue.
    moves = []
    for location in (store_path, restored):
        with PromptStore(location, user="alice", create=False) as store:
            assert store.save("translator", "v5", reason="five").number == 5
            moves.append(store.rollback("translator", reason="again"))
            assert store.history("translator")[0].action == "rollback"
    assert moves[0] == moves[1]


def test_restore_refuses_a_store_that_holds_data(store_path: Path, tmp_path: Path) -> None:
    file = tmp_path / "b.json"
    assert cli("--db", str(store_path), "backup", str(file)).exit_code == 0
    before = _everything(store_path)
    result = cli("--db", str(store_path), "restore", str(file))
    assert result.exit_code == 1
    assert (
        result.stderr.startswith("error: cannot restore") and len(result.stderr.splitlines()) == 1
    )
    assert _everything(store_path) == before


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"not json", "not a promptdeck backup"), (b'{"format": "x"}', "not a promptdeck backup")],
)
def test_restore_refuses_what_is_not_a_backup(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    file = tmp_path / "b.json"
    file.write_bytes(content)
    result = cli("--db", str(tmp_path / "new.db"), "restore", str(file))
    assert result.exit_code == 1 and fragment in result.stderr


@pytest.mark.postgres
def test_a_sqlite_backup_restores_into_postgresql(
    store_path: Path, tmp_path: Path, pg_store_url: str
) -> None:
    pg_url = pg_store_url
    _rich_store(store_path)
    before = _everything(store_path)
    file = tmp_path / "b.json"
    assert cli("--db", str(store_path), "backup", str(file)).exit_code == 0
    result = cli("--db", pg_url, "--user", "alice", "restore", str(file))
    assert result.exit_code == 0, result.stderr
    assert _everything(pg_url) == before
    with PromptStore(pg_url, user="alice") as store:
        assert store.save("translator", "v5", reason="five").number == 5


# --- doctor: rows stored before the limits -----------------------------------------------


def test_doctor_lists_rows_beyond_the_limits_by_feature_and_version(store_path: Path) -> None:
    result = cli("--db", str(store_path), "doctor")
    assert result.exit_code == 0 and "within promptdeck's limits" in result.stdout
    with sqlite3.connect(store_path) as connection:  # as an import before the limits did
        connection.execute("UPDATE versions SET number = 2147483648 WHERE number = 3")
        connection.execute("UPDATE versions SET author = ? WHERE number = 2", ("a" * 300,))
        connection.execute("UPDATE versions SET author = ? WHERE number = 1", ("x\x00y",))
    connection.close()
    result = cli("--db", str(store_path), "doctor")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("translator v2147483648: number:") for line in lines), lines
    assert any(line.startswith("translator v2: author:") and "100" in line for line in lines)
    assert any(line.startswith("translator v1: author:") and "NUL" in line for line in lines)
    assert "beyond promptdeck's limits" in result.stderr
    assert len(result.stderr.splitlines()) == 1
