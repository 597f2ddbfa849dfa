"""Sync against a real PostgreSQL remote (the server from tests/pgserver.py).

The shared scenarios (edit, push, pull, conflicts and choices, roles, history) run on
PostgreSQL through test_sync.py's parametrised ``team`` fixture; this file keeps what
only a server can show: batching, a push killed or a server stopped midway, wrong
passwords, and roles kept on the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pgserver import PostgresServer, make_unsecured_store
from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import make_url
from test_sync import checking_immutability

from promptdeck import sync, yamlio
from promptdeck.errors import PermissionDeniedError, StoreError, ValidationError
from promptdeck.records import content_hash
from promptdeck.store import PromptStore
from promptdeck.store.rows import AuditEventRow, SyncRemoteRow, VersionRow

pytestmark = pytest.mark.postgres

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"
SRC = Path(__file__).resolve().parent.parent / "src"


def make_store(path: Path, user: str = "alice") -> PromptStore:
    store = PromptStore(path, user=user)
    store.import_documents(yamlio.read_files([SAMPLES]))
    return store


def add_versions(store: PromptStore, feature: str, count: int) -> None:
    """Many versions at once (as a long editing history would leave them)."""
    with store.unit_of_work() as work:
        session = work.session
        row = work.feature(feature)
        top = session.scalar(
            select(func.max(VersionRow.number)).where(VersionRow.feature_id == row.id)
        )
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for i in range(1, count + 1):
            text = f"Version {i} of {feature}: answer briefly and politely."
            rows.append(
                {
                    "uid": str(uuid.uuid4()),
                    "feature_id": row.id,
                    "number": (top or 0) + i,
                    "system_prompt": text,
                    "model": "gpt-4o",
                    "parameters": {"temperature": 0.2},
                    "author": store.user,
                    "reason": f"step {i}",
                    "created_at": now,
                    "parent_number": (top or 0) + i - 1,
                    "content_hash": content_hash(text, "gpt-4o", {"temperature": 0.2}),
                }
            )
        session.execute(insert(VersionRow), rows)


def version_count(store: PromptStore) -> int:
    with store.reading() as session:
        return session.scalar(select(func.count()).select_from(VersionRow)) or 0


@pytest.fixture
def remote_url(pg_store_url: str) -> str:
    """A store created on purpose in a fresh database (sync never creates one)."""
    return pg_store_url


# Not wrapped: a timing test (the check reads every row) and the test that stops the
# server mid-push (the check could not read the remote afterwards; it asserts itself
# that nothing changed).
UNCHECKED = (
    "test_push_of_10000_versions_batches_and_nothing_to_do_is_fast",
    "test_the_remote_stopped_during_a_sync_gives_a_clear_error_and_loses_nothing",
    "test_the_remote_stopped_at_the_end_of_a_pull_is_reported_truthfully",
)


@pytest.fixture(autouse=True)
def versions_are_immutable(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every version row outlives every sync call, on the side it was on (test_sync.py)."""
    if request.node.name not in UNCHECKED:
        monkeypatch.setattr(sync, "push", checking_immutability(sync.push))
        monkeypatch.setattr(sync, "pull", checking_immutability(sync.pull))


@pytest.fixture
def alice(tmp_path: Path) -> Iterator[PromptStore]:
    with make_store(tmp_path / "alice.db", "alice") as store:
        yield store


def test_push_of_10000_versions_batches_and_nothing_to_do_is_fast(
    alice: PromptStore, remote_url: str
) -> None:
    import time

    add_versions(alice, "summarizer", 10_000)
    with sync.open_remote(alice, remote_url) as remote:
        started = time.perf_counter()
        result = sync.push(alice, remote)
        pushed_in = time.perf_counter() - started
        assert result.versions == 10_000 + 32
        started = time.perf_counter()
        assert sync.push(alice, remote).noop
        assert sync.status(alice, remote).in_sync
        idle_in = time.perf_counter() - started
    assert pushed_in < 30, pushed_in  # a few seconds in practice (see bench/bench_sync.py)
    assert idle_in < 1, idle_in


KILLED_PUSH = """
import sys, time
from sqlalchemy import event
from promptdeck import sync
from promptdeck.store import PromptStore

local = PromptStore(sys.argv[1], user="alice", create=False)
remote = sync.open_remote(local, sys.argv[2])
inserted = []

@event.listens_for(remote.engine, "before_cursor_execute")
def _seen(conn, cursor, statement, *args):
    if statement.lstrip().upper().startswith("INSERT INTO VERSIONS"):
        inserted.append(1)

@event.listens_for(remote.engine, "commit")
def _hold(conn):
    if inserted:
        print("COMMITTING", flush=True)
        time.sleep(120)

sync.push(local, remote)
print("DONE", flush=True)
"""


