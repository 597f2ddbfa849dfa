"""The store's clock.

Every time the store writes (version and event times, deployment updates, sync
bookkeeping) comes from ``promptdeck.store.utcnow``, looked up at each write, so a test
or a screenshot script fixes the time by replacing that one name.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The write time: ``promptdeck.store.utcnow()``, whatever it is replaced with."""
    package = sys.modules[__name__.rpartition(".")[0]]
    clock: datetime = package.utcnow()
    return clock
