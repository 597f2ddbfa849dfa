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
  (bounded by a 5-second connect timeout on PostgreSQL). ``get()`` never touches the
  store: it is a dictionary lookup on an immutable snapshot, safe from any thread and
  from asyncio code (it does no I/O and takes no lock).
- A daemon thread refreshes every ``refresh_interval`` seconds: it asks the store for
  the deployments changed since the revision it last saw (``PromptStore.serving``; a
  single-row read when nothing changed), builds a new immutable mapping and swaps it
  in with one attribute assignment. An activation, rollback or canary change is thus
  visible within ``refresh_interval`` (plus the few milliseconds the read takes).
- With ``user_id``, a feature that has a canary serves the canary version to a stable
  share of users (see :mod:`promptdeck.canary`); without it, the active version.

Never down
----------
- When the store becomes unreachable, the last known versions keep being served and
  one warning is logged on the ``promptdeck.runtime`` logger (one more, at INFO,
  when it is back). Passwords never appear in logs or files.
- After each refresh that changed something, the served versions are written to a
  snapshot file atomically (temporary file, fsync, rename), with a SHA-256 checksum.
  A process that starts while the store is down serves from it (with a warning); a
  corrupt or truncated file is ignored with a warning, never served.
- ``default=`` is the last resort: used only when nothing is known for the feature.
  Without it, ``get()`` raises :class:`~promptdeck.errors.NotFoundError` saying why.

This module never imports Textual: an application that only calls ``get()`` stays light.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal

import platformdirs
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from promptdeck.canary import in_canary
from promptdeck.config import APP_NAME, redact, resolve_db, scrub, to_url
from promptdeck.errors import NotFoundError, StoreError, ValidationError
from promptdeck.records import (
    DEFAULT_ENVIRONMENT,
    MAX_ENVIRONMENT,
    ServingEntry,
    Version,
    check_name,
)
from promptdeck.store import NOTIFY_CHANNEL, PromptStore, sqlite_path
from promptdeck.templates import find_variables, render

__all__ = ["Prompt", "Prompts", "RuntimeStatus", "default_snapshot_path"]

logger = logging.getLogger("promptdeck.runtime")

SNAPSHOT_FORMAT = "promptdeck-runtime-snapshot"
SNAPSHOT_VERSION = 1
PG_CONNECT_TIMEOUT = 5  # seconds; added to PostgreSQL URLs that do not set one
_RUNTIME_USER = "promptdeck-runtime"  # the store wants a user; the runtime only reads

Source = Literal["store", "snapshot", "empty"]


# --- the result --------------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    """A read-only deep copy: mappings become MappingProxyType, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return copy.deepcopy(value)


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Prompt:
    """One version of a feature's prompt, as served. Immutable.

    ``parameters`` is a read-only mapping (nested mappings read-only too, lists become
    tuples); :meth:`parameters_dict` gives a plain, mutable copy to pass to an API client.
    ``variables`` are the ``{{names}}`` the prompt uses, in order of first use.
    ``canary`` tells whether this is the canary version served to a share of users.
    ``version`` is 0 for a prompt built from ``get(..., default="...")``.

    To pass a full default (model and parameters included), build one yourself:
    ``Prompt("customer-support", 0, "claude-sonnet-4-20250514", {"max_tokens": 900},
    "You are ...")``.
    """

    feature: str
    version: int
    model: str
    parameters: Mapping[str, Any] = field(hash=False)
    system_prompt: str
    variables: tuple[str, ...] = field(init=False)
    canary: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", _freeze(self.parameters))
        object.__setattr__(self, "variables", find_variables(self.system_prompt))

    def render(self, /, **values: object) -> str:
        """The system prompt with every ``{{variable}}`` filled in.

        A missing variable raises :class:`~promptdeck.errors.TemplateError` naming it:
        a prompt is never sent with a hole in it. Extra values are ignored.
        """
        return render(self.system_prompt, values)

    def parameters_dict(self) -> dict[str, Any]:
        """A plain, mutable deep copy of ``parameters`` (JSON-serialisable)."""
        result: dict[str, Any] = _thaw(self.parameters)
        return result


def _prompt(version: Version, *, canary: bool = False) -> Prompt:
    return Prompt(
        feature=version.feature,
        version=version.number,
        model=version.model,
        parameters=version.parameters,
        system_prompt=version.system_prompt,
        canary=canary,
    )


@dataclass(frozen=True, slots=True)
class _Served:
    """What one feature serves: never mutated once built."""

    active: Prompt | None
    canary: Prompt | None
    percent: int
    revision: int


