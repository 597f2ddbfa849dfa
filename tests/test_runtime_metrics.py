"""Prompts.record() and Prompts.timed(): outcomes land in the store per version served."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from promptdeck.pricing import ModelPrice, PriceTable
from promptdeck.runtime import Prompt, Prompts
from promptdeck.store import PromptStore

FEATURE = "customer-support"  # the samples give it a canary (version 6 at 10 %)


@pytest.fixture
def prompts(store_path: Path) -> Iterator[Prompts]:
    with Prompts(
        store_path, refresh_interval=None, snapshot_path=False, metrics_interval=None
    ) as client:
        yield client


def test_outcomes_are_counted_against_the_version_each_user_was_served(
    prompts: Prompts, store: PromptStore
) -> None:
    served: Counter[int] = Counter()
    for user in range(2000):
        prompt = prompts.get(FEATURE, user_id=user)
        served[prompt.version] += 1
        with prompts.timed(prompt, user_id=user) as call:
            call.usage(SimpleNamespace(usage=SimpleNamespace(input_tokens=1000, output_tokens=200)))
            call.success(user % 3 != 0)
            call.score("grader", 0.5)
    assert set(served) == {5, 6} and 100 < served[6] < 320  # about 10 % canary
    assert prompts.flush_metrics()
    rows = store.metrics.rows(FEATURE, environment="production")
    counted: Counter[int] = Counter()
    for row in rows:
        counted[row.version] += row.count
    assert counted == served
    uids = {v.number: v.uid for v in store.versions(FEATURE)}
    assert {row.version_uid for row in rows} == {uids[5], uids[6]}
    total = sum(row.count for row in rows)
    assert sum(row.successes + row.failures for row in rows) == total
    assert sum(row.latency_ms.count for row in rows) == total
    assert sum(row.scores["grader"].count for row in rows) == total


def test_the_cost_comes_from_the_price_table_when_not_given(
    store_path: Path, store: PromptStore
) -> None:
    model = store.version(FEATURE, 5).model
    table = PriceTable({model: ModelPrice(input=3.0, output=15.0)})
    with Prompts(
        store_path, refresh_interval=None, snapshot_path=False, metrics_interval=None, prices=table
    ) as prompts:
        prompt = prompts.get(FEATURE)
        prompts.record(prompt, tokens_in=1_000_000, tokens_out=100_000, success=True)
        prompts.record(prompt, tokens_in=10, tokens_out=10, cost=0.5)
    # close() flushed
    (row,) = store.metrics.rows(FEATURE)
    assert row.count == 2
    assert row.cost.count == 2
    assert row.cost.sum == pytest.approx(3.0 + 1.5 + 0.5)


def test_default_prompts_are_not_recorded(prompts: Prompts, store: PromptStore) -> None:
    prompt = prompts.get("no-such-feature", default="You are helpful.")
    assert prompt.version == 0 and prompt.uid == ""
    prompts.record(prompt, success=True)
    with prompts.timed(prompt) as call:
        call.success(True)
    assert call.latency_ms is not None  # timed all the same
    assert prompts.flush_metrics()
    assert store.metrics.rows() == []


def test_bad_input_never_raises_and_is_counted(
    prompts: Prompts, caplog: pytest.LogCaptureFixture
) -> None:
    prompt = prompts.get(FEATURE)
    with caplog.at_level(logging.WARNING, logger="promptdeck.metrics"):
        prompts.record(prompt, tokens_in=-5)
        prompts.record(prompt, scores={"grader": float("nan")})
        prompts.record(prompt, success=True)
    status = prompts.status().metrics
    assert status is not None
    assert (status.recorded, status.rejected) == (1, 2)
    assert sum("dropped" in record.getMessage() for record in caplog.records) == 1


def test_an_exception_in_the_block_is_a_failure_and_propagates(
    prompts: Prompts, store: PromptStore
) -> None:
    prompt = prompts.get(FEATURE)
    with pytest.raises(TimeoutError), prompts.timed(prompt):
        raise TimeoutError("the model did not answer")
    prompts.flush_metrics()
    (row,) = store.metrics.rows(FEATURE)
    assert (row.count, row.failures) == (1, 1)


def test_a_store_that_cannot_be_reached_keeps_the_outcomes(
    prompts: Prompts, store: PromptStore, store_path: Path, tmp_path: Path
) -> None:
    prompt = prompts.get(FEATURE)
    prompts.record(prompt, success=True)
    moved = tmp_path / "elsewhere.db"
    store_path.rename(moved)
    prompts.refresh()  # notices the file is gone: unreachable
    assert not prompts.flush_metrics()
    assert prompts.status().metrics.pending_keys == 1  # type: ignore[union-attr]
    moved.rename(store_path)
    prompts.refresh()
    prompts.record(prompt, success=False)
    assert prompts.flush_metrics()
    (row,) = store.metrics.rows(FEATURE)
    assert (row.count, row.successes, row.failures) == (2, 1, 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_records_though_the_parent_was_mid_record_and_mid_flush(
    prompts: Prompts, store: PromptStore
) -> None:
    # Other threads of the parent were creating the recorder and flushing at the fork:
    # the child inherits those locks held, and must not wait on them.
    prompt = prompts.get(FEATURE)
    read_end, write_end = os.pipe()
    with prompts._recorder_lock, prompts._lock:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child: record, flush, report, leave at once
            try:
                prompts.record(prompt, success=True)
                os.write(write_end, b"flushed" if prompts.flush_metrics() else b"refused")
            finally:
                os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + 20
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on a lock its parent held at the fork")
        time.sleep(0.01)
    with os.fdopen(read_end) as pipe:
        assert pipe.read() == "flushed"
    (row,) = store.metrics.rows(FEATURE)
    assert (row.count, row.successes) == (1, 1)


def test_snapshot_prompts_carry_their_uid(store_path: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "snap.json"
    with Prompts(store_path, refresh_interval=None, snapshot_path=snapshot) as prompts:
        served = prompts.get(FEATURE)
    store_path.unlink()
    with Prompts(store_path, refresh_interval=None, snapshot_path=snapshot) as prompts:
        from_file = prompts.get(FEATURE)
    assert isinstance(from_file, Prompt)
    assert from_file.uid == served.uid != ""
