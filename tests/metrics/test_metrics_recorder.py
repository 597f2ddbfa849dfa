"""The recorder: exact totals under concurrency, sink outages, bounds, close, timed()."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import anthropic.types
import openai.types
import pytest

from promptdeck.metrics.aggregate import AggregateRow, merge_rows
from promptdeck.metrics.recorder import Recorder

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass(frozen=True)
class Served:
    feature: str = "support"
    version: int = 2
    uid: str = "uid-2"
    model: str = "claude-sonnet"


PROMPT = Served()


class Sink:
    """Collects batches; fails while ``down`` (all or nothing, as the store is)."""

    def __init__(self) -> None:
        self.rows: list[AggregateRow] = []
        self.down = False
        self.calls = 0

    def __call__(self, rows: list[AggregateRow]) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("store unreachable")
        self.rows.extend(rows)

    def total(self) -> int:
        return sum(row.count for row in self.rows)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def metrics_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "promptdeck.metrics" and record.levelno == logging.WARNING
    ]


def test_totals_are_exact_with_threads_recording_while_flushing() -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=None)
    stop = threading.Event()

    def flush_often() -> None:
        while not stop.is_set():
            recorder.flush()

    def record_many(worker: int) -> None:
        for index in range(5_000):
            recorder.record(
                PROMPT,
                environment="production",
                tokens_in=10,
                tokens_out=worker,
                success=index % 4 != 0,
                user_id=f"{worker}-{index % 7}",
            )

    flusher = threading.Thread(target=flush_often)
    flusher.start()
    workers = [threading.Thread(target=record_many, args=(n,)) for n in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    flusher.join()
    recorder.close()
    (row,) = merge_rows(sink.rows)
    assert row.count == 20_000
    assert (row.successes, row.failures) == (15_000, 5_000)
    assert row.tokens_in.sum == 200_000
    assert row.tokens_out.sum == 5_000 * (0 + 1 + 2 + 3)
    assert sink.calls > 1  # flushes really happened during the recording
    assert recorder.status().recorded == 20_000


def test_an_outage_keeps_the_data_warns_once_and_never_counts_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="promptdeck.metrics")
    sink, clock = Sink(), Clock()
    recorder = Recorder(sink, interval=None, clock=clock)
    sink.down = True
    for _ in range(5):
        for _ in range(100):
            recorder.record(PROMPT, environment="production", latency_ms=500.0)
        assert recorder.flush() is False
        clock.now += 60
    assert recorder.status().sink_down
    assert recorder.status().pending_keys == 5
    sink.down = False
    recorder.record(PROMPT, environment="production", latency_ms=500.0)
    assert recorder.flush() is True
    assert recorder.flush() is True  # nothing left: nothing resent
    assert sink.total() == 501
    assert len(sink.rows) == 6  # one row per minute, none twice
    assert len(metrics_warnings(caplog)) == 1
    assert "cannot write metrics" in metrics_warnings(caplog)[0]
    assert any("written again" in record.getMessage() for record in caplog.records)
    status = recorder.status()
    assert (status.failed_flushes, status.sink_down, status.pending_keys) == (5, False, 0)


def test_a_long_outage_drops_the_oldest_buckets_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, clock = Sink(), Clock()
    recorder = Recorder(sink, interval=None, clock=clock, max_keys=10, max_pending_keys=20)
    sink.down = True
    for minute in range(30):
        for _ in range(minute + 1):  # minute m has m + 1 outcomes
            recorder.record(PROMPT, environment="production", success=True)
        recorder.flush()
        clock.now += 60
    sink.down = False
    recorder.flush()
    kept = sorted(row.bucket_start for row in sink.rows)
    assert len(kept) == 20
    assert kept[0] == kept[-1] - 19 * 60  # the 20 newest minutes, none older
    recorded = sum(range(1, 31))
    assert sink.total() == sum(range(11, 31))
    assert sink.total() + recorder.status().dropped_outcomes == recorded
    assert len(metrics_warnings(caplog)) == 2  # the outage, and that it dropped data


def test_record_never_raises_and_warns_once_about_bad_input(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=None)
    recorder.record(PROMPT, environment="production", tokens_in=-5)
    recorder.record(PROMPT, environment="production", scores={"grader": float("nan")})
    recorder.record(None, environment="production")  # type: ignore[arg-type]
    recorder.record(Served(version=0, uid=""), environment="production")
    recorder.record(PROMPT, environment="production", success=True)
    recorder.close()
    assert recorder.status().rejected == 4
    assert sink.total() == 1
    assert len(metrics_warnings(caplog)) == 1


def test_the_live_key_bound_drops_and_counts() -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=None, max_keys=5)
    for index in range(50):
        recorder.record(Served(feature=f"f{index}"), environment="production")
    recorder.close()
    assert sink.total() == 5
    assert recorder.status().dropped_outcomes == 45


def test_close_flushes_once_and_the_thread_flushes_every_interval() -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=0.05)
    recorder.record(PROMPT, environment="production")
    deadline = time.monotonic() + 5
    while sink.total() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.total() == 1  # the background thread flushed it
    recorder.record(PROMPT, environment="production")
    recorder.close()
    recorder.close()
    assert sink.total() == 2
    recorder.record(PROMPT, environment="production")  # after close: kept for flush()
    recorder.flush()
    assert sink.total() == 3


def test_recorders_started_together_spread_their_first_flush() -> None:
    """A fleet started at once must not write all at the same instant; and the first
    flush still comes within one interval."""
    first: list[float] = []
    lock = threading.Lock()

    def sink(rows: list[AggregateRow]) -> None:
        with lock:
            first.append(time.monotonic())

    started = time.monotonic()
    recorders = [Recorder(sink, interval=1.0) for _ in range(20)]
    for recorder in recorders:
        recorder.record(PROMPT, environment="production")
    deadline = started + 5
    while len(first) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    for recorder in recorders:
        recorder.close()
    assert len(first) >= 20
    times = sorted(first)[:20]
    assert times[-1] - started < 1.0 + 0.5  # within the interval (slack for a busy machine)
    assert times[-1] - times[0] > 0.25  # spread, not all at once (20 uniform draws)


def test_open_recorders_flush_at_interpreter_exit(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from dataclasses import dataclass
        sys.path.insert(0, sys.argv[1])
        from promptdeck.metrics.recorder import Recorder

        @dataclass(frozen=True)
        class P:
            feature: str = "f"; version: int = 1; uid: str = "u"; model: str = ""

        def sink(rows):
            print(sum(row.count for row in rows), flush=True)

        recorder = Recorder(sink, interval=3600)
        for _ in range(7):
            recorder.record(P(), environment="production")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(SRC)], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["7"]


def recorded_row(recorder: Recorder, sink: Sink) -> AggregateRow:
    recorder.flush()
    (row,) = merge_rows(sink.rows)
    return row


def test_timed_measures_latency_and_takes_usage_from_anthropic_and_openai() -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=None)
    with recorder.timed(PROMPT, environment="production", user_id=7) as call:
        time.sleep(0.02)
        call.stop()
        time.sleep(0.05)  # after stop(): not counted
        call.usage(
            anthropic.types.Message(
                id="m",
                type="message",
                role="assistant",
                model="claude-sonnet",
                content=[],
                stop_reason="end_turn",
                stop_sequence=None,
                usage=anthropic.types.Usage(
                    input_tokens=100, output_tokens=40, cache_read_input_tokens=900
                ),
            )
        )
        call.success(True)
        call.score("grader", 0.75)
    assert call.latency_ms is not None and 20 <= call.latency_ms < 60
    with recorder.timed(PROMPT, environment="production") as call:
        call.usage(
            openai.types.CompletionUsage(prompt_tokens=5, completion_tokens=6, total_tokens=11)
        )
    row = recorded_row(recorder, sink)
    assert row.count == 2
    assert (row.tokens_in.sum, row.tokens_out.sum) == (1005, 46)
    assert row.successes == 1 and row.failures == 0
    assert row.scores["grader"].sum == 0.75
    assert row.latency_ms.count == 2


def test_timed_records_a_failure_when_the_block_raises_and_lets_it_through() -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=None)
    with pytest.raises(TimeoutError), recorder.timed(PROMPT, environment="production"):
        raise TimeoutError("model call timed out")
    row = recorded_row(recorder, sink)
    assert (row.count, row.failures) == (1, 1)


def test_timed_defer_and_discard() -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=None)
    with recorder.timed(PROMPT, environment="production", defer=True) as deferred:
        pass
    with recorder.timed(PROMPT, environment="production") as dropped:
        dropped.discard()
    recorder.flush()
    assert sink.total() == 0
    deferred.success(False)
    deferred.record()
    deferred.record()  # at most once
    row = recorded_row(recorder, sink)
    assert (row.count, row.failures) == (1, 1)
    dropped.usage(object())  # an odd object never raises


def test_timed_works_with_async_with() -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=None)

    async def handler() -> None:
        async with recorder.timed(PROMPT, environment="production") as call:
            await asyncio.sleep(0.01)
            call.tokens(3, 4)

    asyncio.run(handler())
    assert recorded_row(recorder, sink).tokens_out.sum == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_empty_so_nothing_is_sent_twice() -> None:
    sink = Sink()
    recorder = Recorder(sink, interval=3600)
    for _ in range(3):
        recorder.record(PROMPT, environment="production")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what its own recorder sends, then leave at once
        try:
            recorder.record(PROMPT, environment="production")
            recorder.flush()
            os.write(write_end, str(sink.total()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_total = pipe.read()
    os.waitpid(pid, 0)
    recorder.close()
    assert child_total == "1"
    assert sink.total() == 3
