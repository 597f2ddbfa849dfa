"""save(seen_latest=N): only versions saved after the edit began are a conflict."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptdeck.errors import ConflictError
from promptdeck.store import PromptStore


def test_seen_latest_allows_a_save_from_an_older_base(tmp_path: Path) -> None:
    with PromptStore(tmp_path / "s.db", user="alice") as store:
        store.create_feature("bot", "v1 text", model="m", reason="first")
        store.save("bot", "v2 text", reason="second")
        # The editor opened v1 while v2 existed: saving is not a conflict.
        saved = store.save("bot", "v1 edited", reason="mine", base=1, seen_latest=2)
        assert (saved.number, saved.parent) == (3, 1)
        # A version saved after the edit began still is.
        with pytest.raises(ConflictError) as caught:
            store.save("bot", "v1 again", reason="mine", base=1, seen_latest=2)
        assert caught.value.latest == 3
        # Without seen_latest, any newer version conflicts, as before.
        with pytest.raises(ConflictError):
            store.save("bot", "v2 edited", reason="mine", base=2)
