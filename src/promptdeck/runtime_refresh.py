"""The runtime's refresh thread: poll with jitter, wake early on a NOTIFY.

Kept apart from runtime.py, which it drives only through ``Prompts._wait_for_change``
and ``Prompts._refresh``. It holds the client by a weak reference between slices of
waiting, so that a client nobody uses any more is collected and its thread ends.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptdeck.runtime import Prompts

__all__ = ["JITTER", "NOTIFY_SPREAD", "refresh_loop"]

logger = logging.getLogger("promptdeck.runtime")

JITTER = 0.2  # each poll interval is drawn within ±20 % of refresh_interval
NOTIFY_SPREAD = 0.02  # a NOTIFY wakes each process after a random 0-20 ms (capped below)
_SLICE = 0.25  # longest wait without looking at the stop event and the weak reference


def _next_wait(rng: random.Random, interval: float) -> float:
    return interval * rng.uniform(1 - JITTER, 1 + JITTER)


def refresh_loop(ref: weakref.ref[Prompts], stop: threading.Event, interval: float) -> None:
    """Refresh about every ``interval`` s, and soon after a NOTIFY, until stopped or collected.

    A fleet started at once, or woken by one write, spreads its reads: poll times are
    drawn with jitter, and a notification is followed by a short random delay.
    """
    rng = random.Random()
    spread = min(NOTIFY_SPREAD, interval / 10)
    deadline = time.monotonic() + _next_wait(rng, interval)
    reported: set[str] = set()
    while not stop.is_set():
        notified = False
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            prompts = ref()
            if prompts is None:
                return
            notified = prompts._wait_for_change(min(remaining, _SLICE))
            del prompts
            if notified:
                stop.wait(rng.uniform(0, spread))
                break
        if stop.is_set():
            return
        prompts = ref()
        if prompts is None:
            return
        try:
            prompts._refresh()
        except Exception as exc:  # pragma: no cover - _refresh already catches store errors
            key = f"{type(exc).__name__}: {exc}"
            if key not in reported:  # once per distinct problem, not five times a second
                reported.add(key)
                logger.exception("promptdeck refresh failed unexpectedly")
        del prompts
        if not notified:  # a poll tick; a notification keeps the next tick due
            deadline = time.monotonic() + _next_wait(rng, interval)
