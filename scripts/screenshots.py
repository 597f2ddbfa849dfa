"""Write SVG screenshots of the terminal app into screenshots/ (deterministic).

    .venv/bin/python scripts/screenshots.py

A store is built from sample_prompts/ at a fixed time in a temporary directory, and
the app's clock is fixed, so the pictures only change when the app does.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from promptdeck import store as store_module
from promptdeck import yamlio
from promptdeck.store import PromptStore
from promptdeck.tui.app import PromptDeckApp

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"
SIZE = (120, 36)
WRITE_TIME = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 13, 12, 0, tzinfo=UTC)

# customer-support opens on its active v5; "right", "home" goes to v6 (the canary).
SHOTS: dict[str, tuple[str, ...]] = {
    "main": ("down",),
    "diff-side-by-side": ("down", "right", "home", "d", "n"),
    "diff-unified": ("down", "right", "home", "d", "u", "n"),
    "editor": ("down", "right", "home", "e"),
    "reason-dialog": (
        "down",
        "right",
        "home",
        "e",
        "ctrl+end",
        "enter",
        *"Answer in the customer's language.",
        "ctrl+s",
    ),
    "activation-dialog": ("down", "right", "home", "a"),
    "history": ("down", "h"),
    "help": ("question_mark",),
    "review-queue": ("v",),
}


async def settle(app: PromptDeckApp, pilot: object) -> None:
    for _ in range(3):
        await asyncio.sleep(0.08)
        await app.workers.wait_for_complete()
        await pilot.pause()  # type: ignore[attr-defined]


async def shoot(db: Path, name: str, keys: tuple[str, ...]) -> Path:
    with PromptStore(db, user="alice", create=False) as store:
        app = PromptDeckApp(store)
        app.now = lambda: NOW
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            for key in keys:
                await pilot.press("space" if key == " " else key)
                await settle(app, pilot)
            return Path(app.save_screenshot(filename=f"{name}.svg", path=str(OUT)))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    store_module.utcnow = lambda: WRITE_TIME  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        with PromptStore(db, user="alice") as store:
            store.import_documents(yamlio.read_files([ROOT / "sample_prompts"]))
            # One version waiting for a reviewer: the queue's picture has a row.
            store.governance.request_review(
                "sql-assistant", 5, "Dates in the analysts' time zone; check the join rules"
            )
        for name, keys in SHOTS.items():
            print(asyncio.run(shoot(db, name, keys)).relative_to(ROOT))


if __name__ == "__main__":
    main()
