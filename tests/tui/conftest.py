"""Fixtures for the terminal app tests: a sample store at a fixed time, a fixed clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tui_helpers import NOW, SAMPLES, WRITE_TIME

from promptdeck import store as store_module
from promptdeck import yamlio
from promptdeck.store import PromptStore
from promptdeck.tui.app import PromptDeckApp


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "utcnow", lambda: WRITE_TIME)


@pytest.fixture
def tui_db(tmp_path: Path, fixed_time: None) -> Path:
    path = tmp_path / "s.db"
    with PromptStore(path, user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
    return path


AppFactory = Callable[..., PromptDeckApp]


@pytest.fixture
def make_app(tui_db: Path) -> Iterator[AppFactory]:
    stores: list[PromptStore] = []

    def factory(user: str = "alice", environment: str = "production") -> PromptDeckApp:
        store = PromptStore(tui_db, user=user, create=False)
        stores.append(store)
        app = PromptDeckApp(store, environment=environment)
        app.now = lambda: NOW
        return app

    yield factory
    for store in stores:
        store.close()
