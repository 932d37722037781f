"""SqlSpanExporter: finished spans -> run / step / failure rows, through the shared materialiser.

``OTEL_TRACES_EXPORTER=otlp,otel_agent_sql`` builds it with no arguments (entry point ``otel_agent_sql``
in ``opentelemetry_traces_exporter``); it reads OTEL_AGENT_DATABASE_URL (default: a SQLite file),
OTEL_AGENT_SPOOL_* and OTEL_AGENT_STALL_AFTER. The stock BatchSpanProcessor in front of it does the
batching; this class only writes. ``otel_agent.instrument()`` wraps that BatchSpanProcessor in
``LosslessBatchSpanProcessor`` (exporters/lossless.py), which lets unsampled spans in, applies bounded
backpressure and, while the store is congested, calls ``spill`` to put batches straight into the spool.

Contract: ``export`` never raises and never waits on a dead database for long. When the database is
down (or slower than its timeouts), the batch goes to the on-disk spool and the exporter skips the
database for a back-off period (so each later batch costs a file write, not a connect timeout); after a
successful write the spool is replayed a few batches at a time. Shutdown and force_flush replay it all
if they can. The schema is created/upgraded on first write. Our own SQL is never traced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_agent.guard import record_failure
from otel_agent.metrics.pipeline import record_dropped, record_spooled
from otel_agent.pricing import PriceBook
from otel_agent.record import SpanRecord
from otel_agent.record_enrich import RecordEnricher
from otel_agent.record_sdk import record_from_span
from otel_agent.settings import Settings
from otel_agent.spool import Spool
from otel_agent.store.call_rollup import BackgroundRefresh
from otel_agent.store.content import ContentPolicy
from otel_agent.store.engine import make_engine
from otel_agent.store.materialiser import Materialiser, StoreUnavailable

_log = logging.getLogger(__name__)

COMPONENT = "sql_exporter"
REPLAY_BATCHES_PER_EXPORT = 4  # bounded, so one export call never turns into a long replay
SWEEP_INTERVAL_S = 60.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 60.0
STATEMENT_TIMEOUT_S = 15.0  # PostgreSQL: a database this slow is treated as down (the batch is spooled)


class _Backoff:
    """After a failure, skip the database for a while (doubling up to a cap); reset on success."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.until = 0.0

    def open(self) -> bool:
        return time.monotonic() < self.until

    def failed(self) -> None:
        self.delay_s = min(BACKOFF_MAX_S, max(BACKOFF_MIN_S, self.delay_s * 2))
        self.until = time.monotonic() + self.delay_s

    def succeeded(self) -> None:
        self.delay_s, self.until = 0.0, 0.0


def _materialiser(url: str | None, settings: Settings, statement_timeout_s: float) -> Materialiser | None:
    """None (and an error naming the variable) when the URL cannot be used: the exporter then spools."""
    try:
        engine = make_engine(url, statement_timeout_s=statement_timeout_s)
        enricher = RecordEnricher(PriceBook(settings.price_file))
        return Materialiser(engine, ContentPolicy.from_settings(settings), enricher=enricher)
    except Exception as exc:
        _log.error("otel-agent: OTEL_AGENT_DATABASE_URL %r is unusable (%s); spans go to the spool", url, exc)
        return None


