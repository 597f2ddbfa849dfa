"""The runtime against odd stores: a row it cannot load, another store's snapshot, a newer
schema, a read-only directory, and passwords in the URL's query (issue 14)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from waits import wait_for_refreshes, wait_until

from promptdeck import yamlio
from promptdeck.errors import NotFoundError
from promptdeck.runtime import Prompts
from promptdeck.store import PromptStore

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"
INTERVAL = 0.05
LOGGER = "promptdeck.runtime"


def records_of(caplog: pytest.LogCaptureFixture, level: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == level]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "stores" / "store.db"
    with PromptStore(path, user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
    return path


@pytest.fixture
def admin(db: Path) -> Iterator[PromptStore]:
    with PromptStore(db, user="alice", create=False) as store:
        yield store


def poison(db: Path, feature: str, depth: int) -> None:
    """Give the feature's active version parameters nested ``depth`` deep, as a store
    written before parameters were bounded may hold, and mark the deployment moved."""
    nested = "[" * depth + "]" * depth
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE store_state SET revision = revision + 1")
        (revision,) = connection.execute("SELECT revision FROM store_state").fetchone()
        connection.execute(
            "UPDATE versions SET parameters = ? WHERE id = (SELECT d.active_version_id "
            "FROM deployments d JOIN features f ON f.id = d.feature_id "
            "WHERE f.name = ? AND d.environment = 'production')",
            (f'{{"w": {nested}}}', feature),
        )
        connection.execute(
            "UPDATE deployments SET revision = ? "
            "WHERE feature_id = (SELECT id FROM features WHERE name = ?)",
            (revision, feature),
        )
    connection.close()


# -- one feature that cannot be loaded -------------------------------------------------------


@pytest.mark.parametrize("depth", [600, 5000])  # fails in the runtime / in the store's decoding
def test_a_feature_that_cannot_be_loaded_never_stops_the_others(
    db: Path, admin: PromptStore, tmp_path: Path, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with Prompts(db, refresh_interval=INTERVAL, snapshot_path=tmp_path / "s.json") as client:
        assert client.get("translator").version == 2
        poison(db, "translator", depth)
        wait_until(lambda: "translator" in client.status().problems)
        admin.activate("customer-support", 4, reason="an unrelated feature moves")
        wait_until(lambda: client.get("customer-support").version == 4)
        assert client.get("translator").version == 2  # what it served before
        wait_for_refreshes(client, 10)  # many refreshes later
        status = client.status()
        assert status.reachable and not status.healthy
        assert "RecursionError" in status.problems["translator"]
        assert list(status.problems) == ["translator"]
        health = json.loads(json.dumps(dataclasses.asdict(status), default=str))
        assert "RecursionError" in health["problems"]["translator"]  # for a health endpoint
        errors = records_of(caplog, "ERROR")
        assert len(errors) == 1, errors  # logged once, not at every refresh
        assert "translator" in errors[0]
        assert len(caplog.text) < 5000  # no tracebacks
        admin.activate("translator", 3, reason="a good version again")
        wait_until(lambda: client.get("translator").version == 3)
        assert client.status().problems == {}
        assert client.status().healthy


@pytest.mark.parametrize("depth", [600, 5000])
def test_a_bad_feature_at_start_is_reported_and_the_rest_served(
    db: Path, tmp_path: Path, depth: int
) -> None:
    poison(db, "translator", depth)
    with Prompts(db, refresh_interval=None, snapshot_path=tmp_path / "s.json") as client:
        assert client.status().source == "store"
        assert client.get("customer-support").version == 5
        assert "translator" in client.status().problems
        with pytest.raises(NotFoundError, match="cannot be loaded"):
            client.get("translator")
        client.flush_snapshot()
    # The snapshot holds the others and nothing broken.
    shutil.move(db.parent, tmp_path / "gone")
    with Prompts(db, refresh_interval=None, snapshot_path=tmp_path / "s.json") as cold:
        assert cold.status().source == "snapshot"
        assert cold.get("customer-support").version == 5


# -- snapshots of another store --------------------------------------------------------------


def test_a_snapshot_written_for_another_store_is_never_served(
    db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = tmp_path / "a.snap"
    with Prompts(db, refresh_interval=None, snapshot_path=snapshot):
        pass
    assert snapshot.exists()
    caplog.set_level(logging.WARNING, logger=LOGGER)
    other = tmp_path / "b" / "B.db"  # missing: the runtime falls back on the snapshot
    with Prompts(other, refresh_interval=None, snapshot_path=snapshot) as client:
        assert client.status().source == "empty"
        with pytest.raises(NotFoundError):
            client.get("translator")
    assert any("another store" in m for m in records_of(caplog, "WARNING"))


# -- a newer schema --------------------------------------------------------------------------


def test_a_newer_schema_asks_to_upgrade_promptdeck(db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE promptdeck_schema SET version_num = '9999_from_the_future'")
    connection.close()
    with Prompts(db, refresh_interval=None, snapshot_path=False) as client:
        error = client.status().last_error or ""
    assert "upgrade promptdeck" in error
    assert "init" not in error


# -- a read-only directory -------------------------------------------------------------------

READER = """
import sys
from promptdeck.runtime import Prompts
with Prompts(sys.argv[1], refresh_interval=None, snapshot_path=False) as p:
    s = p.status()
    print(s.source, s.reachable, p.get("translator").version, s.last_error)
"""


def _without_write_override() -> list[str]:
    """As root, file modes do not stop writes; drop that capability for the child."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only directory cannot be made")
    return [setpriv, "--inh-caps=-dac_override", "--bounding-set=-dac_override", "--"]


def test_a_wal_store_in_a_read_only_directory_is_readable(db: Path) -> None:
    assert not Path(f"{db}-shm").exists()  # closed cleanly: the WAL index must be created
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()
    prefix = _without_write_override()
    directory = db.parent
    directory.chmod(0o555)
    try:
        # The child really cannot write there:
        probe = subprocess.run([*prefix, "touch", str(directory / "x")], capture_output=True)
        assert probe.returncode != 0
        result = subprocess.run(
            [*prefix, sys.executable, "-c", READER, str(db)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "XDG_CACHE_HOME": str(db.parent.parent / "cache")},
        )
    finally:
        directory.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["store", "True", "2"], result.stdout


# -- passwords -------------------------------------------------------------------------------


def test_a_password_in_the_query_never_shows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An unreachable server: the URL lands in the status, the warnings and the path.
    url = "postgresql+psycopg://app@127.0.0.1:9/prompts?password=q-s3cret-pw&connect_timeout=1"
    caplog.set_level(logging.INFO, logger=LOGGER)
    with Prompts(url, refresh_interval=None, snapshot_path=tmp_path / "s.json") as client:
        client.refresh()
        shown = [str(client.status()), repr(client), caplog.text, client.display_url]
    assert "password=***" in client.display_url
    for text in shown:
        assert "q-s3cret-pw" not in text
    assert json.dumps(shown)  # nothing odd in there either
