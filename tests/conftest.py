"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import (  # noqa: F401
    pg16_server,
    pg_bouncer,
    pg_server,
    pg_store_url,
    pg_url,
    pg_url_factory,
    pgbouncer_url,
)

from promptdeck import yamlio
from promptdeck.store import PromptStore

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"


@pytest.fixture(autouse=True)
def _isolated_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's own config, store or remote."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PROMPTDECK_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    for name in ("PROMPTDECK_DB", "PROMPTDECK_REMOTE", "PROMPTDECK_USER"):
        monkeypatch.delenv(name, raising=False)
    # The suite acts as alice, bob, ... on SQLite stores with roles while running as
    # one OS login; tests of the identity rules themselves delete this variable.
    monkeypatch.setenv("PROMPTDECK_TRUST_DECLARED_USER", "1")


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A SQLite store file holding the sample prompts."""
    path = tmp_path / "store.db"
    with PromptStore(path, user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
    return path


@pytest.fixture
def store(store_path: Path) -> Iterator[PromptStore]:
    with PromptStore(store_path, user="alice", create=False) as opened:
        yield opened


@pytest.fixture
def empty_store(tmp_path: Path) -> Iterator[PromptStore]:
    with PromptStore(tmp_path / "empty.db", user="alice") as opened:
        yield opened
