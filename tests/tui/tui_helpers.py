"""Helpers shared by the terminal app tests."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

from textual.pilot import Pilot
from textual.widgets import DataTable

if TYPE_CHECKING:
    from promptdeck.tui.app import PromptDeckApp
    from promptdeck.tui.screens.main import MainScreen

P = ParamSpec("P")
SAMPLES = Path(__file__).resolve().parents[2] / "sample_prompts"
# Everything the store writes during a test happens "at" this time ...
WRITE_TIME = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
# ... and the app looks at it three days later: ages are stable in pictures.
NOW = datetime(2026, 3, 13, 12, 0, tzinfo=UTC)


async def settle(pilot: Pilot[None], rounds: int = 3) -> None:
    """Let debounce timers fire and workers finish, then let messages be handled."""
    for _ in range(rounds):
        await pilot.pause(0.08)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def run_async(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test with asyncio (the suite has no async plugin)."""

    @functools.wraps(test)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


def snapshot_steps(*keys: str) -> Callable[[Pilot[Any]], Coroutine[Any, Any, None]]:
    """A snapshot's ``run_before``: settle, press each key (settling after each), settle."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, rounds=1)
        await settle(pilot)

    return run_before


def notifications(app: PromptDeckApp) -> list[str]:
    return [n.message for n in app._notifications]


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*("space" if char == " " else char for char in text))


async def open_feature(pilot: Pilot[None], name: str) -> MainScreen:
    """Filter the feature list down to ``name`` and select it."""
    from promptdeck.tui.screens.main import MainScreen

    await settle(pilot)
    await pilot.press("slash", *name, "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    assert screen.feature == name
    return screen


async def select_version(pilot: Pilot[None], screen: MainScreen, number: int) -> None:
    """Move the versions cursor to ``number`` (the table lists the newest first)."""
    table = screen.query_one("#versions", DataTable)
    table.move_cursor(row=[v.number for v in screen.versions].index(number))
    await settle(pilot)
    assert screen.selected_number == number
