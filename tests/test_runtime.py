"""The runtime library against SQLite: serving, freshness, canaries, outages, snapshots."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from waits import wait_for_refreshes, wait_until

from promptdeck import yamlio
from promptdeck.canary import BUCKETS, bucket, in_canary
from promptdeck.errors import NotFoundError, TemplateError, ValidationError
from promptdeck.runtime import Prompt, Prompts, default_snapshot_path
from promptdeck.store import PromptStore

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"
INTERVAL = 0.05
LOGGER = "promptdeck.runtime"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "WARNING"]


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "stores"
    with PromptStore(directory / "store.db", user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
    return directory


@pytest.fixture
def db(store_dir: Path) -> Path:
    return store_dir / "store.db"


@pytest.fixture
def admin(db: Path) -> Iterator[PromptStore]:
    """Another writer of the same store, as the CLI or the terminal app would be."""
    with PromptStore(db, user="alice", create=False) as store:
        yield store


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    return tmp_path / "snapshots" / "prompts.json"


@pytest.fixture
def prompts(db: Path, snapshot: Path) -> Iterator[Prompts]:
    with Prompts(db, refresh_interval=INTERVAL, snapshot_path=snapshot) as client:
        yield client


# -- serving ---------------------------------------------------------------------------------


def test_get_serves_the_active_version(prompts: Prompts, admin: PromptStore) -> None:
    for summary in admin.features():
        served = prompts.get(summary.name)
        assert served.version == summary.active
        stored = admin.version(summary.name, "active")
        assert served.system_prompt == stored.system_prompt
        assert served.model == stored.model
        assert served.parameters_dict() == dict(stored.parameters)
        assert served.feature == summary.name
        assert served.canary is False
    assert prompts.get("customer-support").version == 5
    assert prompts.get("customer-support").variables == (
        "product_name",
        "customer_name",
        "known_incidents",
        "status_page_url",
        "pricing_url",
    )


def test_served_prompts_match_the_store_records(db: Path, admin: PromptStore) -> None:
    """The runtime reads its own lean rows; they say what the store's records say."""
    for environment in ("production", "staging"):
        revision, entries = admin.serving(environment)
        with Prompts(
            db, environment=environment, refresh_interval=None, snapshot_path=False
        ) as client:
            assert client.status().revision == revision
            assert client.features() == tuple(sorted(e.feature for e in entries))
            for entry in entries:
                served = client._state.entries[entry.feature]
                pairs = [(served.active, entry.active)]
                if entry.canary_percent:
                    pairs.append((served.canary, entry.canary))
                    assert served.percent == entry.canary_percent
                else:
                    assert served.canary is None and served.percent == 0
                for prompt, version in pairs:
                    assert prompt is not None and version is not None
                    assert (prompt.version, prompt.uid, prompt.model) == (
                        version.number,
                        version.uid,
                        version.model,
                    )
                    assert prompt.system_prompt == version.system_prompt
                    assert prompt.parameters_dict() == dict(version.parameters)
                    assert prompt.canary is (prompt is served.canary)
    assert any(e.canary_percent for e in admin.serving()[1])  # a canary was compared


def test_prompts_sharing_parameters_stay_independent(db: Path, admin: PromptStore) -> None:
    # Identical parameter texts are decoded once and shared: read-only, so nothing done
    # through one prompt can reach another.
    same = {"max_tokens": 321, "stop": ["x"], "meta": {"k": 1}}
    admin.create_feature("one", "first", model="m", parameters=same, reason="r")
    admin.create_feature("two", "second", model="m", parameters=same, reason="r")
    for name in ("one", "two"):
        admin.activate(name, 1, reason="r")
    with Prompts(db, refresh_interval=None, snapshot_path=False) as client:
        one, two = client.get("one"), client.get("two")
        assert one.parameters == two.parameters == Prompt("x", 1, "m", same, "t").parameters
        copy = one.parameters_dict()
        copy["stop"].append("y")
        copy["meta"]["k"] = 2
        assert two.parameters_dict() == same
        with pytest.raises(TypeError):
            one.parameters["meta"]["k"] = 3  # type: ignore[index]


