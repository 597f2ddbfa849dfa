"""End to end: processes serve a canary and record outcomes into one PostgreSQL store;
one is killed with SIGKILL, the server goes down and comes back. The store then holds
exactly what the survivors recorded, and from the killed one what it recorded minus at
most its last flush interval: never more than was recorded.

Each worker tags its outcomes with a score named after itself, so the store tells how
many outcomes each process contributed; a shared counter, bumped *before* each
record, bounds what the worker recorded from above.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pgserver import PostgresServer

from promptdeck import yamlio
from promptdeck.store import PromptStore

pytestmark = pytest.mark.postgres

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"
FEATURE = "customer-support"
WORKERS = 4
INTERVAL = 0.4  # seconds between metric flushes
PACE = 0.0005  # seconds between outcomes: about 2,000 a second per worker at most


def _serve(url: str, index: int, counter: Any, stop: Any, snapshot: str, report: Any) -> None:
    from promptdeck.runtime import Prompts

    prompts = Prompts(url, refresh_interval=0.2, metrics_interval=INTERVAL, snapshot_path=snapshot)
    name = f"w{index}"
    n = 0
    while not stop.value:
        prompt = prompts.get(FEATURE, user_id=f"{index}-{n}")
        counter.value = n + 1  # before recording: the counter never falls behind
        prompts.record(prompt, tokens_in=100, tokens_out=10, success=n % 5 != 0, scores={name: 1.0})
        n += 1
        time.sleep(PACE)
    prompts.close()  # flushes what is left
    status = prompts.status().metrics
    assert status is not None
    # What the parent checks: the outage was lived through (flushes failed, the rows
    # were held and sent later), nothing was dropped, and the recorder counted as we did.
    report[0], report[1], report[2] = (
        status.failed_flushes,
        status.dropped_outcomes,
        status.recorded,
    )


def test_kill_and_outage_lose_at_most_the_killed_interval(
    pg_server: PostgresServer, pg_store_url: str, tmp_path: Path
) -> None:
    pg_url = pg_store_url
    with PromptStore(pg_url, user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
        revision_before = store.revision()
    context = multiprocessing.get_context("spawn")
    # A lock-free flag, not a multiprocessing Event: SIGKILL can land while the killed
    # worker holds an Event's lock, and every other worker would then wait on it forever.
    stop = context.Value("b", 0, lock=False)
    counters = [context.Value("q", 0, lock=False) for _ in range(WORKERS)]
    reports = [context.Array("q", [-1, -1, -1], lock=False) for _ in range(WORKERS)]
    processes = [
        context.Process(
            target=_serve,
            args=(
                pg_url,
                index,
                counters[index],
                stop,
                str(tmp_path / f"snap{index}.json"),
                reports[index],
            ),
        )
        for index in range(WORKERS)
    ]
    for process in processes:
        process.start()
    try:
        deadline = time.monotonic() + 60
        while min(counter.value for counter in counters) < 500:
            assert time.monotonic() < deadline, "workers did not start recording"
            time.sleep(0.05)
        time.sleep(1.5)
        processes[0].kill()  # SIGKILL: no atexit, no flush
        processes[0].join(10)
        killed_recorded = counters[0].value
        assert killed_recorded > 0
        pg_server.stop()  # the store goes down: the survivors keep recording
        time.sleep(2.0)
        pg_server.start()
        time.sleep(2.0)  # the survivors reconnect and send what they held
        stop.value = 1
        for process in processes[1:]:
            process.join(60)
            assert process.exitcode == 0
    finally:
        stop.value = 1
        for process in processes:
            if process.is_alive():
                process.kill()
        if not pg_server.is_running():
            pg_server.start()

    with PromptStore(pg_url, user="alice") as store:
        rows = store.metrics.rows(FEATURE)
        versions = {summary.uid: summary.number for summary in store.versions(FEATURE)}
        revision_after = store.revision()
    stored = Counter[str]()
    for row in rows:
        for name, moments in row.scores.items():
            stored[name] += moments.count
    for index in range(1, WORKERS):
        failed, dropped, recorded = reports[index]
        assert recorded == counters[index].value, f"worker {index} counted otherwise"
        assert failed >= 1, f"worker {index} never saw the store down: the outage was not tested"
        assert dropped == 0, f"worker {index} dropped outcomes during a short outage"
        assert stored[f"w{index}"] == counters[index].value, f"worker {index}"
    # The killed worker: never more than it recorded; at most its last interval lost
    # (its pace bounds how many outcomes an interval holds).
    lost = killed_recorded - stored["w0"]
    assert lost >= 0
    # One interval, plus the flush that was in flight when it died (the batch it was
    # sending commits whole or not at all), at the worker's fastest pace.
    assert lost <= 2 * INTERVAL / PACE
    assert stored["w0"] > 0
    total = sum(row.count for row in rows)
    assert total == sum(stored.values())
    assert {versions[row.version_uid] for row in rows} == {5, 6}  # the canary got traffic
    assert revision_after == revision_before  # metric writes never move the revision
