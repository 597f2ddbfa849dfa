"""Fault injection: kill -9 a process at a random point of save, import, export, push or pull.

A child process runs one operation with a profile hook counting Python calls and
SIGKILLs itself at call number N, chosen at random (seeded) between 1 and the number of
calls the whole operation takes (measured by a run to the end on a copy). Afterwards:
the SQLite files pass integrity and foreign-key checks, each store holds either all of
the operation's rows or none, the audit log replays to the stored versions and active
pointers, and an export directory is either absent or complete.

Used by tests/test_faults.py (a fixed seed, a few iterations) and bench/bench_faults.py
(more iterations: PROMPTDECK_FAULT_ITERATIONS).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPERATIONS = ("save", "import", "export", "push", "pull")

CHILD = r"""
import json, os, signal, sys
operation, local, remote, work_dir, kill_at = sys.argv[1:6]
kill_at = int(kill_at)
from promptdeck import sync, yamlio
from promptdeck.cli import main
from promptdeck.store import PromptStore
calls = 0
def hook(frame, event, arg):
    global calls
    if event in ("call", "c_call"):
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
if operation == "export":
    sys.setprofile(hook)
    main(["--db", local, "export", os.path.join(work_dir, "out")], standalone_mode=False)
else:
    store = PromptStore(local, user="alice", create=False)
    other = PromptStore(remote, user="alice", create=False)
    documents = yamlio.read_files([os.path.join(work_dir, "incoming")])
    sys.setprofile(hook)
    if operation == "save":
        store.save("translator", "saved under fire", reason="fault", parameters={"n": 1})
    elif operation == "import":
        store.import_documents(documents)
    elif operation == "push":
        sync.push(store, other)
    elif operation == "pull":
        sync.pull(store, other)
sys.setprofile(None)
print(json.dumps({"calls": calls}))
"""

INCOMING = """\
feature: incoming
versions:
  - version: 1
    model: m
    system_prompt: first
  - version: 2
    model: m
    system_prompt: second
  - version: 3
    model: m
    system_prompt: third
active:
  production: 2
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    operation: str
    kill_at: int
    calls: int
    killed: bool


def _run(operation: str, directory: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PROMPTDECK_USER": "alice"}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            operation,
            str(directory / "local.db"),
            str(directory / "remote.db"),
            str(directory),
            str(kill_at),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def prepare(pristine: Path, directory: Path) -> None:
    """Fresh copies of the pristine stores and input files in ``directory``."""
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(pristine, directory)


def make_pristine(directory: Path, samples: Path) -> None:
    """local.db and remote.db with changes on each side for push and pull to carry."""
    from promptdeck import sync, yamlio
    from promptdeck.store import PromptStore

    directory.mkdir(parents=True)
    (directory / "incoming").mkdir()
    (directory / "incoming" / "incoming.yaml").write_text(INCOMING, encoding="utf-8")
    with (
        PromptStore(directory / "local.db", user="alice") as local,
        PromptStore(directory / "remote.db", user="alice") as remote,
    ):
        local.import_documents(yamlio.read_files([samples]))
        sync.push(local, remote)
        local.save("translator", "local only", reason="for push")
        remote.save("summarizer", "remote only", reason="for pull")
        remote.create_feature("remote-new", "new", model="m", reason="for pull")


def snapshot(path: Path) -> dict[str, Any]:
    """What the checks compare: versions per feature, active pointers, audit replay."""
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        versions: dict[str, list[int]] = {}
        for name, number in connection.execute(
            "SELECT f.name, v.number FROM versions v JOIN features f ON f.id = v.feature_id "
            "ORDER BY f.name, v.number"
        ):
            versions.setdefault(name, []).append(number)
        active = {
            f"{name}@{environment}": number
            for name, environment, number in connection.execute(
                "SELECT f.name, d.environment, v.number FROM deployments d "
                "JOIN features f ON f.id = d.feature_id "
                "JOIN versions v ON v.id = d.active_version_id"
            )
        }
        events = connection.execute(
            "SELECT action, feature, environment, to_version, details FROM audit_events ORDER BY id"
        ).fetchall()
    finally:
        connection.close()
    return {
        "versions": versions,
        "active": active,
        "events": len(events),
        "replay": _replay(events),
    }


def _replay(events: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Versions and active pointers as the audit log tells them."""
    versions: dict[str, set[int]] = {}
    active: dict[str, int | None] = {}
    for action, feature, environment, to_version, details_text in events:
        details = json.loads(details_text) if isinstance(details_text, str) else details_text
        details = details or {}
        if action in ("create-feature", "create") and to_version is not None:
            versions.setdefault(feature, set()).add(to_version)
        elif action == "import":
            versions.setdefault(feature, set()).update(details.get("versions", []))
        elif action in ("activate", "rollback", "promote", "sync-activate"):
            active[f"{feature}@{environment}"] = to_version
    return {
        "versions": {k: sorted(v) for k, v in sorted(versions.items())},
        "active": {k: v for k, v in sorted(active.items()) if v is not None},
    }


def check_replay(state: dict[str, Any]) -> None:
    """The audit log replays to the stored versions and active pointers."""
    replay = state["replay"]
    for feature, numbers in replay["versions"].items():
        assert set(numbers) <= set(state["versions"].get(feature, [])), (feature, numbers)
    for key, number in replay["active"].items():
        assert state["active"].get(key) == number, (key, number, state["active"].get(key))


def export_state(directory: Path) -> list[str] | None:
    out = directory / "out"
    if not out.exists():
        return None
    return sorted(p.name for p in out.iterdir())


def run_iterations(
    pristine: Path, scratch: Path, operation: str, seed: int, count: int
) -> list[Outcome]:
    """Kill ``operation`` at ``count`` random points; assert all or nothing each time."""
    rng = random.Random(seed)
    full = scratch / "full"
    prepare(pristine, full)
    stores = ("local.db",) if operation in ("save", "import", "export", "pull") else ("remote.db",)
    before = {name: snapshot(full / name) for name in ("local.db", "remote.db")}
    completed = _run(operation, full, 0)
    assert completed.returncode == 0, completed.stderr
    calls = json.loads(completed.stdout.strip().splitlines()[-1])["calls"]
    after = {name: snapshot(full / name) for name in ("local.db", "remote.db")}
    complete_export = export_state(full)
    outcomes = []
    for _ in range(count):
        kill_at = rng.randint(1, calls)
        directory = scratch / "run"
        prepare(pristine, directory)
        result = _run(operation, directory, kill_at)
        killed = result.returncode == -9
        assert killed or result.returncode == 0, result.stderr
        for name in ("local.db", "remote.db"):
            state = snapshot(directory / name)
            check_replay(state)
            if name in stores or operation == "push":
                # push writes the remote, and records the sync in the local store too
                assert (state["versions"], state["active"]) in (
                    (before[name]["versions"], before[name]["active"]),
                    (after[name]["versions"], after[name]["active"]),
                ), (operation, kill_at, name)
            else:
                assert state["versions"] == before[name]["versions"]
        if operation == "export":
            assert export_state(directory) in (None, complete_export), kill_at
        outcomes.append(Outcome(operation, kill_at, calls, killed))
    return outcomes