def test_environment_is_respected(db: Path, admin: PromptStore) -> None:
    staging = admin.deployment("sql-assistant", "staging").active
    production = admin.deployment("sql-assistant").active
    assert staging != production
    with Prompts(db, environment="staging", refresh_interval=None, snapshot_path=False) as client:
        assert client.get("sql-assistant").version == staging
        with pytest.raises(NotFoundError, match="translator"):
            client.get("translator")


def test_render_fills_variables_and_refuses_a_missing_one(prompts: Prompts) -> None:
    prompt = prompts.get("customer-support")
    values = dict.fromkeys(prompt.variables, "X")
    values["customer_name"] = "Ada"
    text = prompt.render(**values)
    assert "You are talking to Ada." in text
    assert "{{" not in text
    del values["customer_name"]
    with pytest.raises(TemplateError, match="customer_name"):
        prompt.render(**values)
    with pytest.raises(TemplateError, match="product_name"):
        prompt.render()


def test_result_is_immutable(prompts: Prompts) -> None:
    prompt = prompts.get("customer-support")
    with pytest.raises(dataclasses.FrozenInstanceError):
        prompt.version = 99  # type: ignore[misc]
    with pytest.raises(TypeError):
        prompt.parameters["max_tokens"] = 1  # type: ignore[index]
    nested = Prompt("f", 1, "m", {"stop": ["a"], "meta": {"k": 1}}, "text")
    with pytest.raises(TypeError):
        nested.parameters["meta"]["k"] = 2
    assert nested.parameters["stop"] == ("a",)
    copy = prompt.parameters_dict()
    copy["max_tokens"] = 1
    assert prompts.get("customer-support").parameters["max_tokens"] != 1
    json.dumps(nested.parameters_dict())  # a plain, serialisable copy


