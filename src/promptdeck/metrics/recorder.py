"""The recorder behind ``record()``: aggregates in memory, flushes in the background.

An application reports each use of a served prompt; a :class:`Recorder` adds it to an
in-memory :class:`~promptdeck.metrics.aggregate.Aggregate` (a few microseconds, one
short lock, no I/O) and a daemon thread hands one batch of
:class:`~promptdeck.metrics.aggregate.AggregateRow` to ``sink`` every ``interval``
seconds. The sink (the store) adds the batch in one transaction; it must take all of
it or raise, never half.

Timing a model call::

    import anthropic
    from promptdeck import Prompts

    prompts = Prompts("postgresql+psycopg://app@db/prompts")
    client = anthropic.Anthropic()

    prompt = prompts.get("customer-support", user_id=user.id)
    with prompts.timed(prompt, user_id=user.id) as call:   # Recorder.timed underneath
        response = client.messages.create(
            model=prompt.model,
            system=prompt.render(customer_name=user.name),
            messages=[{"role": "user", "content": question}],
            **prompt.parameters_dict(),
        )
        call.stop()                            # latency: the model call only
        call.usage(response)                   # tokens in and out from response.usage
        answer = response.content[0].text
        call.success(not needs_human(answer))  # the application's own definition
        call.score("grader", grade(answer))    # any named number
    # recorded here, against the version served (prompt.uid), with its latency

The latency is the time from entering the ``with`` block to :meth:`Call.stop` (or to
the end of the block). The outcome is recorded when the block ends.

Rules, so that the numbers mean something:

- Inside the block, set what you know: ``call.usage(response)`` (Anthropic's
  ``input_tokens``/``output_tokens``, cache tokens included in tokens in; OpenAI's
  ``prompt_tokens``/``completion_tokens``), or ``call.tokens(tokens_in, tokens_out)``,
  ``call.success(True)``, ``call.score(name, value)``, ``call.cost(amount)``.
- If the block raises and no success was set, the outcome is recorded as a failure
  and the exception propagates unchanged.
- With ``defer=True`` the outcome is not recorded at the end of the block but when you
  call ``call.record()`` (e.g. after parsing the answer); the latency is still the
  block's.
- ``call.discard()`` drops the outcome (e.g. a cancelled request).

Never in the way
----------------
- ``record()``/``timed()`` never raise into the application: bad input (a negative
  token count, a NaN score...) is counted in :attr:`RecorderStatus.rejected` and
  dropped, with one warning on the ``promptdeck.metrics`` logger for the life of the
  recorder.
- Memory is bounded: ``max_keys`` live keys (feature, environment, version, minute) and
  ``max_scores`` score names per key; what does not fit is dropped and counted. A key
  takes about 4 KB once its latency histogram has spread over ~60 buckets, so the
  defaults (5,000 live keys, 20,000 held during an outage) stay under ~100 MB at worst;
  a process serving 20 versions holds 20 keys a minute, i.e. 16 hours of outage.
- When the sink raises (store down), the rows are kept and merged into the next flush,
  up to ``max_pending_keys`` keys; beyond that the oldest buckets are dropped and
  counted. One warning per outage, one INFO line when the sink works again. A batch the
  sink rejected is resent whole, so nothing is counted twice as long as the sink is
  all-or-nothing.
- The first background flush comes at a random point of the first interval, then one
  every interval: a fleet started at once spreads its writes instead of adding to the
  same rows all at the same instant.
- :meth:`Recorder.flush` sends now; :meth:`Recorder.close` stops the thread and
  flushes. Recorders still open flush at interpreter exit. A process killed outright
  loses at most the last ``interval`` (and what it held while the store was down).
  After ``os.fork()`` the child starts empty (the parent flushes what it had) with its
  own flush thread.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from promptdeck.metrics.aggregate import (
    DEFAULT_BUCKET_SECONDS,
    DEFAULT_MAX_SCORES,
    Aggregate,
    AggregateRow,
    CostOf,
)
from promptdeck.metrics.outcome import Outcome, check_measures

log = logging.getLogger("promptdeck.metrics")

Sink = Callable[[list[AggregateRow]], None]
"""Takes a batch of rows, all or nothing (one transaction), or raises."""

DEFAULT_INTERVAL = 10.0
DEFAULT_MAX_PENDING_KEYS = 20_000
DEFAULT_MAX_LIVE_KEYS = 5_000


class Served(Protocol):
    """What the recorder needs of a served prompt (``promptdeck.runtime.Prompt``)."""

    @property
    def feature(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def uid(self) -> str: ...

    @property
    def model(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """Counters since the recorder started (a health line for logs or a status page)."""

    recorded: int  # outcomes accepted
    rejected: int  # bad input, dropped
    dropped_outcomes: int  # over max_keys, or oldest buckets over max_pending_keys
    dropped_scores: int  # score values over max_scores
    cost_errors: int  # cost_of raised or returned a bad number; kept without a cost
    pending_keys: int  # rows held back since the sink last failed
    flushes: int  # batches the sink took
    failed_flushes: int
    sink_down: bool
    last_error: str | None


class Recorder:
    """Thread-safe, non-blocking outcome recorder with a background flush to ``sink``.

    ``interval``: seconds between flushes (None: no thread, call :meth:`flush`).
    ``clock``: seconds since the epoch, for the time buckets (tests pass a fake).
    """

    def __init__(
        self,
        sink: Sink,
        *,
        interval: float | None = DEFAULT_INTERVAL,
        bucket_seconds: int = DEFAULT_BUCKET_SECONDS,
        max_keys: int = DEFAULT_MAX_LIVE_KEYS,
        max_pending_keys: int = DEFAULT_MAX_PENDING_KEYS,
        max_scores: int = DEFAULT_MAX_SCORES,
        cost_of: CostOf | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval is not None and not interval > 0:
            raise ValueError(f"interval must be positive or None, not {interval}")
        if max_pending_keys < max_keys:
            raise ValueError("max_pending_keys must be at least max_keys")
        self._sink = sink
        self.interval = interval
        self._clock = clock
        self.bucket_seconds = bucket_seconds
        self.max_keys = max_keys
        self.max_scores = max_scores
        self.cost_of = cost_of
        self.max_pending_keys = max_pending_keys
        self._lock = threading.Lock()  # guards _live and the counters record() bumps
        self._flush_lock = threading.Lock()  # one flush at a time; guards _pending
        self._live = self._aggregate()
        self._pending = self._aggregate(pending=True)
        self._recorded = self._rejected = 0
        self._dropped_outcomes = self._dropped_scores = self._cost_errors = 0
        self._flushes = self._failed_flushes = 0
        self._warned_input = self._warned_drop = self._sink_down = False
        self._last_error: str | None = None
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        _recorders.add(self)
        self._start_thread()

    def _aggregate(self, *, pending: bool = False) -> Aggregate:
        return Aggregate(
            bucket_seconds=self.bucket_seconds,
            # Pending never refuses a key: _drop_oldest_pending bounds it by age instead.
            max_keys=self.max_pending_keys + self.max_keys if pending else self.max_keys,
            max_scores=self.max_scores,
            cost_of=self.cost_of,
        )

    # -- recording (the request path) -------------------------------------------------------

    def add(self, outcome: Outcome) -> None:
        """Count one outcome. Never raises; a few microseconds."""
        try:
            now = self._clock()
            with self._lock:
                if self._live.add(outcome, now):
                    self._recorded += 1
                elif not self._warned_drop:
                    self._warn_drop("more than %d keys in one interval", self._live.max_keys)
        except Exception as exc:
            self._reject(exc)

    def record(
        self,
        prompt: Served,
        *,
        environment: str,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        latency_ms: float | None = None,
        cost: float | None = None,
        success: bool | None = None,
        scores: Mapping[str, float] | None = None,
        user_id: object = None,
        at: float | None = None,
    ) -> None:
        """Count one outcome of ``prompt`` (the version served). Never raises."""
        try:
            user = None if user_id is None else str(user_id)
            check_measures(tokens_in, tokens_out, latency_ms, cost, success, scores, at)
            when = self._clock() if at is None else at
            with self._lock:
                added = self._live.add_values(
                    prompt.feature,
                    environment,
                    prompt.version,
                    prompt.uid,
                    prompt.model,
                    tokens_in,
                    tokens_out,
                    latency_ms,
                    cost,
                    success,
                    scores,
                    user,
                    when,
                )
                if added:
                    self._recorded += 1
                elif not self._warned_drop:
                    self._warn_drop("more than %d keys in one interval", self._live.max_keys)
        except Exception as exc:
            self._reject(exc)

    def timed(
        self, prompt: Served, *, environment: str, user_id: object = None, defer: bool = False
    ) -> Call:
        """A :class:`Call` timing a ``with`` block and recording its outcome at the end."""
        return Call(self, prompt, environment, user_id, defer)

    def _reject(self, exc: BaseException) -> None:
        with self._lock:
            self._rejected += 1
            first = not self._warned_input
            self._warned_input = True
        if first:
            log.warning(
                "promptdeck: an outcome was dropped (%s); later bad outcomes are dropped "
                "silently and counted in Recorder.status().rejected",
                exc,
            )

    def _warn_drop(self, why: str, *args: object) -> None:
        self._warned_drop = True
        log.warning("promptdeck: metrics dropped: " + why + "; counted in status()", *args)

    # -- flushing ---------------------------------------------------------------------------

    def flush(self) -> bool:
        """Send what is held to the sink now; True when the sink took it (or nothing)."""
        with self._flush_lock:
            with self._lock:
                live, self._live = self._live, self._aggregate()
            self._dropped_outcomes += live.dropped_outcomes
            self._dropped_scores += live.dropped_scores
            self._cost_errors += live.cost_errors
            rows = live.rows()
            if len(self._pending):  # after a failure: resend the held rows with the new
                for row in rows:
                    self._pending.add_row(row)
                self._drop_oldest_pending()
                rows = self._pending.rows()
            if not rows:
                return True
            try:
                self._sink(rows)
            except Exception as exc:
                if not len(self._pending):
                    for row in rows:
                        self._pending.add_row(row)
                self._failed_flushes += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                if not self._sink_down:
                    self._sink_down = True
                    log.warning(
                        "promptdeck: cannot write metrics (%s); keeping them in memory "
                        "(up to %d keys) and retrying every flush",
                        self._last_error,
                        self.max_pending_keys,
                    )
                return False
            self._pending = self._aggregate(pending=True)
            self._flushes += 1
            if self._sink_down:
                self._sink_down = False
                self._warned_drop = False
                log.info("promptdeck: metrics are written again")
            return True

    def _drop_oldest_pending(self) -> None:
        dropped = self._pending.drop_oldest(self.max_pending_keys)
        if dropped:
            self._dropped_outcomes += dropped
            if not self._warned_drop:
                self._warn_drop(
                    "the sink is down and more than %d keys are held", self.max_pending_keys
                )

    def status(self) -> RecorderStatus:
        with self._lock:
            recorded, rejected = self._recorded, self._rejected
            live_dropped = self._live.dropped_outcomes
            live_scores = self._live.dropped_scores
            live_costs = self._live.cost_errors
        return RecorderStatus(
            recorded=recorded,
            rejected=rejected,
            dropped_outcomes=self._dropped_outcomes + live_dropped,
            dropped_scores=self._dropped_scores + live_scores,
            cost_errors=self._cost_errors + live_costs,
            pending_keys=len(self._pending),
            flushes=self._flushes,
            failed_flushes=self._failed_flushes,
            sink_down=self._sink_down,
            last_error=self._last_error,
        )

    def _start_thread(self) -> None:
        if self.interval is None or self._closed:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_flush_loop,
            args=(weakref.ref(self), self._stop, self.interval),
            name="promptdeck-metrics",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the flush thread and flush what is left (once; later calls do nothing).

        Outcomes recorded after ``close()`` are still counted, and sent by :meth:`flush`.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()
        _recorders.discard(self)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _after_fork_in_child(self) -> None:
        # The parent flushes what it held; the child must not send it a second time.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._live = self._aggregate()
        self._pending = self._aggregate(pending=True)
        self._thread = None
        self._start_thread()


def _flush_loop(ref: weakref.ref[Recorder], stop: threading.Event, interval: float) -> None:
    # The first flush comes at a random point of the first interval, then one every
    # interval: processes started together (a deploy) do not all write at the same
    # instant to the same rows, and no outcome waits longer than one interval.
    wait = random.uniform(0.0, interval)
    while not stop.wait(wait):
        wait = interval
        recorder = ref()
        if recorder is None:
            return
        try:
            recorder.flush()
        except Exception:  # the flush thread must outlive any bug
            log.exception("promptdeck: metrics flush failed")
        del recorder


_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for recorder in list(_recorders):
        try:
            recorder.close()
        except Exception:
            log.exception("promptdeck: metrics flush at exit failed")


def _reinit_after_fork() -> None:
    for recorder in list(_recorders):
        if not recorder._closed:
            recorder._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


class Call:
    """One timed use of a served prompt; see the module docstring for the rules."""

    __slots__ = (
        "_cost",
        "_defer",
        "_environment",
        "_latency_ms",
        "_prompt",
        "_recorder",
        "_scores",
        "_start",
        "_success",
        "_tokens",
        "_user_id",
        "done",
    )

    def __init__(
        self, recorder: Recorder, prompt: Served, environment: str, user_id: object, defer: bool
    ) -> None:
        self._recorder = recorder
        self._prompt = prompt
        self._environment = environment
        self._user_id = user_id
        self._defer = defer
        self._start = time.perf_counter()
        self._latency_ms: float | None = None
        self._tokens: tuple[int | None, int | None] = (None, None)
        self._cost: float | None = None
        self._success: bool | None = None
        self._scores: dict[str, float] = {}
        self.done = False  # recorded or discarded

    @property
    def latency_ms(self) -> float | None:
        """The measured latency, once the block ended or :meth:`stop` was called."""
        return self._latency_ms

    def stop(self) -> None:
        """End the timing now (e.g. before parsing the answer); later calls do nothing."""
        if self._latency_ms is None:
            self._latency_ms = (time.perf_counter() - self._start) * 1000.0

    def tokens(self, tokens_in: int | None, tokens_out: int | None) -> None:
        self._tokens = (tokens_in, tokens_out)

    def usage(self, response_or_usage: Any) -> None:
        """Tokens from an Anthropic or OpenAI response (or its ``usage``); never raises."""
        try:
            self._tokens = _usage_tokens(response_or_usage)
        except Exception:  # an odd object: record without tokens rather than fail
            self._tokens = (None, None)

    def cost(self, amount: float | None) -> None:
        self._cost = amount

    def success(self, ok: bool = True) -> None:
        self._success = ok

    def failure(self) -> None:
        self._success = False

    def score(self, name: str, value: float) -> None:
        self._scores[name] = value

    def discard(self) -> None:
        """Record nothing for this call."""
        self.done = True

    def record(self) -> None:
        """Record the outcome now (at most once; the timing stops here if still running)."""
        if self.done:
            return
        self.done = True
        self.stop()
        self._recorder.record(
            self._prompt,
            environment=self._environment,
            tokens_in=self._tokens[0],
            tokens_out=self._tokens[1],
            latency_ms=self._latency_ms,
            cost=self._cost,
            success=self._success,
            scores=self._scores,
            user_id=self._user_id,
        )

    def __enter__(self) -> Call:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is not None and self._success is None:
            self._success = False
        if not self._defer or exc_type is not None:
            self.record()

    async def __aenter__(self) -> Call:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


class _MappingUsage:
    """Attribute access on a usage dict (``response["usage"]`` from raw JSON)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return self._data.get(name)


def _usage_tokens(response_or_usage: Any) -> tuple[int | None, int | None]:
    usage = getattr(response_or_usage, "usage", None) or response_or_usage
    if isinstance(usage, Mapping):
        usage = _MappingUsage(usage)
    tokens_in = getattr(usage, "input_tokens", None)
    tokens_out = getattr(usage, "output_tokens", None)
    if tokens_in is None and tokens_out is None:  # OpenAI chat completions
        tokens_in = getattr(usage, "prompt_tokens", None)
        tokens_out = getattr(usage, "completion_tokens", None)
    if isinstance(tokens_in, int):  # Anthropic prompt caching counts apart
        for extra in ("cache_creation_input_tokens", "cache_read_input_tokens"):
            value = getattr(usage, extra, None)
            if isinstance(value, int):
                tokens_in += value
    return tokens_in, tokens_out
