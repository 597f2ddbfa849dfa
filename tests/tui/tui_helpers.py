"""Helpers shared by the terminal app tests."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec

from textual.pilot import Pilot

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
