"""Store files and exports: owner-only, written all or nothing, one line when the disk is full."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptdeck import files
from promptdeck.cli import main
from promptdeck.store import PromptStore

PROMPTDECK = Path(sys.executable).with_name("promptdeck")


def others(directory: Path) -> list[str]:
    """What is in ``directory`` besides the store."""
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("store.db"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "new" / "store.db"
        with PromptStore(path, user="alice") as store:
            store.create_feature("f", "text", model="m", reason="r")
            wal = path.with_name("store.db-wal")
            assert wal.exists()
            assert mode(wal) == 0o600
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
    finally:
        os.umask(old)


def test_shared_files_follow_the_umask_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(files.SHARED_FILES_ENV, "1")
    old = os.umask(0o022)
    try:
        path = tmp_path / "shared.db"
        PromptStore(path, user="alice").close()
        assert mode(path) == 0o644
    finally:
        os.umask(old)


def test_exports_are_owner_only(store_path: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        result = CliRunner().invoke(main, ["--db", str(store_path), "export", str(out)])
        assert result.exit_code == 0, result.stderr
        assert mode(out) == 0o700
        written = list(out.iterdir())
        assert written and all(mode(p) == 0o600 for p in written)
    finally:
        os.umask(old)


@pytest.mark.parametrize("existing", [False, True])
def test_an_export_failing_midway_leaves_nothing_behind(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    from promptdeck import yamlio

    real_dump = yamlio.dump_document
    calls: list[str] = []

    def failing_dump(document: object) -> str:
        calls.append("x")
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_dump(document)  # type: ignore[arg-type]

    monkeypatch.setattr(yamlio, "dump_document", failing_dump)
    result = CliRunner().invoke(main, ["--db", str(store_path), "export", str(out)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: cannot write to {out}: No space left on device"
    assert others(tmp_path) == (["out"] if existing else [])
    if existing:
        assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_killed_export_is_cleaned_up_by_the_next(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    partial = tmp_path / f".promptdeck-partial-{dead.pid}-abc"
    partial.mkdir()
    (partial / "half.yaml").write_text("feature: half")
    result = CliRunner().invoke(main, ["--db", str(store_path), "export", str(out)])
    assert result.exit_code == 0, result.stderr
    assert not partial.exists()
    assert others(tmp_path) == ["out"]


def _tiny_disk() -> None:
    # A file size limit stands in for a full disk: writes past it fail with EFBIG.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # fails at the WAL step


def test_init_on_a_full_disk_says_so_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    result = subprocess.run(
        [str(PROMPTDECK), "--db", str(path), "init"],
        capture_output=True,
        text=True,
        preexec_fn=_tiny_disk,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=120,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "disk I/O error" in lines[0]
