"""The runtime client: what applications call instead of hard-coding prompts.

::

    from promptdeck import Prompts

    prompts = Prompts("postgresql+psycopg://app@db/prompts")   # or a SQLite path, or None
    p = prompts.get("customer-support", user_id=user.id)
    request = {"model": p.model, **p.parameters_dict(),
               "system": p.render(customer_name=user.name)}

How it serves
-------------
- The constructor loads every deployment of the environment **synchronously, once**
  (bounded by a 5-second connect timeout on PostgreSQL), in one lean statement
  (:mod:`promptdeck.store.serving`: plain rows, no ORM records), and builds the prompts
  straight from them; the snapshot file is written afterwards, on its own thread.
  ``get()`` never touches the
  store: it is a dictionary lookup on an immutable snapshot, safe from any thread and
  from asyncio code (it does no I/O and takes no lock).
- A daemon thread refreshes about every ``refresh_interval`` seconds (each wait drawn
  within ±20 %, so processes started together do not poll together): one one-row read
  of the store revision; only when it moved, the deployments changed since, in that
  same statement. It builds a new immutable mapping and swaps it in with one
  attribute assignment.
- On PostgreSQL it also LISTENs for the store's NOTIFY on that same connection, so a
  change is usually served within milliseconds (each process waits a random few
  milliseconds first, so one write does not wake a fleet in the same instant).
  ``status().listening`` says whether it is listening.
- With ``user_id``, a feature that has a canary serves the canary version to a stable
  share of users (see :mod:`promptdeck.canary`); without it, the active version.

A fleet of processes
--------------------
Each process holds at most one database connection. Behind PgBouncer in transaction
pooling mode, pass ``pooled=True`` (or put ``pgbouncer=true`` in the URL's query): the
runtime then polls without LISTEN (which a transaction pooler cannot carry), sends no
prepared statements and keeps no session state. Reads run in autocommit: the revision
is read before the deployments, and versions are immutable, so nothing is missed.

Never down, never wrong
-----------------------
- When the store becomes unreachable, the last known versions keep being served and
  one warning is logged on the ``promptdeck.runtime`` logger (one more, at INFO,
  when it is back). Passwords never appear in logs or files.
- A feature whose version cannot be loaded (say, parameters nested too deep) keeps
  serving what it served before (or nothing, if it never loaded) while every other
  feature keeps refreshing; ``status().problems`` names it and the error, and the
  problem is logged once, not at every refresh.
- After each refresh that changed something, the served versions are written to a
  snapshot file (see :mod:`promptdeck.runtime_snapshot`), off the refresh path and
  atomically, with a SHA-256 checksum and the store and environment it was written
  for. A process that starts while the store is down serves from it (with a warning);
  a corrupt file, or one written for another store or environment, is ignored with a
  warning, never served.
- A SQLite store in a read-only directory is read without its write-ahead files.
- ``default=`` is the last resort: used only when nothing is known for the feature.
  Without it, ``get()`` raises :class:`~promptdeck.errors.NotFoundError` saying why.

Recording outcomes
------------------
``record(prompt, ...)`` and ``with timed(prompt, user_id=...) as call:`` report what
happened with an answer, never raising nor blocking: see :mod:`promptdeck.runtime_metrics`.

This module never imports Textual: an application that only calls ``get()`` stays light.
A little over 600 lines, a good part of them the docstrings users read: one client class.
Recording is in :mod:`promptdeck.runtime_metrics`, the refresh loop in
:mod:`promptdeck.runtime_refresh`, the snapshot file in
:mod:`promptdeck.runtime_snapshot`, connecting in :mod:`promptdeck.runtime_connect`, the
read in :mod:`promptdeck.store.serving` and the prompts built from it in
:mod:`promptdeck.runtime_types`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import platformdirs

from promptdeck.canary import in_canary
from promptdeck.config import APP_NAME, redact, resolve_db, scrub, to_url
from promptdeck.errors import NotFoundError, StoreError
from promptdeck.gc_pause import collector_paused
from promptdeck.metrics.recorder import DEFAULT_INTERVAL, Call, Recorder, RecorderStatus
from promptdeck.pricing import PriceTable
from promptdeck.records import DEFAULT_ENVIRONMENT, MAX_ENVIRONMENT, check_name
from promptdeck.runtime_connect import can_listen, connect_url, engine_options
from promptdeck.runtime_metrics import OutcomeRecording
from promptdeck.runtime_snapshot import CorruptSnapshot, SnapshotWriter, read_snapshot
from promptdeck.runtime_types import Prompt, RowDecoder, Served, Source, State
from promptdeck.store import NOTIFY_CHANNEL, PromptStore, sqlite_path
from promptdeck.store.serving import serving_rows

__all__ = ["Call", "Prompt", "Prompts", "RuntimeStatus", "default_snapshot_path"]

logger = logging.getLogger("promptdeck.runtime")

_RUNTIME_USER = "promptdeck-runtime"  # the store wants a user; the runtime only reads
_LISTENING = "promptdeck_listening"  # marks a pooled connection that has run LISTEN


@dataclass(frozen=True, slots=True)
class RuntimeStatus:
    """For health checks and dashboards: where the served prompts come from.

    ``healthy`` is what a health check wants: the store was reached and every
    feature deployed there could be loaded.
    """

    store: str  # the store URL, password hidden
    environment: str
    source: Source  # "store", "snapshot" (store never reached yet) or "empty"
    reachable: bool  # the last refresh reached the store
    revision: int  # the store revision the served prompts reflect
    features: int
    loaded_at: datetime | None  # when the served content was read from the store
    last_error: str | None  # the last refresh error, password hidden
    snapshot_path: Path | None
    problems: Mapping[str, str] = field(default_factory=dict)  # feature -> why not loaded
    listening: bool = False  # a LISTEN for the store's changes is in place (PostgreSQL)
    metrics: RecorderStatus | None = None  # the outcome recorder, once something was recorded
    # Reads of the store attempted so far (the constructor's included), reached or not:
    # a dashboard sees the refresh thread alive; a test waits for the next one.
    refreshes: int = 0

    @property
    def healthy(self) -> bool:
        return self.reachable and not self.problems


def default_snapshot_path(
    url_or_path: str | os.PathLike[str], environment: str = DEFAULT_ENVIRONMENT
) -> Path:
    """Where ``Prompts`` keeps its snapshot for this store and environment by default.

    Under the user cache directory, named by a hash of the store URL with its password
    hidden and of the environment: each store and environment has its own file.
    """
    url = redact(to_url(url_or_path))
    key = hashlib.sha256(f"{url}\n{environment}".encode()).hexdigest()[:20]
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "runtime" / f"{key}.json"


_instances: weakref.WeakSet[Prompts] = weakref.WeakSet()


class Prompts(OutcomeRecording):
    """A cached, self-refreshing view of the prompts one environment serves.

    ``url_or_path``: a SQLAlchemy URL or a SQLite path; None means the configured store
    (``PROMPTDECK_DB``, then the config file, then the default path), as the CLI does.

    ``refresh_interval``: seconds between background refreshes (on average: each wait is
    drawn within ±20 %); None for no background thread (call :meth:`refresh` yourself).

    ``snapshot_path``: where to keep the snapshot file; None for
    :func:`default_snapshot_path`; False for none at all (no file read or written).

    ``pooled``: the URL points at a transaction pooler such as PgBouncer: poll without
    LISTEN and without prepared statements. None: true when the URL's query says
    ``pgbouncer=true``.

    ``metrics_interval``: seconds between flushes of recorded outcomes to the store
    (None: only on :meth:`flush_metrics` and :meth:`close`). ``prices``: the price table
    that costs outcomes reported without a cost; None reads the config file's
    ``[prices]`` over the defaults.

    The constructor reads the store once, synchronously; if the store cannot be reached
    it loads the snapshot file instead, and if there is none it starts empty (``get()``
    then serves ``default=`` or raises) and keeps trying in the background. It raises
    only for a malformed URL or bad arguments.

    Create one per process at start-up and share it: ``get()`` is thread-safe and
    lock-free. The constructor blocks (one read of the store, milliseconds; up to the
    connect timeout when PostgreSQL is down), so in asyncio code create it before the
    loop starts or with ``await asyncio.to_thread(Prompts, url)``; ``get()`` itself never
    blocks. Use it as a context manager, or call :meth:`close`, to stop the refresh
    thread (and finish writing the snapshot). Safe across ``os.fork()`` (e.g. gunicorn
    ``--preload``): the child drops the parent's connections and starts its own thread.
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | None = None,
        *,
        environment: str = DEFAULT_ENVIRONMENT,
        refresh_interval: float | None = 1.0,
        snapshot_path: str | os.PathLike[str] | Literal[False] | None = None,
        pooled: bool | None = None,
        metrics_interval: float | None = DEFAULT_INTERVAL,
        prices: PriceTable | None = None,
    ) -> None:
        if refresh_interval is not None and not refresh_interval > 0:
            raise ValueError(f"refresh_interval must be positive or None, not {refresh_interval}")
        if metrics_interval is not None and not metrics_interval > 0:
            raise ValueError(f"metrics_interval must be positive or None, not {metrics_interval}")
        self.metrics_interval = metrics_interval
        self._prices = prices
        self._recorder: Recorder | None = None  # created on the first record()
        self._recorder_lock = threading.Lock()
        check_name(environment, "environment", MAX_ENVIRONMENT)
        self._url = to_url(url_or_path) if url_or_path is not None else resolve_db(None)
        self._connect, pooled_in_url = connect_url(self._url)
        self.pooled = pooled_in_url if pooled is None else pooled
        self.display_url = redact(self._url)
        self.environment = environment
        self.refresh_interval = refresh_interval
        if snapshot_path is False:
            self.snapshot_path: Path | None = None
        elif snapshot_path is None:
            self.snapshot_path = default_snapshot_path(self._url, environment)
        else:
            self.snapshot_path = Path(snapshot_path).expanduser()
        self._sqlite = sqlite_path(self._url)
        self._listen = can_listen(self._connect, self.pooled)
        self._state = State(0, {}, "empty", None)
        self._store: PromptStore | None = None
        self._file_id: tuple[int, int] | None = None
        self._full_reload = True
        self._reachable: bool | None = None  # None: not tried yet
        self._last_error: str | None = None
        self._problems: dict[str, str] = {}  # feature -> why it could not be loaded
        self._reported: set[tuple[str, str]] = set()  # problems already logged
        self._listening = False
        self._refreshes = 0
        self._snapshot_write_failed = False
        self._writer = (
            SnapshotWriter(self.snapshot_path, self._snapshot_written)
            if self.snapshot_path is not None
            else None
        )
        self._closed = False
        self._lock = threading.Lock()  # serialises use of the store, never taken by get()
        # Set while a metrics write waits for the lock: the refresh thread's NOTIFY wait
        # (which holds the lock) then stands aside instead of taking it straight back.
        self._write_waiting = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self._refresh(initial=True)
        if not self._reachable:
            self._load_snapshot_file()
        _instances.add(self)
        self._start_thread()

    # -- serving ---------------------------------------------------------------------------

    def get(
        self,
        feature: str,
        user_id: object = None,
        default: str | Prompt | None = None,
    ) -> Prompt:
        """The prompt ``feature`` serves to ``user_id``; no I/O, a few microseconds.

        Without ``user_id``: the active version. With it: the canary version when the
        feature has a canary and the user falls in its share, else the active version.

        ``default`` (a system prompt string, or a :class:`Prompt` with model and
        parameters) is served only when nothing at all is known for the feature: not in
        the store, or the store never reached and no snapshot. A string becomes a Prompt
        with version 0, an empty model and no parameters. Without a default, that case
        raises :class:`~promptdeck.errors.NotFoundError` saying why.
        """
        served = self._state.entries.get(feature)
        if served is not None:
            if (
                user_id is not None
                and served.canary is not None
                and in_canary(feature, user_id, served.percent)
            ):
                return served.canary
            if served.active is not None:
                return served.active
        if default is not None:
            if isinstance(default, Prompt):
                return default
            if isinstance(default, str):
                return Prompt(feature, 0, "", {}, default)
            raise TypeError(f"default must be a str or a Prompt, not {type(default).__name__}")
        raise NotFoundError(self._why_unknown(feature, served))

    def _why_unknown(self, feature: str, served: Served | None) -> str:
        state = self._state
        problem = self._problems.get(feature)
        if problem is not None:
            return (
                f"no prompt for {feature!r}: its deployment in the store {self.display_url} "
                f"cannot be loaded ({problem}), and no default was given"
            )
        if served is not None:
            return (
                f"prompt {feature!r} has no active version in {self.environment!r} "
                f"(store {self.display_url}, revision {state.revision}) and no default was given"
            )
        if state.source == "empty":
            reason = (
                f"the store {self.display_url} has not been reachable "
                f"({self._last_error or 'not tried'}) and no snapshot was available"
            )
        else:
            where = "the store" if state.source == "store" else "the snapshot of the store"
            reason = (
                f"{where} {self.display_url} has no feature {feature!r} deployed in "
                f"{self.environment!r} (revision {state.revision})"
            )
        return f"no prompt for {feature!r}: {reason}, and no default was given"

    def features(self) -> tuple[str, ...]:
        """The features currently known (served or deployed without an active version)."""
        return tuple(sorted(self._state.entries))

    def status(self) -> RuntimeStatus:
        state = self._state
        return RuntimeStatus(
            store=self.display_url,
            environment=self.environment,
            source=state.source,
            reachable=bool(self._reachable),
            revision=state.revision,
            features=len(state.entries),
            loaded_at=state.at,
            last_error=self._last_error,
            snapshot_path=self.snapshot_path,
            problems=dict(self._problems),  # a copy: asdict() and pickle work on it
            listening=self._listening,
            metrics=self._recorder.status() if self._recorder is not None else None,
            refreshes=self._refreshes,
        )

    # -- refreshing ------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Refresh now, in this thread (blocking: not for an event loop).

        Returns whether the served prompts changed. A failure is logged as the
        background refresh logs it (once per outage) and reported as False.
        """
        return self._refresh()

    def _refresh(self, *, initial: bool = False) -> bool:
        with self._lock:
            if self._closed:
                return False
            try:
                return self._refresh_locked(initial)
            finally:
                self._refreshes += 1  # last: who waits for it sees everything it did

    def _refresh_locked(self, initial: bool) -> bool:
        try:
            with collector_paused(self._full_reload):
                revision, rows, full = self._read_store()
                changed = self._apply(revision, rows, full)
        except Exception as exc:  # never let an outage or bad data escape: keep serving
            self._went_down(exc, initial=initial)
            return False
        came_back = self._reachable is False
        self._reachable = True
        self._last_error = None
        if came_back:
            logger.info(
                "promptdeck store %s is reachable again (revision %d)",
                self.display_url,
                revision,
            )
        return changed

    def _open_store(self) -> PromptStore:
        # A SQLite file in a directory we cannot write is opened read-only by the store
        # itself (store/engine.py's read_only_url): one read-only path for every client.
        return PromptStore(
            self._connect,
            user=_RUNTIME_USER,
            create=False,
            migrate=False,
            engine_options=engine_options(self._connect, self.pooled),
        )

    def _read_store(self) -> tuple[int, list[Sequence[Any]], bool]:
        if self._sqlite is not None:
            self._check_sqlite_path(self._sqlite)
        if self._store is None:
            self._store = self._open_store()
            self._full_reload = True
        full = self._full_reload
        since = 0 if full else self._state.revision
        if full:
            self._problems.clear()  # what is still wrong is reported again while reading
        store = self._store
        revision, rows = serving_rows(store.engine, store.url, self.environment, since)
        if revision < since:
            # The store went back in time (restored from a backup): start over.
            full = True
            self._problems.clear()
            revision, rows = serving_rows(store.engine, store.url, self.environment, 0)
        return revision, rows, full

    def _check_sqlite_path(self, path: Path) -> None:
        """A moved, deleted or replaced SQLite file is noticed, not read through an old
        open handle: gone means unreachable; replaced means reconnect and reload all."""
        try:
            stat = path.stat()
        except OSError as exc:
            raise StoreError(f"no store at {path}: {exc.strerror or exc}") from None
        file_id = (stat.st_dev, stat.st_ino)
        if self._file_id is not None and file_id != self._file_id and self._store is not None:
            self._store.close()
            self._store = None
        self._file_id = file_id

    def _bad_entry(self, feature: str, error: BaseException) -> None:
        """One feature cannot be loaded: remember and log it once; the others go on."""
        message = scrub(f"{type(error).__name__}: {_first_line(error)}", self._connect)
        self._problems[feature] = message
        if (feature, message) not in self._reported:
            self._reported.add((feature, message))
            logger.error(
                "promptdeck cannot load feature %r from %s (%s); it keeps serving %s, "
                "and the other features keep refreshing",
                feature,
                self.display_url,
                message,
                "its previous version" if feature in self._state.entries else "nothing",
            )

    def _apply(self, revision: int, rows: list[Sequence[Any]], full: bool) -> bool:
        """Swap in what ``rows`` (from promptdeck.store.serving) say is served now."""
        current = self._state
        if not full and not rows:
            if revision != current.revision:
                self._state = State(revision, current.entries, current.source, current.at)
            return False
        new: dict[str, Served] = {} if full else dict(current.entries)
        decoder = RowDecoder()
        problems = self._problems
        for row in rows:
            feature = row[1]
            try:
                new[feature] = decoder.served(row)
            except (RecursionError, ValueError, TypeError) as exc:
                self._bad_entry(feature, exc)
                if full and feature in current.entries:
                    new[feature] = current.entries[feature]  # keep serving it
            else:
                if problems:
                    problems.pop(feature, None)
        changed = current.source != "store" or new != current.entries
        self._state = State(revision, new, "store", datetime.now(UTC))  # the atomic swap
        self._full_reload = False
        if changed and self._writer is not None:
            self._writer.submit(self._state, self.display_url, self.environment)
        return changed

    def _went_down(self, exc: BaseException, *, initial: bool) -> None:
        message = scrub(_first_line(exc), self._connect)
        self._last_error = message or type(exc).__name__
        self._listening = False
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None
        self._full_reload = True  # whatever happened meanwhile, read everything again
        if self._reachable is False:
            return  # already warned for this outage
        self._reachable = False
        if initial:
            return  # the constructor warns once it knows what it can serve instead
        state = self._state
        logger.warning(
            "promptdeck store %s is unreachable (%s); serving the last known prompts "
            "(%d features, revision %d, loaded %s) until it is back",
            self.display_url,
            self._last_error,
            len(state.entries),
            state.revision,
            state.at.isoformat(timespec="seconds") if state.at else "never",
        )

    def _wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the store's NOTIFY on the store's own connection.

        True when one arrived. Without LISTEN (SQLite, a pooler, the store down) this is
        a plain wait. Holds the lock: the connection is the store's only one.
        """
        if not self._listen or self._store is None:
            self._stop.wait(timeout)
            return False
        if self._write_waiting.is_set():  # a flush waits for the connection: let it in
            self._stop.wait(min(timeout, 0.01))
            return False
        with self._lock:
            store = self._store
            if store is None or self._closed:
                return False
            try:
                with store.engine.connect() as connection:
                    pooled = connection.connection
                    if not pooled.info.get(_LISTENING):
                        connection.exec_driver_sql(f"LISTEN {NOTIFY_CHANNEL}")
                        pooled.info[_LISTENING] = True
                    self._listening = True
                    driver: Any = pooled.driver_connection
                    return any(True for _ in driver.notifies(timeout=timeout, stop_after=1))
            except Exception:  # the next refresh finds out what is wrong and reports it
                self._listening = False
        self._stop.wait(timeout)
        return True  # refresh now: it reconnects or reports the outage

    def _load_snapshot_file(self) -> None:
        """At start with the store down: serve the snapshot, with one warning."""
        path = self.snapshot_path
        problem = self._last_error
        if path is None:
            logger.warning(
                "promptdeck store %s is unreachable (%s) and no snapshot is configured; "
                "serving only defaults until it is back",
                self.display_url,
                problem,
            )
            return
        try:
            state = read_snapshot(path, self.display_url, self.environment)
        except FileNotFoundError:
            logger.warning(
                "promptdeck store %s is unreachable (%s) and there is no snapshot at %s; "
                "serving only defaults until it is back",
                self.display_url,
                problem,
                path,
            )
            return
        except (OSError, CorruptSnapshot) as exc:
            logger.warning("promptdeck snapshot %s is unusable and was ignored: %s", path, exc)
            logger.warning(
                "promptdeck store %s is unreachable (%s); serving only defaults until it is back",
                self.display_url,
                problem,
            )
            return
        self._state = state
        logger.warning(
            "promptdeck store %s is unreachable (%s); serving %d features from the snapshot "
            "%s (revision %d, loaded %s) until it is back",
            self.display_url,
            problem,
            len(state.entries),
            path,
            state.revision,
            state.at.isoformat(timespec="seconds") if state.at else "unknown",
        )

    def _snapshot_written(self, error: OSError | None) -> None:
        """Called by the snapshot writer's thread after each write."""
        if error is not None:
            if not self._snapshot_write_failed:
                logger.warning(
                    "promptdeck cannot write its snapshot %s (%s); prompts are still served, "
                    "but a restart during a store outage will not find them",
                    self.snapshot_path,
                    error,
                )
            self._snapshot_write_failed = True
            return
        if self._snapshot_write_failed:
            logger.info("promptdeck snapshot %s written again", self.snapshot_path)
        self._snapshot_write_failed = False

    def flush_snapshot(self, timeout: float = 30.0) -> None:
        """Wait until the snapshot file holds what is served now (close() does this too)."""
        if self._writer is not None:
            self._writer.flush(timeout)

    # -- the refresh thread ----------------------------------------------------------------

    def _start_thread(self) -> None:
        if self.refresh_interval is None or self._closed:
            return
        from promptdeck.runtime_refresh import refresh_loop

        self._stop = threading.Event()
        weakref.finalize(self, self._stop.set)
        self._thread = threading.Thread(
            target=refresh_loop,
            args=(weakref.ref(self), self._stop, self.refresh_interval),
            name="promptdeck-refresh",
            daemon=True,
        )
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        # Locks another thread of the parent held at the fork stay held in the child.
        self._lock = threading.Lock()
        self._recorder_lock = threading.Lock()
        self._write_waiting = threading.Event()
        if self._store is not None:
            # The parent's connections must not be used by the child: drop them unclosed.
            self._store.engine.dispose(close=False)
        if self._writer is not None:
            self._writer.after_fork()
        self._listening = False
        self._thread = None
        self._start_thread()

    def close(self) -> None:
        """Flush the recorded outcomes, stop refreshing, finish the snapshot and release
        the store; get() keeps serving."""
        recorder = self._recorder
        if recorder is not None:
            recorder.close()
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        with self._lock:
            self._closed = True
            self._listening = False
            if self._store is not None:
                self._store.close()
                self._store = None
        self.flush_snapshot()

    def __enter__(self) -> Prompts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Prompts({self.display_url!r}, environment={self.environment!r})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _reinit_after_fork() -> None:
    for prompts in list(_instances):
        prompts._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
