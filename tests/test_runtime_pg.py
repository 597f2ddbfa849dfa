"""The runtime library against a real PostgreSQL server, including the server going away."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresServer
from sqlalchemy.engine import make_url
from waits import wait_for_refreshes, wait_until

from promptdeck import yamlio
from promptdeck.canary import in_canary
from promptdeck.errors import NotFoundError
from promptdeck.runtime import Prompts, default_snapshot_path
from promptdeck.store import PromptStore

pytestmark = pytest.mark.postgres

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"
INTERVAL = 0.05
LOGGER = "promptdeck.runtime"


@pytest.fixture
def url(pg_store_url: str) -> str:
    with PromptStore(pg_store_url, user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
    return pg_store_url


@pytest.fixture
def admin(url: str) -> Iterator[PromptStore]:
    with PromptStore(url, user="alice") as store:
        yield store


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    return tmp_path / "prompts.json"


@pytest.fixture
def prompts(url: str, snapshot: Path) -> Iterator[Prompts]:
    with Prompts(url, refresh_interval=INTERVAL, snapshot_path=snapshot) as client:
        yield client


def test_get_serves_the_active_version(prompts: Prompts, admin: PromptStore) -> None:
    for summary in admin.features():
        assert prompts.get(summary.name).version == summary.active
    assert prompts.get("customer-support").model == admin.version("customer-support", 5).model


def test_activation_rollback_and_canary_are_visible_within_the_interval(
    prompts: Prompts, admin: PromptStore
) -> None:
    admin.activate("translator", 3, reason="pg")
    wait_for_refreshes(prompts, 2)  # one may have read before the activation, not two
    assert prompts.get("translator").version == 3
    admin.rollback("translator", reason="pg")
    wait_until(lambda: prompts.get("translator").version == 2)
    inside = next(u for u in range(100) if in_canary("translator", u, 30))
    outside = next(u for u in range(100) if not in_canary("translator", u, 30))
    admin.set_canary("translator", 3, 30, reason="pg canary")
    wait_until(lambda: prompts.get("translator", user_id=inside).version == 3)
    assert prompts.get("translator", user_id=outside).version == 2
    admin.promote("translator", reason="pg promote")
    wait_until(lambda: prompts.get("translator", user_id=outside).version == 3)


def test_canary_share_through_get(prompts: Prompts) -> None:
    users = 100_000
    share = sum(prompts.get("customer-support", user_id=u).canary for u in range(users))
    assert abs(share / users * 100 - 10) < 1


def test_server_stopped_keeps_serving_with_one_warning_and_no_password(
    pg_server: PostgresServer,
    prompts: Prompts,
    admin: PromptStore,
    url: str,
    snapshot: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    pg_server.stop()
    try:
        wait_until(lambda: not prompts.status().reachable)
        for _ in range(3):
            prompts.refresh()
        wait_for_refreshes(prompts, 5)  # the background ones fail too, without a warning
        for _ in range(1000):
            assert prompts.get("customer-support").version == 5
        warnings = [r for r in caplog.records if r.name == LOGGER and r.levelname == "WARNING"]
        assert len(warnings) == 1
        assert "unreachable" in warnings[0].getMessage()
    finally:
        pg_server.start()
    admin.activate("translator", 3, reason="after the outage")
    wait_until(lambda: prompts.get("translator").version == 3)
    text = caplog.text + snapshot.read_text()
    assert pg_server.password not in text
    assert pg_server.password not in str(prompts.status())
    assert pg_server.password not in repr(prompts)


def test_restart_with_server_down_serves_the_snapshot(
    pg_server: PostgresServer, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Prompts(url, refresh_interval=None) as first:  # the default snapshot path
        assert first.get("translator").version == 2
        path = first.snapshot_path
    assert path == default_snapshot_path(url)
    assert path is not None and path.exists()
    assert pg_server.password not in path.read_text()
    caplog.set_level(logging.WARNING, logger=LOGGER)
    pg_server.stop()
    try:
        started = time.monotonic()
        with Prompts(url, refresh_interval=INTERVAL) as second:
            assert time.monotonic() - started < 10  # the connect timeout bounds the wait
            assert second.status().source == "snapshot"
            assert second.get("translator").version == 2
            with pytest.raises(NotFoundError, match="no-such-feature"):
                second.get("no-such-feature")
            pg_server.start()
            wait_until(lambda: second.status().source == "store")
            assert second.get("translator").version == 2
    finally:
        if not pg_server.is_running():
            pg_server.start()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "snapshot" in warnings[0]
    assert pg_server.password not in caplog.text


def test_notify_makes_an_activation_visible_long_before_the_poll(
    url: str, admin: PromptStore, snapshot: Path
) -> None:
    # The next poll is an hour away: only LISTEN/NOTIFY explains a change seen at all.
    with Prompts(url, refresh_interval=3600.0, snapshot_path=snapshot) as client:
        wait_until(lambda: client.status().listening)
        assert client.get("translator").version == 2
        admin.activate("translator", 3, reason="notify test")
        wait_until(lambda: client.get("translator").version == 3)
        admin.rollback("translator", reason="notify test back")
        wait_until(lambda: client.get("translator").version == 2)


def test_a_metrics_flush_is_not_kept_waiting_by_the_notify_wait(
    url: str, admin: PromptStore, snapshot: Path
) -> None:
    # The refresh thread waits for NOTIFY on the store's one connection, slice after
    # slice, holding it; a flush must get the connection within a slice or two.
    with Prompts(
        url, refresh_interval=3600.0, snapshot_path=snapshot, metrics_interval=None
    ) as client:
        wait_until(lambda: client.status().listening)
        prompt = client.get("translator")
        for _ in range(20):
            client.record(prompt, tokens_in=10, tokens_out=1, success=True)
            start = time.monotonic()
            assert client.flush_metrics()
            assert time.monotonic() - start < 1.0
        wait_until(lambda: client.status().listening)  # the wait went on after the flushes
    assert sum(row.count for row in admin.metrics.rows("translator")) == 20


def _connections_to(server: PostgresServer, database: str) -> int:
    with server.admin() as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_one_connection_per_process_listening_on_it(
    pg_server: PostgresServer, url: str, admin: PromptStore, snapshot: Path
) -> None:
    database = make_url(url).database or ""
    admin.close()  # only the runtime's connections are counted
    before = _connections_to(pg_server, database)
    with Prompts(url, refresh_interval=0.05, snapshot_path=snapshot) as client:
        wait_until(lambda: client.status().listening)
        for _ in range(5):
            client.refresh()
        wait_for_refreshes(client, 3)
        wait_until(lambda: client.status().listening)
        # Refreshing and listening share it.
        assert _connections_to(pg_server, database) - before == 1


def test_the_listener_is_back_after_the_server_restarts(
    pg_server: PostgresServer, url: str, admin: PromptStore, snapshot: Path
) -> None:
    with Prompts(url, refresh_interval=0.2, snapshot_path=snapshot) as client:
        wait_until(lambda: client.status().listening)
        pg_server.stop()
        try:
            wait_until(lambda: not client.status().listening)
        finally:
            pg_server.start()
        wait_until(lambda: client.status().listening, timeout=20)
        admin.activate("translator", 3, reason="after the restart")
        wait_until(lambda: client.get("translator").version == 3)


def test_changes_arrive_while_threads_call_get_nonstop(url: str, admin: PromptStore) -> None:
    """The listener is not starved by busy application threads (issue 14: ~480 ms before).

    The next poll is an hour away, so every change that arrives came by NOTIFY: no bound
    in seconds, which a loaded machine breaks; bench/bench_runtime.py measures the delay.
    """
    with Prompts(url, refresh_interval=3600.0, snapshot_path=False) as client:
        wait_until(lambda: client.status().listening)
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                client.get("translator")

        threads = [threading.Thread(target=spin) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(8):
                target = 3 if client.get("translator").version == 2 else 2
                admin.activate("translator", target, reason="busy threads")
                wait_until(lambda t=target: client.get("translator").version == t)
                assert all(thread.is_alive() for thread in threads)  # still busy meanwhile
        finally:
            stop.set()
            for thread in threads:
                thread.join()
