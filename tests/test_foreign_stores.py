"""Someone else's database is refused untouched; promptdeck's own bookkeeping is its own."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from click.testing import CliRunner

from promptdeck.cli import main
from promptdeck.errors import StoreError
from promptdeck.store import SCHEMA_HEAD, PromptStore
from promptdeck.store.schema import KNOWN_REVISIONS


def _foreign(path: Path, *, revision: str | None, tables: bool = True) -> bytes:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        if revision is not None:
            connection.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        if tables:
            connection.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
            connection.execute("INSERT INTO accounts (owner) VALUES ('them')")
    connection.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    ("revision", "tables", "fragment"),
    [
        ("0001", True, "another application's tables (accounts, alembic_version)"),
        ("abc123", True, "at its Alembic revision abc123"),
        (None, False, "an empty alembic_version table"),
    ],
)
def test_another_applications_database_is_refused_untouched(
    tmp_path: Path, revision: str | None, tables: bool, fragment: str
) -> None:
    path = tmp_path / "theirs.db"
    content = _foreign(path, revision=revision, tables=tables)
    files = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(StoreError, match="is not a promptdeck store") as caught:
        PromptStore(path, user="alice")
    assert fragment in str(caught.value)
    assert "newer" not in str(caught.value)
    result = CliRunner().invoke(main, ["--db", str(path), "init"])
    assert result.exit_code == 1 and "store ready" not in result.stdout
    assert len(result.stderr.splitlines()) == 1
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == files


@pytest.mark.parametrize("revision", ["0002", SCHEMA_HEAD])
def test_a_store_from_before_the_marker_is_moved_to_promptdeck_schema(
    tmp_path: Path, revision: str
) -> None:
    path = tmp_path / "old.db"
    with PromptStore(path, user="alice") as store:
        store.create_feature("f", "text", model="m", reason="r")
        if revision != SCHEMA_HEAD:
            config = Config()
            config.set_main_option("script_location", "promptdeck.store:migrations")
            with store.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, revision)
    with sqlite3.connect(path) as connection:  # as promptdeck kept it before
        connection.execute("ALTER TABLE promptdeck_schema RENAME TO alembic_version")
    connection.close()
    with PromptStore(path, user="alice", create=False) as store:
        assert store.schema_revision() == SCHEMA_HEAD
        assert [v.number for v in store.versions("f")] == [1]
        tables = set(sa.inspect(store.engine).get_table_names())
    assert "alembic_version" not in tables and "promptdeck_schema" in tables


def test_a_newer_schema_tells_the_runtime_to_upgrade_promptdeck(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    PromptStore(path, user="alice").close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE promptdeck_schema SET version_num = '0099'")
    connection.close()
    with pytest.raises(StoreError, match="upgrade promptdeck") as caught:
        PromptStore(path, user="alice", migrate=False)
    assert "init" not in str(caught.value)


def test_known_revisions_are_the_migrations() -> None:
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "promptdeck.store:migrations")
    script = ScriptDirectory.from_config(config)
    assert sorted(r.revision for r in script.walk_revisions()) == list(KNOWN_REVISIONS)


@pytest.mark.postgres
def test_eight_processes_initialize_one_empty_postgresql_store_at_once(pg_url: str) -> None:
    code = (
        "import sys\n"
        "from promptdeck.store import PromptStore\n"
        "sys.stdin.read(1)\n"  # all wait on one signal, so creation really overlaps
        "PromptStore(sys.argv[1], initialize=True).close()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, pg_url],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(8)
    ]
    import time

    time.sleep(3)  # let every interpreter import promptdeck and wait
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"x")
        process.stdin.flush()
    errors = [process.communicate(timeout=120)[1].decode() for process in processes]
    assert [p.returncode for p in processes] == [0] * 8, errors
    with PromptStore(pg_url, user="alice") as store:
        assert store.schema_revision() == SCHEMA_HEAD