def _served(entry: ServingEntry) -> _Served:
    canary = entry.canary if entry.canary_percent > 0 else None
    return _Served(
        active=_prompt(entry.active) if entry.active is not None else None,
        canary=_prompt(canary, canary=True) if canary is not None else None,
        percent=entry.canary_percent if canary is not None else 0,
        revision=entry.revision,
    )


@dataclass(frozen=True, slots=True)
class _State:
    """Everything get() reads, swapped as a whole; ``entries`` is never mutated."""

    revision: int
    entries: Mapping[str, _Served]
    source: Source
    at: datetime | None  # when this content was loaded from the store


@dataclass(frozen=True, slots=True)
class RuntimeStatus:
    """For health checks and dashboards: where the served prompts come from."""

    store: str  # the store URL, password hidden
    environment: str
    source: Source  # "store", "snapshot" (store never reached yet) or "empty"
    reachable: bool  # the last refresh reached the store
    revision: int  # the store revision the served prompts reflect
    features: int
    loaded_at: datetime | None  # when the served content was read from the store
    last_error: str | None  # the last refresh error, password hidden
    snapshot_path: Path | None


# --- snapshot files -------------------------------------------------------------------------


class _CorruptSnapshot(Exception):
    """A snapshot file that must not be served; the message says why."""


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


def _prompt_json(prompt: Prompt | None) -> dict[str, Any] | None:
    if prompt is None:
        return None
    return {
        "version": prompt.version,
        "model": prompt.model,
        "parameters": prompt.parameters_dict(),
        "system_prompt": prompt.system_prompt,
    }


def _encode_snapshot(state: _State, store: str, environment: str) -> bytes:
    payload = json.dumps(
        {
            "store": store,
            "environment": environment,
            "revision": state.revision,
            "loaded_at": state.at.isoformat() if state.at else None,
            "features": {
                name: {
                    "active": _prompt_json(served.active),
                    "canary": _prompt_json(served.canary),
                    "percent": served.percent,
                    "revision": served.revision,
                }
                for name, served in sorted(state.entries.items())
            },
        },
        ensure_ascii=False,
        sort_keys=True,
        allow_nan=False,
    )
    document = {
        "format": SNAPSHOT_FORMAT,
        "format_version": SNAPSHOT_VERSION,
        "sha256": hashlib.sha256(payload.encode("utf-8")).hexdigest(),
        "payload": payload,
    }
    return (json.dumps(document, ensure_ascii=False) + "\n").encode("utf-8")


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp: mode 0600, prompts may be private
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _decode_prompt(feature: str, data: Any, *, canary: bool) -> Prompt | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise _CorruptSnapshot(f"entry for {feature!r} is not an object")
    version, model = data.get("version"), data.get("model")
    parameters, text = data.get("parameters"), data.get("system_prompt")
    if not (
        isinstance(version, int)
        and isinstance(model, str)
        and isinstance(parameters, dict)
        and isinstance(text, str)
        and text
    ):
        raise _CorruptSnapshot(f"entry for {feature!r} is incomplete")
    return Prompt(feature, version, model, parameters, text, canary=canary)


def _read_snapshot(path: Path, environment: str) -> _State:
    """The state saved in ``path``; raises _CorruptSnapshot, or OSError when unreadable."""
    raw = path.read_bytes()
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _CorruptSnapshot("not valid JSON (truncated or damaged)") from None
    if not isinstance(document, dict) or document.get("format") != SNAPSHOT_FORMAT:
        raise _CorruptSnapshot("not a promptdeck snapshot")
    if document.get("format_version") != SNAPSHOT_VERSION:
        raise _CorruptSnapshot(f"unknown format version {document.get('format_version')!r}")
    payload = document.get("payload")
    if not isinstance(payload, str):
        raise _CorruptSnapshot("no payload")
    if hashlib.sha256(payload.encode("utf-8")).hexdigest() != document.get("sha256"):
        raise _CorruptSnapshot("checksum mismatch (the file was damaged)")
    try:
        data = json.loads(payload)
        if data["environment"] != environment:
            raise _CorruptSnapshot(
                f"written for environment {data['environment']!r}, not {environment!r}"
            )
        entries: dict[str, _Served] = {}
        for name, item in data["features"].items():
            entries[name] = _Served(
                active=_decode_prompt(name, item["active"], canary=False),
                canary=_decode_prompt(name, item["canary"], canary=True),
                percent=int(item["percent"]),
                revision=int(item["revision"]),
            )
        loaded_at = datetime.fromisoformat(data["loaded_at"]) if data["loaded_at"] else None
        return _State(int(data["revision"]), entries, "snapshot", loaded_at)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _CorruptSnapshot(f"unexpected content ({type(exc).__name__}: {exc})") from None


