"""The cyclic garbage collector paused around work that makes many acyclic objects.

A full runtime read or a sync run allocates tens of thousands of short-lived objects that
reference counting frees; the collections they trigger walk every long-lived object of
the process each time, for nothing (a third of ``Prompts()`` at 10,000 features, a fifth
of a 2,000-feature push). Pure: the standard library only.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """The collector paused for the block (or, as a decorator, the call), then enabled
    again; left alone when ``pause`` is false or the application disabled it."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
