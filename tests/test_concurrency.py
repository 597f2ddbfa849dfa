"""Several processes writing to one store at once: every save lands or fails clearly.

Each worker is a real process with its own connection. They wait at a barrier (files in a
temporary directory) so that the saves really overlap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from promptdeck.store import PromptStore

PROCESSES = 4
SAVES = 15

WORKER = r"""
import json, random, sys, time
from pathlib import Path
from promptdeck.errors import ConflictError, PromptDeckError
from promptdeck.store import PromptStore

url, name, saves, mode, barrier = sys.argv[1:6]
saves, barrier = int(saves), Path(barrier)
results = []

def wait_for_go():
    (barrier / f"ready-{name}").touch()
    deadline = time.monotonic() + 60
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.002)

if mode == "create":
    wait_for_go()
    try:
        with PromptStore(url, user=name) as store:
            store.create_feature(name, f"{name} first", model="m", reason="first")
            for i in range(saves):
                store.save(name, f"{name} text {i}", reason=f"{name} change {i}")
        results.append({"ok": True})
    except PromptDeckError as exc:
        results.append({"error": f"{type(exc).__name__}: {exc}"})
else:
    store = PromptStore(url, user=name, create=False)
    wait_for_go()
    for i in range(saves):
        text = f"{name} save {i}"
        time.sleep(random.random() / 100)  # let the writers interleave
        try:
            if mode == "based":
                base = store.version("shared", "latest").number
                version = store.save("shared", text, reason=f"{name} change {i}", base=base)
                results.append({"ok": version.number, "text": text, "base": base})
            else:
                version = store.save("shared", text, reason=f"{name} change {i}")
                results.append({"ok": version.number, "text": text})
        except ConflictError as exc:
            results.append({"conflict": str(exc), "text": text})
        except PromptDeckError as exc:
            results.append({"error": f"{type(exc).__name__}: {exc}", "text": text})
    store.close()
print(json.dumps(results))
"""


def run_workers(tmp_path: Path, url: str, mode: str, saves: int = SAVES) -> list[dict[str, Any]]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), url, f"writer-{i}", str(saves), mode, str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < PROCESSES:
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        assert time.monotonic() < deadline, "workers did not get ready"
        time.sleep(0.01)
    (barrier / "go").touch()
    results: list[dict[str, Any]] = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
        assert "Traceback" not in stderr
        results.extend(json.loads(stdout))
    return results


def check_clear(errors: list[str], *, allowed: bool) -> None:
    """A failed save says so clearly; with a 30 s busy timeout none should fail at all."""
    for error in errors:
        assert "\n" not in error
        assert error.startswith("StoreError: ")
        assert "try again" in error
    if not allowed:
        assert errors == []


def shared_store(url: str) -> None:
    with PromptStore(url, user="setup") as store:
        store.create_feature("shared", "the first text", model="m", reason="first")


def check_no_save_lost(url: str, results: list[dict[str, Any]]) -> list[int]:
    landed = [r for r in results if "ok" in r]
    numbers = sorted(r["ok"] for r in landed)
    assert len(numbers) == len(set(numbers)), "two saves got the same number"
    with PromptStore(url, user="checker", create=False) as store:
        versions = store.versions("shared")
        stored = sorted(v.number for v in versions)
        assert stored == list(range(1, len(stored) + 1)), "numbers are contiguous"
        assert stored == [1, *numbers], "every landed save is stored, nothing else is"
        for result in landed:
            assert store.version("shared", result["ok"]).system_prompt == result["text"]
        events = [e for e in store.history("shared") if e.action in ("create", "create-feature")]
        assert len(events) == len(stored)
        assert sorted(e.to_version for e in events) == stored
        assert store.revision() == len(stored)
    return numbers


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return str(request.getfixturevalue("pg_store_url"))


def test_processes_saving_at_once_lose_nothing(tmp_path: Path, url: str) -> None:
    shared_store(url)
    results = run_workers(tmp_path, url, "plain")
    assert len(results) == PROCESSES * SAVES
    check_clear([r["error"] for r in results if "error" in r], allowed=False)
    assert not [r for r in results if "conflict" in r], "no --base: always on top of the latest"
    numbers = check_no_save_lost(url, results)
    assert len(numbers) == PROCESSES * SAVES
    for i in range(PROCESSES):
        mine = [r["ok"] for r in results if "ok" in r and r["text"].startswith(f"writer-{i} ")]
        assert mine == sorted(mine), "one process's saves are numbered in its own order"


def test_processes_saving_from_a_base_never_lose_an_update(tmp_path: Path, url: str) -> None:
    shared_store(url)
    results = run_workers(tmp_path, url, "based")
    check_clear([r["error"] for r in results if "error" in r], allowed=False)
    numbers = check_no_save_lost(url, results)
    assert numbers
    with PromptStore(url, user="checker", create=False) as store:
        for result in (r for r in results if "ok" in r):
            version = store.version("shared", result["ok"])
            # A save that landed was made on top of the version it started from.
            assert version.parent == result["base"] == version.number - 1
    for result in (r for r in results if "conflict" in r):
        assert "saved version" in result["conflict"]
        assert "writer-" in result["conflict"]


def test_processes_creating_one_new_store_file_at_once(tmp_path: Path) -> None:
    url = str(tmp_path / "brand-new.db")
    results = run_workers(tmp_path, url, "create", saves=3)
    check_clear([r["error"] for r in results if "error" in r], allowed=True)
    assert [r for r in results if "ok" in r], "at least one process created the store"
    with PromptStore(url, user="checker", create=False) as store:
        for summary in store.features():
            assert [v.number for v in store.versions(summary.name)] == [4, 3, 2, 1]
        engine = store.engine
        with engine.connect() as connection:
            assert (
                connection.execute(sa.text("SELECT count(*) FROM promptdeck_schema")).scalar() == 1
            )