# --- the client -----------------------------------------------------------------------------


def _connect_url(url: str) -> str:
    """The URL to open: PostgreSQL gets a connect timeout so an outage cannot hang us."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValidationError(f"not a database URL or path: {redact(url)}") from None
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        driver = parsed.get_driver_name()
        if driver in ("psycopg", "psycopg2"):
            parsed = parsed.update_query_dict({"connect_timeout": str(PG_CONNECT_TIMEOUT)})
            return parsed.render_as_string(hide_password=False)
    return url


_instances: weakref.WeakSet[Prompts] = weakref.WeakSet()


class Prompts:
    """A cached, self-refreshing view of the prompts one environment serves.

    ``url_or_path``: a SQLAlchemy URL or a SQLite path; None means the configured store
    (``PROMPTDECK_DB``, then the config file, then the default path), as the CLI does.

    ``refresh_interval``: seconds between background refreshes; None for no background
    thread (call :meth:`refresh` yourself).

    ``snapshot_path``: where to keep the snapshot file; None for
    :func:`default_snapshot_path`; False for none at all (no file read or written).

    The constructor reads the store once, synchronously; if the store cannot be reached
    it loads the snapshot file instead, and if there is none it starts empty (``get()``
    then serves ``default=`` or raises) and keeps trying in the background. It raises
    only for a malformed URL or bad arguments.

    Create one per process at start-up and share it: ``get()`` is thread-safe and
    lock-free. The constructor blocks (one read of the store, milliseconds; up to the
    connect timeout when PostgreSQL is down), so in asyncio code create it before the
    loop starts or with ``await asyncio.to_thread(Prompts, url)``; ``get()`` itself never
    blocks. Use it as a context manager, or call :meth:`close`, to stop the refresh
    thread. Safe across ``os.fork()`` (e.g. gunicorn ``--preload``): the child drops the
    parent's connections and starts its own refresh thread.
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | None = None,
        *,
        environment: str = DEFAULT_ENVIRONMENT,
        refresh_interval: float | None = 1.0,
        snapshot_path: str | os.PathLike[str] | Literal[False] | None = None,
    ) -> None:
        if refresh_interval is not None and not refresh_interval > 0:
            raise ValueError(f"refresh_interval must be positive or None, not {refresh_interval}")
        check_name(environment, "environment", MAX_ENVIRONMENT)
        self._url = to_url(url_or_path) if url_or_path is not None else resolve_db(None)
        self._connect = _connect_url(self._url)
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
        self._state = _State(0, {}, "empty", None)
        self._store: PromptStore | None = None
        self._file_id: tuple[int, int] | None = None
        self._full_reload = True
        self._reachable: bool | None = None  # None: not tried yet
        self._last_error: str | None = None
        self._snapshot_write_failed = False
        self._closed = False
        self._lock = threading.Lock()  # serialises refreshes, never taken by get()
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

    def _why_unknown(self, feature: str, served: _Served | None) -> str:
        state = self._state
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
                revision, entries, full = self._read_store()
            except Exception as exc:  # never let an outage escape: keep serving
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
            return self._apply(revision, entries, full)

    def _read_store(self) -> tuple[int, list[ServingEntry], bool]:
        if self._sqlite is not None:
            self._checksqlite_path(self._sqlite)
        if self._store is None:
            self._store = PromptStore(
                self._connect, user=_RUNTIME_USER, create=False, migrate=False
            )
            self._full_reload = True
        full = self._full_reload
        since = 0 if full else self._state.revision
        revision, entries = self._store.serving(self.environment, since_revision=since)
        if revision < since:
            # The store went back in time (restored from a backup): start over.
            full = True
            revision, entries = self._store.serving(self.environment, since_revision=0)
        return revision, entries, full

    def _checksqlite_path(self, path: Path) -> None:
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

    def _apply(self, revision: int, entries: list[ServingEntry], full: bool) -> bool:
        current = self._state
        if not full and not entries:
            if revision != current.revision:
                self._state = _State(revision, current.entries, current.source, current.at)
            return False
        new: dict[str, _Served] = {} if full else dict(current.entries)
        for entry in entries:
            new[entry.feature] = _served(entry)
        changed = current.source != "store" or new != current.entries
        self._state = _State(revision, new, "store", datetime.now(UTC))  # the atomic swap
        self._full_reload = False
        if changed:
            self._save_snapshot()
        return changed

    def _went_down(self, exc: BaseException, *, initial: bool) -> None:
        message = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "", self._url)
        self._last_error = message or type(exc).__name__
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
            state = _read_snapshot(path, self.environment)
        except FileNotFoundError:
            logger.warning(
                "promptdeck store %s is unreachable (%s) and there is no snapshot at %s; "
                "serving only defaults until it is back",
                self.display_url,
                problem,
                path,
            )
            return
        except (OSError, _CorruptSnapshot) as exc:
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

    def _save_snapshot(self) -> None:
        path = self.snapshot_path
        if path is None:
            return
        try:
            _write_atomically(
                path, _encode_snapshot(self._state, self.display_url, self.environment)
            )
        except OSError as exc:
            if not self._snapshot_write_failed:
                logger.warning(
                    "promptdeck cannot write its snapshot %s (%s); prompts are still served, "
                    "but a restart during a store outage will not find them",
                    path,
                    exc,
                )
            self._snapshot_write_failed = True
            return
        if self._snapshot_write_failed:
            logger.info("promptdeck snapshot %s written again", path)
        self._snapshot_write_failed = False

    # -- the refresh thread ----------------------------------------------------------------

    def _start_thread(self) -> None:
        if self.refresh_interval is None or self._closed:
            return
        self._stop = threading.Event()
        weakref.finalize(self, self._stop.set)
        self._thread = threading.Thread(
            target=_refresh_loop,
            args=(weakref.ref(self), self._stop, self.refresh_interval, _listen_url(self._connect)),
            name="promptdeck-refresh",
            daemon=True,
        )
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        if self._store is not None:
            # The parent's connections must not be used by the child: drop them unclosed.
            self._store.engine.dispose(close=False)
        self._thread = None
        self._start_thread()

    def close(self) -> None:
        """Stop refreshing and release the store; get() keeps serving what it has."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        with self._lock:
            self._closed = True
            if self._store is not None:
                self._store.close()
                self._store = None

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


class _Listener:
    """LISTEN for the store's NOTIFY on PostgreSQL, so a change is seen at once.

    Best effort: polling at the refresh interval stays the guarantee. A connection
    that fails is dropped and tried again at most once per interval.
    """

    def __init__(self, url: str, stop: threading.Event) -> None:
        self._conninfo = (
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._stop = stop
        self._connection: Any = None
        self._next_attempt = 0.0

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True if a notification arrived."""
        connection = self._connect()
        if connection is None:
            self._stop.wait(timeout)
            return False
        try:
            return any(True for _ in connection.notifies(timeout=timeout, stop_after=1))
        except Exception:  # the server went away: poll until it is back
            self.close()
            self._stop.wait(timeout)
            return False

    def _connect(self) -> Any:
        if self._connection is not None or time.monotonic() < self._next_attempt:
            return self._connection
        self._next_attempt = time.monotonic() + 5.0
        try:
            import psycopg

            connection = psycopg.connect(self._conninfo, autocommit=True)
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except Exception:
            return None
        self._connection = connection
        return connection

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None