class SqlSpanExporter(SpanExporter):
    """Writes spans to the otel-agent store (see the module docstring)."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        spool_dir: str | Path | None = None,
        settings: Settings | None = None,
        statement_timeout_s: float = STATEMENT_TIMEOUT_S,
    ) -> None:
        settings = settings or Settings.from_env()
        self.materialiser = _materialiser(
            database_url or settings.database_url, settings, statement_timeout_s
        )
        self.spool = Spool(spool_dir or settings.spool_dir, int(settings.spool_max_mb * 1024 * 1024))
        self.stall_after_s = settings.stall_after_s
        self.written = 0
        self.rejected = 0
        self._backoff = _Backoff()
        self._lock = threading.RLock()
        self._last_sweep = 0.0
        self._rollup = BackgroundRefresh(self.materialiser.engine) if self.materialiser else None
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Store the batch, or spool it; never raises."""
        try:
            with suppress_instrumentation(), self._lock:
                if self._closed:
                    return SpanExportResult.FAILURE
                return self._export(self._records(spans))
        except Exception as exc:
            record_failure(COMPONENT, exc)
            record_dropped(COMPONENT, len(spans))
            return SpanExportResult.FAILURE

    def spill(self, spans: Sequence[ReadableSpan]) -> bool:
        """Put a batch straight into the spool, not trying the database (LosslessBatchSpanProcessor calls
        this from the application's thread while the store is congested); never raises. False when the
        spool refused it (counted as dropped). Takes no exporter lock: a hung write must not hold it up."""
        try:
            with suppress_instrumentation():
                return self._to_spool(self._records(spans)) is SpanExportResult.SUCCESS
        except Exception as exc:
            record_failure(COMPONENT + ".spill", exc)
            record_dropped(COMPONENT, len(spans))
            return False

    def _records(self, spans: Sequence[ReadableSpan]) -> list[SpanRecord]:
        records = []
        for span in spans:
            try:
                records.append(record_from_span(span))
            except Exception as exc:
                self._rejected(1, exc)
        return records

    def _export(self, records: list[SpanRecord]) -> SpanExportResult:
        if self._backoff.open() or not self._write(records):
            return self._to_spool(records)
        self._replay(REPLAY_BATCHES_PER_EXPORT)
        self._maybe_sweep()
        return SpanExportResult.SUCCESS

    def _write(self, records: list[SpanRecord]) -> bool:
        """True when the database took the batch (bad records are rejected and counted on their own)."""
        if self.materialiser is None:
            return False  # unusable URL (logged at start): keep everything in the spool
        try:
            result = self.materialiser.write(records)
        except StoreUnavailable as exc:
            self._backoff.failed()
            record_failure(COMPONENT + ".database", exc)
            return False
        self._backoff.succeeded()
        self.written += result.written
        if result.rejected:
            self._rejected(result.rejected, None)
        return True

    def _rejected(self, count: int, exc: Exception | None) -> None:
        self.rejected += count
        record_dropped(COMPONENT, count)
        if exc is not None:
            record_failure(COMPONENT + ".record", exc)

    def _to_spool(self, records: list[SpanRecord]) -> SpanExportResult:
        if self.spool.put(records):
            record_spooled(COMPONENT, len(records))
            return SpanExportResult.SUCCESS
        record_dropped("spool", len(records))
        return SpanExportResult.FAILURE

    def _replay(self, max_batches: int | None) -> int:
        """Write spooled batches back, oldest first, until the database fails again; return how many."""
        replayed = 0
        for claimed, records in self.spool.claim():
            if max_batches is not None and replayed >= max_batches:
                self.spool.release(claimed)
                break
            try:
                stored = self._write(records)
            except Exception:
                self.spool.release(claimed)
                raise
            if not stored:
                self.spool.release(claimed)
                break
            self.spool.done(claimed)
            replayed += 1
        return replayed

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if self.materialiser is not None and now - self._last_sweep >= SWEEP_INTERVAL_S:
            self._last_sweep = now
            try:  # the batch is stored already: a failed sweep must not count it as lost
                self.materialiser.sweep(self.stall_after_s, rollup=False)
            except Exception as exc:
                record_failure(COMPONENT + ".sweep", exc)
            if self._rollup is not None:  # rebuilding roll-up periods can take seconds: not on this thread
                self._rollup.start()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Replay the whole spool if the database is reachable (the BSP has already exported its queue)."""
        try:
            with suppress_instrumentation(), self._lock:
                self._backoff.succeeded()  # a flush is an explicit request: try the database now
                self._replay(None)
                return self.spool.pending() == 0
        except Exception as exc:
            record_failure(COMPONENT, exc)
            return False

    def shutdown(self) -> None:
        """Flush what can be flushed; what cannot stays in the spool for the next process."""
        self.force_flush()
        with self._lock:
            self._closed = True
            if self.materialiser is not None:
                self.materialiser.engine.dispose()
