"""The runtime through PgBouncer in transaction pooling mode, the pooler fleets run.

No LISTEN through a transaction pooler, no session state, no prepared statements: the
pooler hands each transaction to any of a few server connections. The pool here has
fewer server connections than the test has clients, so transactions really move.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PgBouncer, make_unsecured_store
from waits import wait_for_refreshes, wait_until

from promptdeck import yamlio
from promptdeck.runtime import Prompts
from promptdeck.store import PromptStore

pytestmark = pytest.mark.postgres

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"


@pytest.fixture
def urls(pgbouncer_url: tuple[str, str]) -> tuple[str, str]:
    direct, _pooled = pgbouncer_url
    make_unsecured_store(direct)
    with PromptStore(direct, user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
    return pgbouncer_url


@pytest.fixture
def admin(urls: tuple[str, str]) -> Iterator[PromptStore]:
    with PromptStore(urls[0], user="alice") as store:
        yield store


def test_the_runtime_reads_and_sees_an_activation_through_pgbouncer(
    urls: tuple[str, str], admin: PromptStore, tmp_path: Path
) -> None:
    pooled_url = f"{urls[1]}?pgbouncer=true"
    with Prompts(pooled_url, refresh_interval=0.05, snapshot_path=tmp_path / "s") as prompts:
        status = prompts.status()
        assert status.source == "store" and status.reachable
        assert prompts.pooled and not status.listening  # no LISTEN through the pooler
        assert prompts.get("translator").version == 2
        admin.activate("translator", 3, reason="through the pooler")
        wait_until(lambda: prompts.get("translator").version == 3)
        wait_for_refreshes(prompts, 5)
        assert not prompts.status().listening
    assert "***" in prompts.display_url


def _churn(admin: PromptStore, clients: list[Prompts], flips: int) -> list[str]:
    """Activations while every client polls (each client sees each one); their errors."""
    errors: list[str] = []
    stop = threading.Event()

    def watch(client: Prompts) -> None:
        while not stop.is_set():
            error = client.status().last_error
            if error:
                errors.append(error)
            time.sleep(0.02)

    watchers = [threading.Thread(target=watch, args=(c,)) for c in clients]
    for thread in watchers:
        thread.start()
    try:
        for _ in range(flips):
            target = 3 if admin.deployment("translator").active == 2 else 2
            admin.activate("translator", target, reason="churn")
            for client in clients:  # every client polls several times meanwhile
                wait_until(lambda c=client, t=target: c.get("translator").version == t)
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in watchers:
            thread.join()
    return errors


def test_no_prepared_statement_errors_under_pooling(
    urls: tuple[str, str], admin: PromptStore, pg_bouncer: PgBouncer
) -> None:
    clients = [
        Prompts(urls[1], pooled=True, refresh_interval=0.01, snapshot_path=False)
        for _ in range(3 * pg_bouncer.pool_size)
    ]
    try:
        assert _churn(admin, clients, flips=8) == []
        assert all(client.status().healthy for client in clients)
    finally:
        for client in clients:
            client.close()


def test_without_pooled_mode_prepared_statements_do_break(
    urls: tuple[str, str], admin: PromptStore, pg_bouncer: PgBouncer
) -> None:
    # The control: the test above would fail if prepared statements were sent.
    clients = [
        Prompts(urls[1], pooled=False, refresh_interval=0.01, snapshot_path=False)
        for _ in range(3 * pg_bouncer.pool_size)
    ]
    try:
        errors = _churn(admin, clients, flips=8)
    finally:
        for client in clients:
            client.close()
    assert any("prepared statement" in error for error in errors), errors[:3]
