"""Writer threads: take batches from the SpanQueue and hand them to the materialiser.

The write callable is the only thing that persists (the store's materialiser); these threads batch,
retry and account. A failure that looks transient (database down, connection lost, locked) is retried
with capped exponential backoff for as long as it lasts: the queue then fills and the receivers answer
"retry later", so nothing is lost silently. Any other failure is bisected until the spans that fail even
on their own are found; only those are dropped, each logged and counted. Once a batch is handled
(written, or its poison spans dropped) the journal hears which of its segments' spans are done; a batch
abandoned at shutdown is not reported, so it stays in the journal for the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import exc as sa_exc

from otel_agent.record import SpanRecord
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.sink.queue import SpanQueue
from otel_agent.sink.ratelog import RateLimitedLog
from otel_agent.store.materialiser import StoreUnavailable

WriteFn = Callable[[Sequence[SpanRecord]], object]  # may return something with .rejected (WriteResult)
DoneFn = Callable[[Mapping[int, int]], None]  # journal tickets -> spans of them now handled

_log = logging.getLogger(__name__)


_TRANSIENT: tuple[type[Exception], ...] = (
    StoreUnavailable,  # the materialiser's own word for "database unreachable or locked"
    sa_exc.OperationalError,  # server down, connection refused, SQLite "database is locked"
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # connection pool exhausted
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: Exception) -> bool:
    """Errors worth retrying as they are: the database or the connection, not the data."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _TRANSIENT)


class WriterPool:
    """N threads draining one SpanQueue into ``write`` in batches."""

    def __init__(
        self,
        queue: SpanQueue,
        write: WriteFn,
        metrics: SinkMetrics,
        *,
        threads: int = 1,
        batch_size: int = 1000,
        linger_s: float = 0.05,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        transient: Callable[[Exception], bool] = is_transient,
        on_done: DoneFn | None = None,
    ) -> None:
        self._queue, self._write_fn, self._metrics = queue, write, metrics
        self._batch_size, self._linger_s = batch_size, linger_s
        self._retry_initial_s, self._retry_max_s = retry_initial_s, retry_max_s
        self._transient = transient
        self._on_done = on_done
        self._abandon = threading.Event()  # set when shutdown gives up waiting on a failing database
        self._failing_threads: set[int] = set()  # threads whose last write failed transiently
        self._lock = threading.Lock()
        self._ratelog = RateLimitedLog(_log, 30.0)
        self._threads = [
            threading.Thread(target=self._run, name=f"otel-agent-sink-writer-{i}", daemon=True)
            for i in range(threads)
        ]
        self.lost = 0  # spans abandoned at shutdown because the database stayed unavailable

    @property
    def healthy(self) -> bool:
        """False while a write is failing and being retried."""
        return not self._failing_threads

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Close the queue, flush it, wait up to ``timeout_s``; True when everything was written."""
        self._queue.close()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            if thread.ident is not None:  # never started: nothing to wait for
                thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            self._abandon.set()  # stop retrying; what is still held is counted and logged as lost
            for thread in self._threads:
                thread.join(5.0)
        while batch := self._queue.take(self._batch_size, 0):
            self._lose(batch, "shutdown timeout reached before it could be written")
        return self.lost == 0

    def _run(self) -> None:
        with suppress_instrumentation():  # our own SQL must not be traced back into the pipeline
            while not self._queue.drained():
                batch = self._queue.take(self._batch_size, 0.1, self._linger_s)
                if not batch:
                    continue
                try:
                    handled = self._write(batch)
                except Exception as exc:  # a bug of ours: the thread must live on; the batch is counted
                    self._lose(batch, f"internal error {exc!r}")
                    handled = True  # replaying it would hit the same bug
                if handled and self._on_done is not None and batch.tickets:
                    self._on_done(batch.tickets)

    def _write(self, batch: Sequence[SpanRecord]) -> bool:
        """Write (or drop the spans that cannot be written); False when abandoned at shutdown."""
        delay = self._retry_initial_s
        while True:
            try:
                started = time.perf_counter()
                result = self._write_fn(batch)
                seconds = time.perf_counter() - started
                rejected, skipped = getattr(result, "rejected", 0), getattr(result, "skipped", 0)
                self._account(len(batch), rejected, skipped, seconds)
                self._set_failing(False)
                return True
            except Exception as exc:
                if not self._transient(exc):
                    return self._isolate(batch, exc)
                self._set_failing(True)
                self._metrics.retry()
                self._ratelog.log(logging.WARNING, "transient", "sink write failed, retrying: %r", exc)
            if self._abandon.wait(delay):
                self._lose(batch, "database unavailable until shutdown")
                return False
            delay = min(delay * 2, self._retry_max_s)

    def _account(self, size: int, rejected: object, skipped: object, seconds: float) -> None:
        # The materialiser returns WriteResult(written, rejected): records it could not store even alone;
        # the sink's writer adds the spans it skipped as belonging to no agent run.
        dropped = rejected if isinstance(rejected, int) else 0
        skipped = skipped if isinstance(skipped, int) else 0
        if dropped:
            self._ratelog.log(logging.ERROR, "rejected", "materialiser rejected %d span(s)", dropped)
            self._metrics.dropped(dropped)
        self._metrics.skipped(skipped)
        self._metrics.written(size - dropped - skipped, seconds)

    def _set_failing(self, failing: bool) -> None:
        with self._lock:
            if failing:
                self._failing_threads.add(threading.get_ident())
            else:
                self._failing_threads.discard(threading.get_ident())

    def _isolate(self, batch: Sequence[SpanRecord], exc: Exception) -> bool:
        """Bisect a batch that failed for a non-transient reason, so only bad spans are dropped."""
        if len(batch) == 1:
            span = batch[0]
            _log.error("dropping span %s/%s that cannot be written: %r", span.trace_id, span.span_id, exc)
            self._metrics.dropped(1)
            return True
        middle = len(batch) // 2
        first = self._write(batch[:middle])
        return self._write(batch[middle:]) and first

    def _lose(self, batch: Sequence[SpanRecord], why: str) -> None:
        with self._lock:
            self.lost += len(batch)
        self._metrics.dropped(len(batch))
        _log.error("sink lost %d span(s): %s", len(batch), why)
