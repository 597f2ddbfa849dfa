"""Recording outcomes from the runtime client: ``Prompts.record()`` and ``Prompts.timed()``.

A mixin of :class:`promptdeck.runtime.Prompts`, kept apart so the client stays short.
One :class:`~promptdeck.metrics.recorder.Recorder` per ``Prompts``, created on the first
record; its sink is ``store.metrics.add`` through the client's one store connection.

``record(prompt, ...)`` and ``with timed(prompt, user_id=...) as call:`` report what
happened with an answer (tokens, latency, cost, success, named scores), against the
version actually served (``prompt.uid``). They never raise and never block: outcomes are
added up in memory (:mod:`promptdeck.metrics.recorder`) and a background thread adds one
small batch to the store every ``metrics_interval`` seconds (``store.metrics.add``: one
short transaction that does not move the store revision). The cost, when not given, is
computed from the tokens with the price table (the config file's ``[prices]``). Prompts
served from ``default=`` (version 0) are not recorded. :meth:`Prompts.close` flushes.
The runtime's database login, otherwise read-only, needs INSERT and UPDATE on the
``metric_buckets``, ``metric_latency`` and ``metric_scores`` tables.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from promptdeck.config import load_price_table
from promptdeck.errors import PromptDeckError
from promptdeck.metrics.aggregate import AggregateRow
from promptdeck.metrics.recorder import Call, Recorder
from promptdeck.pricing import PriceTable
from promptdeck.runtime_types import Prompt
from promptdeck.store import PromptStore

__all__ = ["OutcomeRecording"]

logger = logging.getLogger("promptdeck.runtime")


class OutcomeRecording:
    """What ``Prompts`` needs to record outcomes; the attributes are set by ``Prompts``."""

    environment: str
    display_url: str
    metrics_interval: float | None
    _prices: PriceTable | None
    _recorder: Recorder | None
    _recorder_lock: threading.Lock
    _lock: threading.Lock
    _write_waiting: threading.Event
    _store: PromptStore | None
    _last_error: str | None
    _full_reload: bool

    def _open_store(self) -> PromptStore:
        raise NotImplementedError  # Prompts opens its store its own way

    def record(
        self,
        prompt: Prompt,
        *,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        latency_ms: float | None = None,
        cost: float | None = None,
        success: bool | None = None,
        scores: Mapping[str, float] | None = None,
        user_id: object = None,
    ) -> None:
        """Record one outcome of ``prompt`` (as ``get()`` served it). Never raises.

        Every figure is optional: report what you know. ``cost`` (USD), when None, is
        computed from the tokens and ``prompt.model``'s price. ``scores`` are named
        numbers (a grader's score, user feedback). ``user_id`` counts distinct users.
        Bad input is dropped and counted (``status().metrics.rejected``) with one warning.
        """
        if not prompt.uid:
            return  # a default prompt: no version in the store to record against
        recorder = self._recorder or self._make_recorder()
        recorder.record(
            prompt,
            environment=self.environment,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=latency_ms,
            cost=cost,
            success=success,
            scores=scores,
            user_id=user_id,
        )

    def timed(self, prompt: Prompt, *, user_id: object = None, defer: bool = False) -> Call:
        """A context manager timing a model call and recording its outcome at the end.

        ::

            with prompts.timed(prompt, user_id=user.id) as call:
                response = client.messages.create(...)
                call.usage(response)
                call.success(is_resolved(response))

        See :mod:`promptdeck.metrics.recorder` for the rules (an exception in the block
        records a failure and propagates; ``defer=True`` records at ``call.record()``).
        """
        recorder = self._recorder or self._make_recorder()
        call = recorder.timed(prompt, environment=self.environment, user_id=user_id, defer=defer)
        if not prompt.uid:
            call.discard()  # a default prompt: timed for the caller, never recorded
        return call

    def flush_metrics(self) -> bool:
        """Write the recorded outcomes now (blocking); True when the store took them."""
        recorder = self._recorder
        return True if recorder is None else recorder.flush()

    def _make_recorder(self) -> Recorder:
        with self._recorder_lock:
            if self._recorder is None:
                prices = self._prices
                if prices is None:
                    try:
                        prices = load_price_table()
                    except (PromptDeckError, OSError) as exc:
                        logger.warning(
                            "promptdeck: the config file's prices cannot be read (%s); "
                            "costing outcomes with the default prices",
                            exc,
                        )
                        prices = PriceTable.default()
                self._recorder = Recorder(
                    self._write_metrics, interval=self.metrics_interval, cost_of=prices.cost
                )
            return self._recorder

    def _write_metrics(self, rows: list[AggregateRow]) -> None:
        """The recorder's sink (its flush thread): one batch, one transaction, or raise."""
        self._write_waiting.set()  # the refresh's NOTIFY wait gives the connection up
        with self._lock:  # the store's one connection is shared with the refresh
            self._write_waiting.clear()
            store = self._store
            if store is None:
                # Down at the last refresh: try now (close() flushes through here too).
                store = self._store = self._open_store()
                self._full_reload = True  # the next refresh reads everything again
            store.metrics.add(rows)