def _listen_url(url: str) -> str | None:
    """The URL to LISTEN on: PostgreSQL through psycopg 3 only."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg":
        return url
    return None


def _refresh_loop(
    ref: weakref.ref[Prompts], stop: threading.Event, interval: float, listen_url: str | None
) -> None:
    """Refresh at a fixed rate (and at once on a NOTIFY) until stopped or collected."""
    listener = _Listener(listen_url, stop) if listen_url else None
    deadline = time.monotonic() + interval
    try:
        while not stop.is_set():
            if listener is not None:
                # Short slices, so that close() never waits a whole interval.
                while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
                    if listener.wait(min(remaining, 0.25)):
                        break
            else:
                stop.wait(max(0.0, deadline - time.monotonic()))
            if stop.is_set():
                return
            prompts = ref()
            if prompts is None:
                return
            try:
                prompts._refresh()
            except Exception:  # pragma: no cover - _refresh already catches store errors
                logger.exception("promptdeck refresh failed unexpectedly")
            del prompts
            now = time.monotonic()
            if now >= deadline:  # a poll tick (a notification keeps the next tick due)
                deadline += interval
                if deadline <= now:  # a slow refresh: skip the missed ticks, do not burst
                    deadline = now + interval
    finally:
        if listener is not None:
            listener.close()


def _reinit_after_fork() -> None:
    for prompts in list(_instances):
        prompts._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
