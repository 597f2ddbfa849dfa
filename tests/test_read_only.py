"""A WAL store on a read-only filesystem can still be read by the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from promptdeck import yamlio
from promptdeck.store import PromptStore

PROMPTDECK = Path(sys.executable).with_name("promptdeck")
SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"


def _can_mount_read_only() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run(
        [unshare, "-rm", "sh", "-c", "mount --bind / /mnt 2>/dev/null || mount -t tmpfs t /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_mount_read_only(), reason="needs unshare -rm to mount a read-only directory"
)


def _on_read_only(directory: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run each promptdeck command with ``directory`` bind-mounted read-only."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    results = []
    for command in commands:
        script = (
            f'mount --bind "{directory}" "{directory}" && '
            f'mount -o remount,bind,ro "{directory}" && exec "$@"'
        )
        results.append(
            subprocess.run(
                ["unshare", "-rm", "sh", "-c", script, "sh", str(PROMPTDECK), *command],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
        )
    return results


def _store(directory: Path) -> Path:
    path = directory / "store.db"
    with PromptStore(path, user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
    return path


def test_a_clean_wal_store_is_readable_on_a_read_only_filesystem(tmp_path: Path) -> None:
    path = _store(tmp_path)
    assert not path.with_name("store.db-shm").exists()
    db = ["--db", str(path)]
    features, show, save = _on_read_only(
        tmp_path,
        [*db, "features"],
        [*db, "show", "translator"],
        [*db, "--user", "alice", "save", "translator", "-f", "/dev/null", "-m", "x"],
    )
    assert features.returncode == 0, features.stderr
    assert "translator" in features.stdout
    assert show.returncode == 0 and "translator v" in show.stdout, show.stderr
    assert save.returncode == 1 and len(save.stderr.splitlines()) == 1
    assert "Traceback" not in save.stderr


def test_a_wal_left_by_a_killed_writer_is_read_on_a_read_only_filesystem(
    tmp_path: Path,
) -> None:
    path = _store(tmp_path)
    # A writer that dies without a checkpoint leaves its changes in -wal (and -shm).
    code = (
        "import os, sys\n"
        "from promptdeck.store import PromptStore\n"
        "store = PromptStore(sys.argv[1], user='alice', create=False)\n"
        "store.create_feature('late', 'only in the WAL', model='m', reason='r')\n"
        "os._exit(0)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    assert path.with_name("store.db-wal").stat().st_size > 0
    (features,) = _on_read_only(tmp_path, ["--db", str(path), "features"])
    assert features.returncode == 0, features.stderr
    assert "late" in features.stdout
