"""Waiting for the runtime's background thread in tests: on conditions, never on sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from promptdeck.runtime import Prompts


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> float:
    """Seconds until ``predicate()`` held; fails the test after ``timeout`` (generous:
    only a failing test waits that long, and a loaded machine must not fail one)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.002)
    return time.monotonic() - start


def wait_for_refreshes(client: Prompts, count: int) -> None:
    """Until the client's background thread has read the store ``count`` more times."""
    target = client.status().refreshes + count
    wait_until(lambda: client.status().refreshes >= target)
