"""The runtime's snapshot file: what a process serves when it starts with the store down.

Format 2 is one header line of JSON (format, version, SHA-256 and length of the
payload) followed by the payload, a JSON object naming the store (URL, password
hidden) and environment it was written for, the revision, and every feature served.

Writing costs what changed, not what is served: each feature's JSON is encoded once
and kept until that feature changes, so a refresh that moved one of 10,000 features
re-encodes one entry and joins the others (a C-speed join), then hashes, writes and
fsyncs with the GIL released. The write runs on its own thread, never on the refresh
path, and a burst of changes is written once (the writer always writes the latest).

Format 1 files (the payload as a JSON string inside the header) are still read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from promptdeck.runtime_types import Prompt, Served, State, built_prompt

__all__ = ["CorruptSnapshot", "SnapshotWriter", "read_snapshot"]

logger = logging.getLogger("promptdeck.runtime")

SNAPSHOT_FORMAT = "promptdeck-runtime-snapshot"
SNAPSHOT_VERSION = 2


class CorruptSnapshot(Exception):
    """A snapshot file that must not be served; the message says why."""


# --- encoding -------------------------------------------------------------------------------


# One encoder for every call: json.dumps() with options builds a new one each time, and
# encode() of a lone string is a single C call. Keys sorted, as the reader expects none.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, allow_nan=False)
_dumps = _ENCODER.encode


def _prompt_json(prompt: Prompt | None, parameters: dict[int, tuple[object, str]]) -> str:
    """One prompt as a JSON object, keys in sorted order, written out directly: 10,000
    features are encoded on the first write, and a dict per prompt for json to walk
    cost ten times as much. ``parameters`` caches the encoding of parameter mappings
    that prompts share (the runtime decodes each distinct set once)."""
    if prompt is None:
        return "null"
    mapping = prompt.parameters
    cached = parameters.get(id(mapping))
    if cached is None or cached[0] is not mapping:
        cached = (mapping, _dumps(prompt.parameters_dict()))
        parameters[id(mapping)] = cached
    return (
        f'{{"model": {_dumps(prompt.model)}, "parameters": {cached[1]}, '
        f'"system_prompt": {_dumps(prompt.system_prompt)}, "uid": {_dumps(prompt.uid)}, '
        f'"version": {int(prompt.version)}}}'
    )


def encode_entry(
    name: str, served: Served, parameters: dict[int, tuple[object, str]] | None = None
) -> str:
    """``"name": {...}``, one member of the payload's ``features`` object."""
    cache = {} if parameters is None else parameters
    return (
        f'{_dumps(name)}: {{"active": {_prompt_json(served.active, cache)}, '
        f'"canary": {_prompt_json(served.canary, cache)}, '
        f'"percent": {int(served.percent)}, "revision": {int(served.revision)}}}'
    )


@dataclass(frozen=True, slots=True)
class _Job:
    state: State
    store: str
    environment: str


class SnapshotWriter:
    """Writes the latest state to ``path`` on a daemon thread, encoding only what changed.

    ``submit()`` never blocks on I/O; ``flush()`` waits until what was submitted is on
    disk. ``on_result(error)`` is called after each write with None or the OSError.
    """

    def __init__(self, path: Path, on_result: Callable[[OSError | None], None]) -> None:
        self.path = path
        self._on_result = on_result
        self._cache: dict[str, tuple[Served, bytes]] = {}
        self._condition = threading.Condition()
        self._pending: _Job | None = None
        self._busy = False
        self._thread: threading.Thread | None = None

    def submit(self, state: State, store: str, environment: str) -> None:
        with self._condition:
            self._pending = _Job(state, store, environment)
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._busy = False
                self._thread = threading.Thread(
                    target=self._run, name="promptdeck-snapshot", daemon=True
                )
                self._thread.start()
            self._condition.notify()

    def flush(self, timeout: float = 30.0) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def after_fork(self) -> None:
        self._condition = threading.Condition()
        self._thread = None
        self._busy = False

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending is not None, timeout=60.0)
                job = self._pending
                if job is None:  # idle for a minute: let the thread go
                    self._thread = None
                    return
                self._pending = None
                self._busy = True
            try:
                error: OSError | None = None
                try:
                    self.write(job)
                except OSError as exc:
                    error = exc
                self._on_result(error)
            except Exception:  # never let the writer die silently
                logger.exception("promptdeck snapshot writer failed")
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def encode(self, job: _Job) -> bytes:
        """The whole file, as :meth:`write` writes it."""
        return b"".join(self.chunks(job))

    def chunks(self, job: _Job) -> tuple[bytes, bytes, bytes]:
        """The file in three pieces: header line, payload, newline.

        Each feature's entry is kept encoded (as UTF-8) until it changes, and the payload
        is one join of them: at 10,000 features (11 MB) every extra copy of the payload
        costs milliseconds of holding the GIL, which the application's threads feel.
        """
        cache = self._cache
        entries = job.state.entries
        parameters: dict[int, tuple[object, str]] = {}
        loaded_at = job.state.at.isoformat() if job.state.at else None
        pieces = [f'{{"environment": {_dumps(job.environment)}, "features": {{'.encode()]
        separator = b", "
        for name in sorted(entries):
            served = entries[name]
            cached = cache.get(name)
            if cached is None or cached[0] is not served:
                cached = (served, encode_entry(name, served, parameters).encode("utf-8"))
                cache[name] = cached
            pieces.append(cached[1])
            pieces.append(separator)
        if entries:
            pieces.pop()  # no separator after the last entry
        for name in [n for n in cache if n not in entries]:
            del cache[name]
        pieces.append(
            f'}}, "loaded_at": {_dumps(loaded_at)}, "revision": {job.state.revision}, '
            f'"store": {_dumps(job.store)}}}'.encode()
        )
        payload = b"".join(pieces)  # the one copy of the payload
        header = {
            "format": SNAPSHOT_FORMAT,
            "format_version": SNAPSHOT_VERSION,
            "sha256": hashlib.sha256(payload).hexdigest(),  # releases the GIL
            "length": len(payload),
        }
        return json.dumps(header).encode("ascii") + b"\n", payload, b"\n"

    def write(self, job: _Job) -> None:
        write_atomically(self.path, *self.chunks(job))


