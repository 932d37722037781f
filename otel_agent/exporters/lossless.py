"""LosslessBatchSpanProcessor: the SDK's BatchSpanProcessor in front of the SQL exporter, losing nothing.

The stock BatchSpanProcessor (SDK 1.45.2, ``sdk/_shared_internal``) loses spans on the way to our tables
in two places: ``on_end`` returns early for an unsampled span (so under head sampling runs never reached
the store), and its queue is a deque with a maxlen, so when spans end faster than the exporter writes,
``emit`` silently pushes the oldest span out (measured: 100,000 runs in a row kept 69% of them).

Why this shape (STYLE.md: no second batcher): it wraps an existing BatchSpanProcessor and keeps its
queue, worker thread, batching, fork handling, flush and shutdown; it changes only the way in.

1. Every span goes in, sampled or not: ``on_end`` hands it to the batch processor's ``emit``, the call the
   stock ``on_end`` makes after its sampled check.
2. Backpressure: a span that finds the queue full wakes the worker and waits for room. The worker pops a
   whole batch before it writes, so room comes when the write in progress ends; the application slows to
   the store's pace instead of losing spans. The wait is bounded (``OTEL_AGENT_EXPORT_MAX_WAIT``, 1 s)
   and taken once per congestion: when it runs out (the database hangs), the application stops waiting.
3. Spill: while congested, spans that find the queue full are gathered (at most one batch in memory) and
   written, a batch at a time, to the exporter's on-disk spool without touching the database. The
   exporter replays the spool after its next successful writes, and all of it on flush and shutdown.
   Counted in ``otel_agent.pipeline.spans.spooled``; logged once.
4. The hard bound: a full spool (``OTEL_AGENT_SPOOL_MAX_MB``) or a disk that refuses the file drops the
   batch, counted in ``otel_agent.pipeline.spans.dropped`` (component ``spool``) and logged once per
   episode by the spool.

Rejected: a bigger queue (moves the cliff, costs memory); spilling inside the exporter (the stock queue
has already dropped by then); waiting without a bound (DESIGN.md: never block the instrumented app).
The wrapper relies on two private fields of the SDK's BatchProcessor (``_batch_processor._queue`` and
``_worker_awaken``); ``wrap_lossless`` leaves a BatchSpanProcessor it cannot read as it is, with a warning.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_agent.settings import Settings, parse_float

_log = logging.getLogger(__name__)

MAX_WAIT_VARIABLE = "OTEL_AGENT_EXPORT_MAX_WAIT"
DEFAULT_MAX_WAIT_S = 1.0
POLL_S = 0.001  # how often a waiting span looks for room (sleeping releases the GIL to the worker)


class Spiller(Protocol):
    """What the wrapped exporter offers for congestion (SqlSpanExporter.spill)."""

    def spill(self, spans: Sequence[ReadableSpan]) -> bool: ...


def max_wait_s(settings: Settings) -> float:
    return parse_float(settings.extra, MAX_WAIT_VARIABLE, DEFAULT_MAX_WAIT_S)


class LosslessBatchSpanProcessor(SpanProcessor):
    """A BatchSpanProcessor that takes unsampled spans, waits (bounded) for room and spills to disk."""

    def __init__(self, batch: BatchSpanProcessor, max_wait: float = DEFAULT_MAX_WAIT_S) -> None:
        self.batch = batch
        self.max_wait_s = max_wait
        inner = batch._batch_processor
        self._inner = inner
        self._queue = inner._queue
        self._capacity = inner._max_queue_size
        self._batch_size = inner._max_export_batch_size
        self._spiller: Spiller = batch.span_exporter  # wrap_lossless checked that it has ``spill``
        self._lock = threading.Lock()
        self._congested = False
        self._overflow: list[ReadableSpan] = []
        self.waits = 0  # congestions met (for the bench and tests)
        self.spilled = 0
        if hasattr(os, "register_at_fork"):  # as the SDK's BatchProcessor does for its own lock
            reinit = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (method := reinit()) and method())

    def _after_fork(self) -> None:
        """A child process starts with a free lock and no overflow (the SDK clears its queue too)."""
        self._lock = threading.Lock()
        self._congested, self._overflow = False, []

    @property
    def span_exporter(self) -> Any:
        return self.batch.span_exporter

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def _on_ending(self, span: Span) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:  # check-then-emit must be atomic, or two threads overfill the deque
            if len(self._queue) >= self._capacity and not self._room_after_wait():
                self._spill_one(span)
                return
            if self._congested:
                self._end_congestion()
            self._inner.emit(span)

    def _room_after_wait(self) -> bool:
        """Wait for the worker to make room, unless congested already; False if the bound ran out."""
        if self._congested:
            return False
        self.waits += 1
        deadline = time.monotonic() + self.max_wait_s
        while len(self._queue) >= self._capacity:
            if time.monotonic() >= deadline:
                self._congested = True
                _log.warning(
                    "otel-agent: the store has not taken a batch for %.1f s; spans go to the on-disk "
                    "spool until it catches up (they are replayed later)",
                    self.max_wait_s,
                )
                return False
            self._inner._worker_awaken.set()
            time.sleep(POLL_S)
        return True

    def _spill_one(self, span: ReadableSpan) -> None:
        self._overflow.append(span)
        if len(self._overflow) >= self._batch_size:
            self._spill()

    def _end_congestion(self) -> None:
        self._congested = False
        self._spill()

    def _spill(self) -> None:
        spans, self._overflow = self._overflow, []
        if spans and self._spiller.spill(spans):  # False: the spool is full; the exporter counted them
            self.spilled += len(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            self._spill()
        return self.batch.force_flush(timeout_millis)

    def shutdown(self) -> None:
        with self._lock:
            self._spill()
        self.batch.shutdown()


def wrap_lossless(processor: Any, settings: Settings) -> Any:
    """A stock BatchSpanProcessor in front of an exporter that can spill, made lossless; else as it is."""
    if type(processor) is not BatchSpanProcessor or not hasattr(processor.span_exporter, "spill"):
        return processor
    try:
        return LosslessBatchSpanProcessor(processor, max_wait_s(settings))
    except AttributeError as exc:  # the SDK's internals changed
        _log.warning("otel-agent: cannot make the SQL exporter's batch processor lossless (%s)", exc)
        return processor