def test_get_does_no_io(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    with Prompts(db, refresh_interval=None, snapshot_path=False) as client:

        def spy(*_args: object, **_kwargs: object) -> None:
            calls.append("serving")
            raise AssertionError("get() must not read the store")

        monkeypatch.setattr(PromptStore, "serving", spy)
        monkeypatch.setattr(PromptStore, "__init__", spy)
        for user in range(1000):
            client.get("customer-support", user_id=user)
            client.get("translator")
            client.get("nothing-here", default="x")
    assert calls == []


def test_bad_arguments_are_refused(db: Path) -> None:
    with pytest.raises(ValueError, match="refresh_interval"):
        Prompts(db, refresh_interval=0)
    with pytest.raises(ValidationError, match="environment"):
        Prompts(db, environment="no spaces allowed")
    with pytest.raises(ValidationError, match="not a database URL"):
        Prompts("postgresql+psycopg://user:secret@host:notaport/db")
    with (
        Prompts(db, refresh_interval=None, snapshot_path=False) as client,
        pytest.raises(TypeError, match="default"),
    ):
        client.get("nothing-here", default=42)  # type: ignore[arg-type]


# -- freshness -------------------------------------------------------------------------------


def test_activation_by_another_process_is_visible_within_the_interval(
    prompts: Prompts, admin: PromptStore
) -> None:
    assert prompts.get("translator").version == 2
    admin.activate("translator", 3, reason="test")
    # Counted in refreshes, not seconds: one may have been under way before the
    # activation; the next one, an interval later, reads it.
    wait_for_refreshes(prompts, 2)
    assert prompts.get("translator").version == 3


def test_rollback_and_canary_changes_are_visible(prompts: Prompts, admin: PromptStore) -> None:
    admin.activate("translator", 3, reason="try 3")
    wait_until(lambda: prompts.get("translator").version == 3)
    admin.rollback("translator", reason="3 is worse")
    wait_until(lambda: prompts.get("translator").version == 2)

    admin.set_canary("translator", 3, 100, reason="everyone")
    wait_until(lambda: prompts.get("translator", user_id="u1").version == 3)
    served = prompts.get("translator", user_id="u1")
    assert served.canary is True
    assert prompts.get("translator").version == 2  # no user id: always the active version

    admin.clear_canary("translator", reason="stop")
    wait_until(lambda: prompts.get("translator", user_id="u1").version == 2)

    admin.set_canary("translator", 3, 50, reason="half")
    inside = next(u for u in range(100) if in_canary("translator", u, 50))
    outside = next(u for u in range(100) if not in_canary("translator", u, 50))
    wait_until(lambda: prompts.get("translator", user_id=inside).version == 3)
    assert prompts.get("translator", user_id=outside).version == 2
    admin.promote("translator", reason="good")
    wait_until(lambda: prompts.get("translator").version == 3)
    assert prompts.get("translator", user_id="u1").version == 3
    assert prompts.get("translator", user_id="u1").canary is False


def test_refresh_reports_changes_only_when_something_changed(
    db: Path, admin: PromptStore, snapshot: Path
) -> None:
    with Prompts(db, refresh_interval=None, snapshot_path=snapshot) as client:
        client.flush_snapshot()  # written off the refresh path
        written = snapshot.stat().st_mtime_ns
        assert client.refresh() is False
        admin.save("translator", "New text {{text}}", reason="unrelated to serving")
        assert client.refresh() is False  # revision moved, nothing served changed
        client.flush_snapshot()
        assert snapshot.stat().st_mtime_ns == written
        admin.activate("translator", 1, reason="back to one")
        assert client.refresh() is True
        assert client.get("translator").version == 1
        assert client.status().revision == admin.revision()


def test_a_replaced_store_file_is_read_afresh(db: Path, tmp_path: Path, snapshot: Path) -> None:
    with Prompts(db, refresh_interval=None, snapshot_path=snapshot) as client:
        assert client.get("translator").version == 2
        other = tmp_path / "other.db"
        with PromptStore(other, user="bob") as store:
            store.import_documents(yamlio.read_files([SAMPLES / "translator.yaml"]))
            store.activate("translator", 1, reason="other store")
        os.replace(other, db)
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        client.refresh()
        assert client.get("translator").version == 1
        with pytest.raises(NotFoundError):
            client.get("customer-support")  # not in the new store: nothing served stale


# -- canary allocation -----------------------------------------------------------------------


def test_canary_allocation_is_stable_and_in_range() -> None:
    assert 0 <= bucket("customer-support", "u1") < BUCKETS
    assert bucket("customer-support", "u1") == bucket("customer-support", "u1")
    assert bucket("customer-support", 42) == bucket("customer-support", "42")
    # Hash randomisation of another interpreter changes nothing.
    code = "from promptdeck.canary import bucket; print(bucket('customer-support', 'u1'))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert int(output) == bucket("customer-support", "u1")
    # A fixed value: the algorithm is part of the contract (every process, every language).
    assert bucket("customer-support", "u1") == 6415


@pytest.mark.parametrize("percent", [1, 10, 37, 50, 90])
def test_canary_share_is_within_one_point(percent: int) -> None:
    users = 100_000
    inside = sum(in_canary("customer-support", f"user-{i}", percent) for i in range(users))
    assert abs(inside / users * 100 - percent) < 1


def test_raising_the_share_keeps_users_in_the_canary() -> None:
    ten = {i for i in range(10_000) if in_canary("f", i, 10)}
    twenty = {i for i in range(10_000) if in_canary("f", i, 20)}
    assert ten < twenty


def test_canary_served_through_get_is_stable_and_shared(
    db: Path, admin: PromptStore, prompts: Prompts, snapshot: Path
) -> None:
    # The sample store has version 6 of customer-support as a 10 % canary.
    users = [f"user-{i}" for i in range(100_000)]
    first = [prompts.get("customer-support", user_id=u).version for u in users]
    share = first.count(6) / len(users) * 100
    assert abs(share - 10) < 1
    assert set(first) == {5, 6}
    with Prompts(db, refresh_interval=None, snapshot_path=False) as restarted:
        again = [restarted.get("customer-support", user_id=u).version for u in users]
    assert again == first


@pytest.mark.parametrize(("percent", "expected"), [(0, {5}), (100, {6})])
def test_canary_percent_edges(
    db: Path, admin: PromptStore, percent: int, expected: set[int]
) -> None:
    admin.set_canary("customer-support", 6, percent, reason="edge")
    with Prompts(db, refresh_interval=None, snapshot_path=False) as client:
        served = {client.get("customer-support", user_id=i).version for i in range(2000)}
        assert served == expected
        assert client.get("customer-support").version == 5


# -- defaults and errors ---------------------------------------------------------------------


def test_default_only_when_nothing_is_known(prompts: Prompts) -> None:
    assert prompts.get("customer-support", default="fallback").version == 5
    fallback = prompts.get("no-such-feature", default="Hello {{name}}")
    assert fallback.version == 0
    assert fallback.feature == "no-such-feature"
    assert fallback.render(name="Ada") == "Hello Ada"
    full = Prompt("no-such-feature", 0, "some-model", {"max_tokens": 10}, "Hi")
    assert prompts.get("no-such-feature", default=full) is full


def test_unknown_feature_raises_a_clear_error(prompts: Prompts) -> None:
    with pytest.raises(NotFoundError) as caught:
        prompts.get("no-such-feature")
    message = str(caught.value)
    assert "no-such-feature" in message
    assert "no default" in message


def test_feature_without_active_version_raises(
    db: Path, admin: PromptStore, prompts: Prompts
) -> None:
    admin.create_feature("draft-only", "Draft {{x}}", model="m", reason="new")
    prompts.refresh()
    with pytest.raises(NotFoundError, match="draft-only"):
        prompts.get("draft-only")
    assert prompts.get("draft-only", default="fallback").system_prompt == "fallback"


# -- never down ------------------------------------------------------------------------------


def test_store_unreachable_keeps_serving_with_one_warning(
    prompts: Prompts, store_dir: Path, admin: PromptStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    moved = store_dir.with_name("moved-away")
    store_dir.rename(moved)
    try:
        wait_until(lambda: not prompts.status().reachable)
        for _ in range(5):
            prompts.refresh()
        wait_for_refreshes(prompts, 5)  # several background refreshes fail too
        for _ in range(1000):
            assert prompts.get("customer-support").version == 5
        assert len(warnings_of(caplog)) == 1
        assert "unreachable" in warnings_of(caplog)[0]
    finally:
        moved.rename(store_dir)
    admin.activate("translator", 3, reason="after the outage")
    wait_until(lambda: prompts.get("translator").version == 3)

    def recovered() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == LOGGER and "again" in r.getMessage()]

    # Logged just after the refresh that brought the prompts back swapped them in.
    wait_until(lambda: len(recovered()) > 0)
    assert len(recovered()) == 1
    assert len(warnings_of(caplog)) == 1


def test_restart_with_store_down_serves_the_snapshot(
    db: Path, store_dir: Path, snapshot: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Prompts(db, refresh_interval=None, snapshot_path=snapshot) as first:
        canary_users = [u for u in range(500) if first.get("customer-support", user_id=u).canary]
    moved = store_dir.with_name("moved-away")
    store_dir.rename(moved)
    caplog.set_level(logging.INFO, logger=LOGGER)
    try:
        with Prompts(db, refresh_interval=INTERVAL, snapshot_path=snapshot) as second:
            assert second.status().source == "snapshot"
            assert second.get("customer-support").version == 5
            assert second.get("translator").version == 2
            served = [u for u in range(500) if second.get("customer-support", user_id=u).canary]
            assert served == canary_users
            wait_for_refreshes(second, 4)  # they fail too, without another warning
            assert len(warnings_of(caplog)) == 1
            assert "snapshot" in warnings_of(caplog)[0]
            moved.rename(store_dir)
            wait_until(lambda: second.status().source == "store")
            assert second.get("customer-support").version == 5
    finally:
        if moved.exists():
            moved.rename(store_dir)


def test_start_with_store_down_and_no_snapshot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    missing = tmp_path / "nowhere" / "store.db"
    with Prompts(missing, refresh_interval=None, snapshot_path=tmp_path / "none.json") as client:
        assert client.status().source == "empty"
        assert client.get("customer-support", default="fallback").version == 0
        with pytest.raises(NotFoundError, match="not been reachable"):
            client.get("customer-support")
    assert len(warnings_of(caplog)) == 1
    assert not missing.exists()  # the runtime never creates a store


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage", "environment"])
def test_damaged_snapshot_is_ignored_with_a_warning(
    db: Path,
    store_dir: Path,
    snapshot: Path,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    with Prompts(db, refresh_interval=None, snapshot_path=snapshot):
        pass
    data = snapshot.read_bytes()
    if damage == "flip":  # a changed version number inside the payload
        data = data.replace(b'"version": 5', b'"version": 4', 1)
        assert data != snapshot.read_bytes()
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = b""
    elif damage == "garbage":
        data = os.urandom(200)
    snapshot.write_bytes(data)
    store_dir.rename(store_dir.with_name("moved-away"))
    caplog.set_level(logging.WARNING, logger=LOGGER)
    environment = "staging" if damage == "environment" else "production"
    with Prompts(
        db, environment=environment, refresh_interval=None, snapshot_path=snapshot
    ) as client:
        assert client.status().source == "empty"
        with pytest.raises(NotFoundError):
            client.get("sql-assistant")
        assert client.get("customer-support", default="fallback").system_prompt == "fallback"
    messages = warnings_of(caplog)
    assert any("snapshot" in m and "ignored" in m for m in messages)


def test_default_snapshot_path_is_in_the_user_cache(db: Path) -> None:
    with Prompts(db, refresh_interval=None) as client:
        path = client.snapshot_path
        assert path is not None
        assert path == default_snapshot_path(db)
        client.flush_snapshot()
        assert path.exists()
        assert "cache" in str(path)
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    staging = default_snapshot_path("sqlite:////x.db", "staging")
    assert staging != default_snapshot_path("sqlite:////x.db", "production")
    assert default_snapshot_path("postgresql://u:secret@h/db") == default_snapshot_path(
        "postgresql://u:other@h/db"
    )


def test_unwritable_snapshot_warns_once_and_serves(
    db: Path, tmp_path: Path, admin: PromptStore, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with Prompts(db, refresh_interval=None, snapshot_path=blocker / "snap.json") as client:
        admin.activate("translator", 3, reason="x")
        client.refresh()
        assert client.get("translator").version == 3
    assert len(warnings_of(caplog)) == 1


# -- concurrency and weight ------------------------------------------------------------------


def test_many_threads_get_during_refreshes(prompts: Prompts, admin: PromptStore) -> None:
    errors: list[BaseException] = []
    seen: set[int] = set()
    stop = threading.Event()

    def reader(n: int) -> None:
        try:
            while not stop.is_set():
                prompt = prompts.get("translator", user_id=n)
                assert prompt.version in (1, 2, 3)
                assert prompt.system_prompt
                seen.add(prompt.version)
                prompts.get("customer-support", user_id=n).render(
                    **dict.fromkeys(prompts.get("customer-support", user_id=n).variables, "v")
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for number in (3, 1, 2, 3):
        admin.activate("translator", number, reason=f"flip to {number}")
        wait_until(lambda number=number: prompts.get("translator").version == number)
        prompts.refresh()  # a foreground refresh racing the background one
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    assert seen >= {3}


def test_get_in_asyncio_code(prompts: Prompts) -> None:
    import asyncio

    async def handler(user: int) -> int:
        return prompts.get("customer-support", user_id=user).version

    async def main() -> list[int]:
        return await asyncio.gather(*(handler(u) for u in range(100)))

    assert set(asyncio.run(main())) <= {5, 6}


def test_close_stops_the_refresh_thread(db: Path) -> None:
    client = Prompts(db, refresh_interval=INTERVAL, snapshot_path=False)
    thread = client._thread
    assert thread is not None and thread.is_alive()
    client.close()
    assert not thread.is_alive()
    assert client.get("translator").version == 2  # still serves what it has
    assert client.refresh() is False


def test_runtime_does_not_import_textual() -> None:
    code = (
        "import sys, promptdeck.runtime; "
        "from promptdeck import Prompts; "
        "print('textual' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_keeps_refreshing(db: Path, admin: PromptStore, tmp_path: Path) -> None:
    client = Prompts(db, refresh_interval=INTERVAL, snapshot_path=False)
    result = tmp_path / "child.txt"
    go = tmp_path / "go"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            deadline = time.monotonic() + 10
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            while time.monotonic() < deadline:
                if client.get("translator").version == 3:
                    result.write_text("3")
                    code = 0
                    break
                time.sleep(0.01)
        finally:
            os._exit(code)
    try:
        admin.activate("translator", 3, reason="seen by the child")
        go.touch()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert result.read_text() == "3"
    finally:
        client.close()


def test_snapshot_entries_are_the_json_of_what_is_served() -> None:
    # The writer assembles each entry's JSON itself (fast at 10,000 features): it must be
    # exactly what json would write, for any text a prompt may hold.
    from promptdeck.runtime_snapshot import encode_entry
    from promptdeck.runtime_types import Served

    name = 'ünï"\n\\'
    active = Prompt(
        name,
        3,
        "model\u2028",
        {"z": [1, {"b": None, "a": 1.5}], "é": "x\ty", "deep": {"n": [[True]]}},
        'text \x00 "q" \\ 😀 {{v}}',
        uid="u-1",
    )
    canary = Prompt(name, 4, "m", {}, "canary", canary=True, uid="u-2")
    for served in (Served(active, canary, 25, 7), Served(active, None, 0, 8)):
        member = encode_entry(name, served)
        expected = {
            "active": {
                "model": "model\u2028",
                "parameters": active.parameters_dict(),
                "system_prompt": active.system_prompt,
                "uid": "u-1",
                "version": 3,
            },
            "canary": None
            if served.canary is None
            else {
                "model": "m",
                "parameters": {},
                "system_prompt": "canary",
                "uid": "u-2",
                "version": 4,
            },
            "percent": served.percent,
            "revision": served.revision,
        }
        assert json.loads("{" + member + "}") == {name: expected}
        assert member == json.dumps(name, ensure_ascii=False) + ": " + json.dumps(
            expected, ensure_ascii=False, sort_keys=True
        )


def test_refreshes_count_every_read_of_the_store(db: Path, store_dir: Path) -> None:
    with Prompts(db, refresh_interval=None, snapshot_path=False) as client:
        assert client.status().refreshes == 1  # the constructor's
        client.refresh()
        assert client.status().refreshes == 2
        moved = store_dir.with_name("moved-away")
        store_dir.rename(moved)
        try:
            assert client.refresh() is False
            assert client.status().refreshes == 3  # reached or not
        finally:
            moved.rename(store_dir)


def test_the_garbage_collector_is_left_as_it_was(db: Path) -> None:
    import gc

    assert gc.isenabled()
    with Prompts(db, refresh_interval=None, snapshot_path=False) as client:
        assert gc.isenabled()  # paused only during the full read
        client.refresh()
        assert gc.isenabled()
    gc.disable()
    try:
        Prompts(db, refresh_interval=None, snapshot_path=False).close()
        assert not gc.isenabled()  # an application's choice is not undone
    finally:
        gc.enable()