def write_atomically(path: Path, *chunks: bytes) -> None:
    """Replace ``path`` with ``chunks`` so that a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp: mode 0600, prompts may be private
            for chunk in chunks:
                file.write(chunk)
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


# --- decoding -------------------------------------------------------------------------------


def _decode_prompt(feature: str, data: Any, *, canary: bool) -> Prompt | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CorruptSnapshot(f"entry for {feature!r} is not an object")
    version, model = data.get("version"), data.get("model")
    parameters, text = data.get("parameters"), data.get("system_prompt")
    if not (
        isinstance(version, int)
        and isinstance(model, str)
        and isinstance(parameters, dict)
        and isinstance(text, str)
        and text
    ):
        raise CorruptSnapshot(f"entry for {feature!r} is incomplete")
    uid = data.get("uid", "")  # files written before versions carried their uid: ""
    if not isinstance(uid, str):
        raise CorruptSnapshot(f"entry for {feature!r} has a bad uid")
    return built_prompt(feature, version, model, parameters, text, canary, uid)


def _payload(raw: bytes) -> bytes:
    """The checked payload of a format 1 or 2 file."""
    header_line, newline, rest = raw.partition(b"\n")
    try:
        header = json.loads(header_line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CorruptSnapshot("not valid JSON (truncated or damaged)") from None
    if not isinstance(header, dict) or header.get("format") != SNAPSHOT_FORMAT:
        raise CorruptSnapshot("not a promptdeck snapshot")
    version = header.get("format_version")
    if version == 1:
        text = header.get("payload")
        if not isinstance(text, str):
            raise CorruptSnapshot("no payload")
        payload = text.encode("utf-8")
    elif version == SNAPSHOT_VERSION:
        length = header.get("length")
        if not newline or not isinstance(length, int) or len(rest) != length + 1:
            raise CorruptSnapshot("truncated (the payload is not the recorded length)")
        payload = rest[:length]
    else:
        raise CorruptSnapshot(f"unknown format version {version!r}")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CorruptSnapshot("checksum mismatch (the file was damaged)")
    return payload


def read_snapshot(path: Path, store: str, environment: str) -> State:
    """The state saved in ``path`` for this store and environment.

    Raises CorruptSnapshot (damaged, or written for another store or environment),
    or OSError when the file cannot be read.
    """
    payload = _payload(path.read_bytes())
    try:
        data = json.loads(payload.decode("utf-8"))
        if data["store"] != store:
            raise CorruptSnapshot(f"written for another store ({data['store']}), not {store}")
        if data["environment"] != environment:
            raise CorruptSnapshot(
                f"written for environment {data['environment']!r}, not {environment!r}"
            )
        features: Mapping[str, Any] = data["features"]
        entries: dict[str, Served] = {}
        for name, item in features.items():
            entries[name] = Served(
                active=_decode_prompt(name, item["active"], canary=False),
                canary=_decode_prompt(name, item["canary"], canary=True),
                percent=int(item["percent"]),
                revision=int(item["revision"]),
            )
        loaded_at = datetime.fromisoformat(data["loaded_at"]) if data["loaded_at"] else None
        return State(int(data["revision"]), entries, "snapshot", loaded_at)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise CorruptSnapshot(f"unexpected content ({type(exc).__name__}: {exc})") from None
