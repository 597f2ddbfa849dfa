"""Files promptdeck writes: owner-only unless configured, sets of files all or nothing. Pure.

Store files, exports and backups hold every prompt a team has written, so they are
created readable by their owner only (files 0600, directories 0700). Set
``PROMPTDECK_SHARED_FILES=1`` to create them with the process umask instead (a store
shared by a group of users on one machine).

An export writes a set of files: all of them appear, or none. The set is written into a
temporary directory beside the target and renamed into place (a new target directory),
or each file is renamed into the existing directory only once all are written. A
temporary directory left by a killed export is removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

SHARED_FILES_ENV = "PROMPTDECK_SHARED_FILES"
_TEMPORARY_MARK = ".promptdeck-partial-"


def owner_only() -> bool:
    """Whether new files are for their owner only (the default)."""
    return os.environ.get(SHARED_FILES_ENV, "").strip().lower() not in {"1", "true", "yes"}


def _default_mode(directory: bool) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def file_mode() -> int:
    return 0o600 if owner_only() else _default_mode(directory=False)


def directory_mode() -> int:
    return 0o700 if owner_only() else _default_mode(directory=True)


def make_directory(path: Path) -> None:
    """``mkdir -p`` whose new directories get directory_mode()."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            directory.mkdir(mode=directory_mode())


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with file_mode() unless it exists; True if created."""
    make_directory(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode())
    except FileExistsError:
        return False
    os.close(descriptor)
    os.chmod(path, file_mode())  # the umask may have narrowed or not: say exactly
    return True


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole (a temporary name renamed over it) with file_mode()."""
    make_directory(path.parent)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_file_set(directory: Path, files: Iterable[tuple[str, bytes]]) -> list[Path]:
    """Write every (name, content) into ``directory``: all of them, or none."""
    make_directory(directory.parent)
    fresh = not directory.exists()
    staging_parent = directory.parent if fresh else directory
    remove_stale_partials(staging_parent)
    staging = Path(tempfile.mkdtemp(prefix=f"{_TEMPORARY_MARK}{os.getpid()}-", dir=staging_parent))
    try:
        names: list[str] = []
        for name, content in files:
            target = staging / name
            with open(target, "wb") as stream:
                stream.write(content)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(target, file_mode())
            names.append(name)
        if fresh:
            os.chmod(staging, directory_mode())
            os.rename(staging, directory)
        else:
            for name in names:
                os.replace(staging / name, directory / name)
            staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [directory / name for name in names]


def remove_stale_partials(directory: Path) -> None:
    """Remove temporary directories of exports whose process is gone (killed)."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(_TEMPORARY_MARK) or not entry.is_dir():
            continue
        pid_text = entry.name[len(_TEMPORARY_MARK) :].partition("-")[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