def test_a_push_killed_midway_leaves_the_remote_unchanged(
    tmp_path: Path, alice: PromptStore, remote_url: str
) -> None:
    add_versions(alice, "translator", 3000)
    with sync.open_remote(alice, remote_url) as remote:
        assert remote.revision() == 0
    script = tmp_path / "killed_push.py"
    script.write_text(KILLED_PUSH, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "alice.db"), remote_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == "COMMITTING", process.stderr.read() if process.stderr else ""
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    with sync.open_remote(alice, remote_url) as remote:
        assert remote.revision() == 0
        assert remote.features() == []
        assert version_count(remote) == 0
        result = sync.push(alice, remote)  # running it again completes it
        assert result.versions == version_count(alice) == version_count(remote)
        assert sync.status(alice, remote).in_sync


def test_the_remote_stopped_during_a_sync_gives_a_clear_error_and_loses_nothing(
    pg_server: PostgresServer, alice: PromptStore, remote_url: str
) -> None:
    add_versions(alice, "translator", 500)
    local_revision = alice.revision()
    remote = sync.open_remote(alice, remote_url)
    stopped: list[bool] = []

    @event.listens_for(remote.engine, "before_cursor_execute")
    def _stop(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not stopped and statement.lstrip().upper().startswith("INSERT INTO VERSIONS"):
            stopped.append(True)
            pg_server.stop(mode="immediate")

    try:
        with pytest.raises(StoreError) as caught:
            sync.push(alice, remote)
    finally:
        remote.close()
        if not pg_server.is_running():
            pg_server.start()
    message = str(caught.value)
    assert stopped
    assert message.startswith(("cannot use store", "database error")), message
    assert pg_server.password not in message
    assert "***" in message
    assert alice.revision() == local_revision  # nothing local was written
    with alice.reading() as session:
        assert session.scalar(select(func.count()).select_from(SyncRemoteRow)) == 0
    with sync.open_remote(alice, remote_url) as again:
        assert version_count(again) == 0
        sync.push(alice, again)
        assert version_count(again) == version_count(alice)


def test_a_stopped_remote_is_a_clear_error(
    pg_server: PostgresServer, alice: PromptStore, remote_url: str
) -> None:
    pg_server.stop()
    try:
        with pytest.raises(StoreError, match="cannot use store postgresql") as caught:
            sync.open_remote(alice, remote_url)
        assert pg_server.password not in str(caught.value)
    finally:
        pg_server.start()


def test_a_wrong_password_is_a_clear_error_that_does_not_echo_it(
    alice: PromptStore, remote_url: str, tmp_path: Path
) -> None:
    secret = "Wr0ng-Pa55word-xyzzy"
    wrong = make_url(remote_url).set(password=secret).render_as_string(hide_password=False)
    with pytest.raises(StoreError) as caught:
        sync.open_remote(alice, wrong)
    assert "password authentication failed" in str(caught.value)
    assert secret not in str(caught.value)

    from promptdeck.cli import main

    for command in ("status", "push", "pull"):
        result = CliRunner().invoke(
            main, ["--db", str(tmp_path / "alice.db"), "sync", command, "--remote", wrong]
        )
        assert result.exit_code == 1
        assert "password authentication failed" in result.stderr
        assert secret not in result.stdout + result.stderr


def test_role_refusal_on_the_postgresql_remote(
    tmp_path: Path, alice: PromptStore, remote_url: str
) -> None:
    with sync.open_remote(alice, remote_url) as remote:
        sync.push(alice, remote)
        remote.set_role("alice", "admin")
        remote.set_role("bob", "editor")
    with make_store(tmp_path / "bob.db", "bob") as bob, sync.open_remote(bob, remote_url) as rb:
        sync.pull(bob, rb)
        bob.save("summarizer", "Bob's change.", reason="b")
        bob.activate("summarizer", 5, reason="b")
        events = rb.history()
        with pytest.raises(PermissionDeniedError, match="must be an admin"):
            sync.push(bob, rb)
        assert rb.history() == events
        assert sync.push(bob, rb, versions_only=True).versions == 1
        assert rb.deployment("summarizer").active == 4
        with rb.reading() as session:
            pushes = session.scalar(
                select(func.count())
                .select_from(AuditEventRow)
                .where(AuditEventRow.action == "push")
            )
        assert pushes == 2
        # The activation did not happen on the remote: its event waits for the move.
        assert not [
            e for e in rb.history("summarizer") if e.action == "activate" and e.reason == "b"
        ]
        assert rb.role("bob") == "editor"
        with sync.open_remote(alice, remote_url) as ra:
            ra.set_role("bob", "admin")
        result = sync.push(bob, rb)
        assert result.moves and rb.deployment("summarizer").active == 5
        sent = [e for e in rb.history("summarizer") if e.action == "activate" and e.reason == "b"]
        assert [(e.from_version, e.to_version) for e in sent] == [(4, 5)]
        (moved,) = [
            e for e in rb.history("summarizer") if e.action == "sync-activate" and e.actor == "bob"
        ]
        assert (moved.environment, moved.from_version, moved.to_version) == ("production", 4, 5)
        assert moved.reason.startswith("push from bob (store ")
        assert sync.push(bob, rb).noop and sync.pull(bob, rb).noop


# --- a database that is not a store (issue 9) -------------------------------------------


def table_names(url: str) -> list[str]:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    finally:
        engine.dispose()


def test_sync_refuses_an_empty_database_and_creates_nothing(
    alice: PromptStore, pg_url: str, tmp_path: Path
) -> None:
    database = make_url(pg_url).database
    assert database
    with pytest.raises(StoreError) as caught:
        sync.open_remote(alice, pg_url)
    message = str(caught.value)
    assert f"no promptdeck store in database {database}" in message
    assert "promptdeck --db URL init" in message and "\n" not in message
    assert table_names(pg_url) == []

    from promptdeck.cli import main

    revision = alice.revision()
    for command in ("status", "push", "pull"):
        result = CliRunner().invoke(
            main, ["--db", str(tmp_path / "alice.db"), "sync", command, "--remote", pg_url]
        )
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and database in lines[0] and "init" in lines[0], lines
        assert "Traceback" not in result.output
        assert table_names(pg_url) == []  # status, push and pull all left it untouched
    assert alice.revision() == revision


# --- batching (issue 13): statements do not grow with the number of features ---------


def spread_features(store: PromptStore, count: int) -> None:
    """``count`` single-version features, each with an active version."""
    for i in range(count):
        name = f"batch-{i:03d}"
        store.create_feature(name, "Answer briefly.", model="gpt-4o", reason="setup")
        store.activate(name, 1, reason="setup")


def statements_of(store: PromptStore, run: Any) -> int:
    seen: list[str] = []

    def one(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", one)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", one)
    return len(seen)


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_pointer_moves_take_a_constant_number_of_statements(
    tmp_path: Path, pg_server: PostgresServer, direction: str
) -> None:
    """Moving 10 or 60 active versions costs the same statements: a regression to a
    round trip per feature fails here."""
    counts: list[int] = []
    for size in (10, 60):
        url = pg_server.create_database(f"batch_{direction}_{size}")
        make_unsecured_store(url)
        with PromptStore(tmp_path / f"{direction}-{size}.db", user="alice") as local:
            spread_features(local, size)
            with sync.open_remote(local, url) as remote:
                if direction == "push":
                    counts.append(statements_of(remote, lambda: sync.push(local, remote)))
                    assert remote.deployment("batch-000").active == 1
                else:
                    sync.push(local, remote)
                    with PromptStore(tmp_path / f"fresh-{size}.db", user="alice") as fresh:
                        counts.append(statements_of(fresh, lambda: sync.pull(fresh, remote)))
                        assert fresh.deployment(f"batch-{size - 1:03d}").active == 1
                        assert len(fresh.history(None)) >= size
    assert counts[0] == counts[1], counts


# --- issue 14: what a failed push names, what a pull that lost its remote says ------------


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("number", 2**31, "summarizer version 2147483648: number 2147483648 is out of range"),
        ("author", "m" * 300, "author is 300 characters long (at most 200)"),
        ("author", "ma\x00ria", "author holds a NUL character"),
    ],
)
def test_a_push_the_remote_cannot_store_names_the_feature_and_version(
    alice: PromptStore, remote_url: str, column: str, value: Any, expected: str
) -> None:
    """SQLite lets these in; PostgreSQL would say "integer out of range" and no more."""
    with alice.unit_of_work() as work:
        row = work.latest_version(work.feature("summarizer"))
        work.session.execute(
            insert(VersionRow),
            [
                {
                    "uid": str(uuid.uuid4()),
                    "feature_id": row.feature_id,
                    "number": 2**31 if column == "number" else row.number + 1,
                    "system_prompt": "Odd.",
                    "model": "gpt-4o",
                    "parameters": {},
                    "author": value if column == "author" else "alice",
                    "reason": "odd",
                    "created_at": row.created_at,
                    "parent_number": row.number,
                    "content_hash": row.content_hash,
                }
            ],
        )
    with sync.open_remote(alice, remote_url) as remote:
        revision = remote.revision()
        with pytest.raises(ValidationError) as caught:
            sync.push(alice, remote)
        message = str(caught.value)
        assert message.startswith("cannot push summarizer version "), message
        assert expected in message and "nothing was pushed" in message
        assert remote.revision() == revision and version_count(remote) == 0


def test_the_remote_stopped_at_the_end_of_a_pull_is_reported_truthfully(
    pg_server: PostgresServer, alice: PromptStore, remote_url: str, tmp_path: Path
) -> None:
    with sync.open_remote(alice, remote_url) as remote:
        sync.push(alice, remote)
    fresh = PromptStore(tmp_path / "fresh.db", user="alice")
    remote = sync.open_remote(fresh, remote_url)
    stopped: list[bool] = []

    @event.listens_for(fresh.engine, "commit")
    def _stop(conn: Any) -> None:  # the local write commits: then the server goes
        from promptdeck.store.engine import WRITE_OPTION

        if not stopped and conn.get_execution_options().get(WRITE_OPTION):
            stopped.append(True)
            pg_server.stop(mode="immediate")

    try:
        result = sync.pull(fresh, remote)
    finally:
        remote.close()
        if not pg_server.is_running():
            pg_server.start()
    assert stopped
    assert result.versions == version_count(alice) == version_count(fresh)
    assert "committed in full to the local store" in result.summary()
    assert pg_server.password not in result.summary()
    fresh.close()
